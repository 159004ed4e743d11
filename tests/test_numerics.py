"""The one line `infogan-tk train` prints about precision, layout and optimiser kernels."""

from __future__ import annotations

import attrs
import torch

from infogan_toolkit.config import Config
from infogan_toolkit.engine.devices import bf16_slowdown, describe_numerics


def _with_train(**changes) -> Config:
    config = Config()
    return attrs.evolve(config, train=attrs.evolve(config.train, **changes))


def test_bf16_slowdown_is_a_measured_positive_ratio():
    slowdown = bf16_slowdown(torch.device("cpu"), size=64, repeats=3)
    assert 0 < slowdown < float("inf")


def test_default_is_fp32_and_says_why_bf16_is_off():
    line, warning = describe_numerics(Config(), torch.device("cpu"), slowdown=0.5)
    assert line.startswith("numerics on cpu (") and "fp32 (bf16 is opt-in" in line and "0.5x" in line
    assert warning is None


def test_bf16_where_it_is_emulated_warns_with_the_measured_ratio():
    line, warning = describe_numerics(_with_train(bf16=True), torch.device("cpu"), slowdown=115.0)
    assert "bf16 autocast" in line
    assert warning is not None and "no native bf16" in warning and "115.0x" in warning and "train.bf16=false" in warning


def test_bf16_where_it_is_native_does_not_warn():
    _, warning = describe_numerics(_with_train(bf16=True, channels_last=True), torch.device("cpu"), slowdown=0.5)
    assert warning is None
