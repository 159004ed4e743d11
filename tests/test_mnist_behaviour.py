"""The behaviour that makes InfoGAN InfoGAN: on real MNIST with the paper's network, L_I of the
10-way code approaches H(c) = ln 10 within a few hundred steps, and the regular-GAN baseline
(same nets and Q head, no information term for G) does not. Fails if the information term is
detached, misses G, or scores the wrong slice of Q's output."""

from __future__ import annotations

import math

import pytest

from infogan_toolkit import build_config
from infogan_toolkit.engine.trainer import Trainer

STEPS = 300


def _train(host, root, tmp_path, regular_gan: bool) -> dict[str, float]:
    flags = {
        "data": {"root": str(root)},
        "train": {
            "steps": STEPS,
            "batch_size": 128,
            "device": "cpu",
            "log_every": 50,
            "checkpoint_every": STEPS,
            "figures": False,
            "callbacks": [],
            "seed": 0,
        },
        # The invariance term off: it also trains G on c1, and could hide a broken information term.
        "loss": {"regular_gan": regular_gan, "invariance": {"weight": 0.0}},
    }
    cfg = build_config(host, "mnist", flags)
    result = Trainer(cfg, tmp_path / ("gan" if regular_gan else "infogan"), host=host, progress=False).run()
    assert result.step == STEPS
    return result.metrics


@pytest.mark.slow
def test_information_term_drives_l_i_to_the_entropy_and_the_baseline_stays_low(host, mnist_root, tmp_path):
    info = _train(host, mnist_root, tmp_path, regular_gan=False)
    gan = _train(host, mnist_root, tmp_path, regular_gan=True)
    assert info["entropy_c1"] == pytest.approx(math.log(10))
    assert info["li_c1"] > 2.0, info
    assert gan["li_c1"] < 1.0, gan
    assert info["li_c1"] - gan["li_c1"] > 1.0
