"""The one line `infogan-tk train` prints about precision, layout and optimiser kernels."""

from __future__ import annotations

import attrs
import pytest
import torch

from infogan_toolkit import build_config
from infogan_toolkit.config import Config
from infogan_toolkit.engine.devices import (
    NATIVE_BF16_CAPABILITIES,
    NATIVE_BF16_CPU_FLAGS,
    ONEDNN_LINEAR_AUTO_MIN_WEIGHTS,
    Numerics,
    adam_kernel,
    cpu_declares_native_bf16,
    cpu_flags,
    describe_numerics,
    native_bf16,
    onednn_linear_min_weights,
    uses_bf16,
    uses_channels_last,
)
from infogan_toolkit.engine.linear_kernels import onednn_linear_available
from infogan_toolkit.errors import ConfigError


def _with_train(**changes) -> Config:
    config = Config()
    return attrs.evolve(config, train=attrs.evolve(config.train, **changes))


def test_cpu_flags_are_read_from_a_cpuinfo_file(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    assert {"avx512f", "avx512_bf16"} <= cpu_flags(cpuinfo)
    assert cpu_flags(tmp_path / "missing") == frozenset()
    # This machine: the declaration is what its flags say, read once.
    capable = torch.backends.cpu.get_cpu_capability() in NATIVE_BF16_CAPABILITIES
    assert cpu_declares_native_bf16() == (capable and bool(cpu_flags() & set(NATIVE_BF16_CPU_FLAGS)))
    assert native_bf16(torch.device("cpu")) is cpu_declares_native_bf16()


def test_default_is_fp32_and_says_why_bf16_is_off():
    line, warning = describe_numerics(Config(), torch.device("cpu"), native=True)
    assert (
        line.startswith("numerics on cpu (") and "fp32 (bf16 is opt-in" in line and "native bf16 declared here" in line
    )
    assert warning is None


def test_bf16_where_it_is_not_native_warns():
    line, warning = describe_numerics(_with_train(bf16=True), torch.device("cpu"), native=False)
    assert "bf16 autocast" in line
    assert (
        warning is not None
        and "no native bf16" in warning
        and "not declared" in warning
        and "train.bf16=false" in warning
    )


def test_bf16_where_it_is_native_does_not_warn():
    _, warning = describe_numerics(_with_train(bf16=True, channels_last=True), torch.device("cpu"), native=True)
    assert warning is None


def test_layout_and_adam_are_chosen_per_device_and_said():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    config = Config()
    assert uses_channels_last(config.train, cpu) and not uses_channels_last(config.train, cuda)
    assert adam_kernel(config.optim, cpu) == "fused" and adam_kernel(config.optim, cuda) == "foreach"
    line, _ = describe_numerics(config, cpu, native=True)
    assert "channels_last layout; Adam fused; linear layers " in line
    assert "(train.channels_last, optim.implementation and train.linear_kernel chosen for cpu" in line


def test_a_set_layout_or_kernel_overrides_the_choice():
    config = _with_train(channels_last=False, linear_kernel="torch")
    config = attrs.evolve(config, optim=attrs.evolve(config.optim, implementation="foreach"))
    assert not uses_channels_last(config.train, torch.device("cpu"))
    assert adam_kernel(config.optim, torch.device("cpu")) == "foreach"
    line, _ = describe_numerics(config, torch.device("cpu"), native=True)
    assert line.endswith(
        "contiguous layout; Adam foreach; linear layers torch"
    )  # nothing was chosen, so no reason is given
    assert uses_channels_last(_with_train(channels_last=True).train, torch.device("cuda"))


def test_channels_last_takes_true_false_or_auto_only(host):
    for good in ("true", "false", '"auto"', "auto"):
        build_config(host, "mnist", sets=[f"train.channels_last={good}"])
    with pytest.raises(ConfigError, match=r"train.channels_last must be true, false or \"auto\", got 'yes'"):
        build_config(host, "mnist", sets=["train.channels_last=yes"])


def test_auto_bf16_follows_the_declared_capability_on_a_cpu_only():
    auto = _with_train(bf16="auto")
    cpu = torch.device("cpu")
    assert uses_bf16(auto.train, cpu, native=True)
    assert not uses_bf16(auto.train, cpu, native=False)
    assert uses_bf16(auto.train, cpu) is cpu_declares_native_bf16()
    # No accuracy evidence for bf16 on a GPU yet: "auto" keeps fp32 there, native or not.
    assert not uses_bf16(auto.train, torch.device("cuda"))
    # A set value is what it says, whatever the machine.
    assert uses_bf16(_with_train(bf16=True).train, cpu, native=False)
    assert not uses_bf16(Config().train, cpu, native=True)


def test_auto_bf16_says_what_it_picked_and_why_and_never_warns():
    auto = _with_train(bf16="auto")
    line, warning = describe_numerics(auto, torch.device("cpu"), native=True)
    assert (
        'bf16 autocast (train.bf16="auto" picks bf16 on a CPU that declares native bf16; native bf16 declared here)'
        in line
    )
    assert warning is None
    line, warning = describe_numerics(auto, torch.device("cpu"), native=False)
    assert 'fp32 (train.bf16="auto"' in line and "not declared here" in line and warning is None
    line, _ = describe_numerics(auto, torch.device("cuda"), native=False)
    assert 'fp32 (train.bf16="auto" picks bf16 only on a CPU' in line


def test_the_run_and_its_line_read_one_declaration(host):
    cpu = torch.device("cpu")
    config = build_config(host, "mnist", sets=["train.bf16=auto"])
    numerics = Numerics.choose(config, cpu)
    assert numerics.bf16 is cpu_declares_native_bf16()
    line, _ = describe_numerics(config, cpu)
    assert line.split(": ", 1)[1].startswith("bf16 autocast" if numerics.bf16 else "fp32")


def test_bf16_takes_true_false_or_auto_only(host):
    assert build_config(host, "mnist", sets=["train.bf16=auto"]).train.bf16 == "auto"
    with pytest.raises(ConfigError, match=r"train.bf16 must be true, false or \"auto\", got 'fast'"):
        build_config(host, "mnist", sets=["train.bf16=fast"])


@pytest.mark.skipif(not onednn_linear_available(), reason="this torch has no oneDNN")
def test_large_linear_layers_run_in_onednn_on_an_avx512_cpu_in_fp32_only():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    auto, large = Config().train, ONEDNN_LINEAR_AUTO_MIN_WEIGHTS
    # Chosen by the CPU's capability: faster with AVX-512, no faster with AVX2 alone.
    assert onednn_linear_min_weights(auto, cpu, capability="AVX512") == large
    assert onednn_linear_min_weights(auto, cpu, capability="AVX2") is None
    assert onednn_linear_min_weights(auto, cuda) is None
    # bf16 autocast already runs linear layers in oneDNN; torch.compile takes the layers itself.
    assert onednn_linear_min_weights(auto, cpu, bf16=True, capability="AVX512") is None
    assert onednn_linear_min_weights(_with_train(compile=True).train, cpu, capability="AVX512") is None
    assert onednn_linear_min_weights(_with_train(linear_kernel="torch").train, cpu, capability="AVX512") is None
    # A set value is what it says, whatever the CPU, and then covers every layer.
    assert (
        onednn_linear_min_weights(_with_train(linear_kernel="onednn", compile=True).train, cpu, capability="AVX2") == 0
    )
    here = onednn_linear_min_weights(auto, cpu)
    assert here == (large if torch.backends.cpu.get_cpu_capability() == "AVX512" else None)
    line, _ = describe_numerics(Config(), cpu, native=True)
    said = "torch" if here is None else f"oneDNN from {large:,} weights, torch below"
    assert f"; linear layers {said} (" in line
    line, _ = describe_numerics(_with_train(bf16="auto"), cpu, native=True)
    assert "; linear layers torch (" in line
    line, _ = describe_numerics(_with_train(linear_kernel="onednn"), cpu, native=True)
    assert line.endswith(
        "; linear layers oneDNN (train.channels_last and optim.implementation chosen for cpu, measured fastest there)"
    )


def test_onednn_linear_off_a_cpu_is_refused_in_one_line(host):
    config = build_config(host, "mnist", sets=['train.linear_kernel="onednn"'])
    with pytest.raises(
        ConfigError, match=r'train.linear_kernel="onednn" runs on a CPU only, not on cuda; use "auto" or "torch"'
    ):
        Numerics.choose(config, torch.device("cuda"))
    with pytest.raises(ConfigError, match=r"linear_kernel must be one of auto, torch, onednn, got .onednnn."):
        build_config(host, "mnist", sets=['train.linear_kernel="onednnn"'])
