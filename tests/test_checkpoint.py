"""Checkpoints: safetensors with metadata, loading for sampling, one-line errors for bad files, no pickle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from test_engine import tiny_config

from infogan_toolkit import load_checkpoint
from infogan_toolkit.checkpoint import PREFIXES, load_tensors, model_path, read_metadata, state_path
from infogan_toolkit.engine.trainer import Trainer
from infogan_toolkit.errors import CheckpointError, PluginError
from infogan_toolkit.plugins import PluginHost

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run(host, tmp_path) -> Path:
    Trainer(tiny_config(steps=3, checkpoint_every=3), tmp_path / "run", host=host, progress=False).run()
    return tmp_path / "run"


def test_weights_file_has_prefixed_keys_and_metadata(run):
    path = model_path(run, 3)
    tensors = load_tensors(path)
    prefixes = {k.split(".")[0] for k in tensors}
    assert prefixes == {"generator", "discriminator", "q"}
    assert any(k.startswith(PREFIXES["q_head"]) for k in tensors)
    assert any(k.startswith(PREFIXES["d_head"]) for k in tensors)
    meta = read_metadata(path)
    for key in ("config", "codes", "toolkit_version", "plugins", "step", "backbone"):
        assert key in meta
    assert meta["step"] == "3"
    state = load_tensors(state_path(run, 3))
    assert any(k.startswith("optim.d.") for k in state) and "rng.data" in state


def test_load_checkpoint_samples_on_cpu(run, host):
    model = load_checkpoint(run, device="cpu", host=host)
    assert model.step == 3 and not model.generator.training
    images, values = model.sample(5, seed=1)
    assert images.shape == (5, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    again, _ = model.sample(5, seed=1)
    assert torch.equal(images, again)
    q = model.infer(torch.zeros(7, 1, 8, 8, dtype=torch.uint8))
    assert q.shape == (7, model.codes.param_width)


def test_loaded_weights_equal_the_saved_ones(run, host):
    model = load_checkpoint(model_path(run, 3), host=host)
    saved = load_tensors(model_path(run, 3))
    for k, v in model.generator.state_dict().items():
        assert torch.equal(saved["generator." + k], v)


def test_missing_plugin_is_named(run):
    bare = PluginHost()  # no tiny plugin registered
    with pytest.raises(
        PluginError,
        match="needs backbone 'tiny' which comes from plugin distribution 'tiny-test-plugin'.*pip install "
        "tiny-test-plugin",
    ):
        load_checkpoint(run, host=bare)


def test_truncated_file_is_a_one_line_error(run, tmp_path):
    data = model_path(run, 3).read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable safetensors file") as info:
        read_metadata(bad)
    assert "\n" not in str(info.value)


def test_foreign_files_are_refused(tmp_path):
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"hello": "world"})
    with pytest.raises(CheckpointError, match="not an infogan-tk checkpoint"):
        read_metadata(other)
    text = tmp_path / "notes.safetensors"
    text.write_text("this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="holds no checkpoint yet"):
        load_checkpoint(tmp_path)


def test_state_file_is_not_taken_for_a_model(run, host):
    with pytest.raises(CheckpointError, match="trainer-state file"):
        load_checkpoint(state_path(run, 3), host=host)


def test_writes_leave_no_temporary_files(run):
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]


def test_nothing_unpickles():
    pattern = re.compile(r"torch\.load|import pickle|cPickle|pickle\.load")
    offenders = [
        str(p)
        for folder in ("infogan_toolkit", "plugins")
        for p in (ROOT / folder).rglob("*.py")
        if pattern.search(p.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize("implementation", ["fused", "foreach"])
def test_restored_adam_state_takes_its_parameters_layout(tmp_path, implementation):
    # A channels_last conv weight, its Adam state through a real file (stored contiguous) and back:
    # the restored optimiser's next step must equal the original's, fused kernel included.
    from safetensors.torch import load_file

    from infogan_toolkit.checkpoint import optimizer_from_tensors, optimizer_to_tensors

    gen = torch.Generator().manual_seed(0)
    weight, grads = torch.randn(8, 4, 3, 3, generator=gen), [torch.randn(8, 4, 3, 3, generator=gen) for _ in range(2)]

    def make():
        param = torch.nn.Parameter(weight.clone().contiguous(memory_format=torch.channels_last))
        return param, torch.optim.Adam([param], lr=0.1, **{implementation: True})

    def step(param, optimizer, grad):
        param.grad = grad.contiguous(memory_format=torch.channels_last)
        optimizer.step()

    param, optimizer = make()
    step(param, optimizer, grads[0])
    tensors, groups = optimizer_to_tensors("d", optimizer)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp_path / "state.safetensors"))
    restored_param, restored = make()
    restored_param.data.copy_(param.data)
    optimizer_from_tensors("d", restored, load_file(str(tmp_path / "state.safetensors")), groups)
    assert all(v.stride() == restored_param.stride() for v in restored.state[restored_param].values() if v.dim() == 4)
    step(param, optimizer, grads[1])
    step(restored_param, restored, grads[1])
    assert torch.equal(param, restored_param)
