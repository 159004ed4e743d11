"""Engine options beyond the paper's defaults: how z is drawn, TF32, torch.compile's mode and
whole-step CUDA graphs (refused clearly without CUDA, checked against eager where CUDA exists)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from infogan_toolkit.assembly import resolve
from infogan_toolkit.checkpoint import load_tensors, model_path, model_tensors
from infogan_toolkit.cli.app import app
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.cuda_graph import CudaGraphStep
from infogan_toolkit.engine.devices import (
    ONEDNN_LINEAR_AUTO_MIN_WEIGHTS,
    apply_precision_switches,
    onednn_linear_min_weights,
)
from infogan_toolkit.engine.linear_kernels import OneDNNLinear, onednn_linear_available
from infogan_toolkit.engine.trainer import Trainer, build_objective
from infogan_toolkit.errors import ConfigError, ToolkitError
from infogan_toolkit.evaluate.traverse import traversal_images
from infogan_toolkit.model import TrainedModel
from infogan_toolkit.noise import sample_noise

CUDA = torch.cuda.is_available()


def tiny(**sections) -> Config:
    base = {
        "model": {"backbone": "tiny"},
        "train": {
            "batch_size": 16,
            "steps": 4,
            "log_every": 2,
            "checkpoint_every": 4,
            "device": "cpu",
            "figures": False,
            "callbacks": [],
        },
    }
    for section, values in sections.items():
        base.setdefault(section, {}).update(values)
    return apply_dict(Config(), base, "test")


# -- noise ------------------------------------------------------------------------------------------
def test_uniform_noise_fills_minus_one_to_one_and_normal_does_not_stay_there():
    gen = torch.Generator().manual_seed(0)
    u = sample_noise("uniform", 4000, 8, gen, "cpu")
    n = sample_noise("normal", 4000, 8, gen, "cpu")
    assert u.shape == (4000, 8) and u.min() >= -1 and u.max() <= 1
    assert u.min() < -0.99 and u.max() > 0.99 and abs(u.mean()) < 0.02
    assert n.abs().max() > 2.5  # a normal draw of this size leaves [-1, 1]


def test_unknown_noise_kind_is_refused_with_a_suggestion():
    with pytest.raises(ConfigError, match="model.noise must be one of normal, uniform.*Did you mean 'uniform'"):
        apply_dict(Config(), {"model": {"noise": "unifrom"}}, "test")


def test_trained_model_draws_noise_as_it_was_trained(host, tmp_path):
    Trainer(tiny(model={"noise": "uniform"}), tmp_path / "r", host=host, progress=False).run()
    model = TrainedModel.load(tmp_path / "r", host=host)
    z = model.noise(500, torch.Generator().manual_seed(1))
    assert z.abs().max() <= 1 and z.min() < -0.9
    imgs = traversal_images(model.generate, model.codes, model.noise_dim, 0, rows=2, steps=3, noise_kind="uniform")
    assert imgs.shape[0] == 2 * model.codes.codes[0].code.traversal(3).shape[0]


def test_noise_kind_changes_training(host, tmp_path):
    for kind in ("normal", "uniform"):
        Trainer(tiny(model={"noise": kind}), tmp_path / kind, host=host, progress=False).run()
    a, b = (load_tensors(model_path(tmp_path / k, 4)) for k in ("normal", "uniform"))
    assert any(not torch.equal(a[k], b[k]) for k in a)


# -- precision and compile options ------------------------------------------------------------------
def test_compile_mode_is_checked():
    with pytest.raises(ConfigError, match="compile_mode must be one of default, reduce-overhead"):
        apply_dict(Config(), {"train": {"compile_mode": "fast"}}, "test")


def test_tf32_option_turns_on_torchs_switches(host):
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        apply_precision_switches(resolve(tiny(train={"tf32": True}), host).config.train)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_cuda_graph_makes_adam_capturable(host):
    obj = build_objective(resolve(tiny(train={"cuda_graph": True}), host), torch.device("cpu"))
    assert obj.opt_d.defaults["capturable"] and obj.opt_g.defaults["capturable"]


# -- linear layers' kernels -------------------------------------------------------------------------
@pytest.mark.skipif(not onednn_linear_available(), reason="this torch has no oneDNN")
def test_a_cpu_run_puts_its_linear_layers_where_the_setting_says(host):
    def linear_types(config: Config) -> dict[tuple[int, ...], type]:
        obj = build_objective(resolve(config, host), torch.device("cpu"))
        return {
            tuple(m.weight.shape): type(m)
            for net in (obj.G, obj.D)
            for m in net.modules()
            if isinstance(m, torch.nn.Linear)
        }

    assert set(linear_types(tiny(train={"linear_kernel": "onednn"})).values()) == {OneDNNLinear}
    assert set(linear_types(tiny(train={"linear_kernel": "torch"})).values()) == {torch.nn.Linear}
    # "auto" moves only the large layers (on an AVX-512 CPU): the MNIST net's two 6272 x 1024 ones.
    mnist = linear_types(apply_dict(Config(), {"model": {"backbone": "mnist"}, "train": {"device": "cpu"}}, "test"))
    large = {shape for shape in mnist if shape[0] * shape[1] >= ONEDNN_LINEAR_AUTO_MIN_WEIGHTS}
    assert large == {(6272, 1024), (1024, 6272)}
    auto = onednn_linear_min_weights(Config().train, torch.device("cpu")) is not None  # by this CPU's capability
    assert {shape for shape, kind in mnist.items() if kind is OneDNNLinear} == (large if auto else set())


@pytest.mark.skipif(not onednn_linear_available(), reason="this torch has no oneDNN")
def test_onednn_and_torch_linear_layers_train_alike_and_save_alike(host, tmp_path):
    losses = {}
    for kernel in ("torch", "onednn"):
        Trainer(
            tiny(train={"linear_kernel": kernel, "log_every": 1}), tmp_path / kernel, host=host, progress=False
        ).run()
        records = [json.loads(line) for line in (tmp_path / kernel / "metrics.jsonl").read_text().splitlines()]
        losses[kernel] = [[r[key] for key in ("loss_d", "loss_g", "loss_info")] for r in records]
    # The same fp32 arithmetic summed in another order: every step's losses agree to rounding
    # (a wrong gradient would move them apart from the second step on).
    assert len(losses["onednn"]) == 4
    torch.testing.assert_close(torch.tensor(losses["onednn"]), torch.tensor(losses["torch"]), rtol=1e-4, atol=1e-6)
    a, b = (load_tensors(model_path(tmp_path / k, 4)) for k in ("torch", "onednn"))
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    TrainedModel.load(tmp_path / "onednn", host=host)  # its file loads into plain networks


# -- CUDA graphs ------------------------------------------------------------------------------------
@pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without CUDA")
def test_cuda_graph_without_cuda_is_refused_before_loading_data(host, tmp_path):
    with pytest.raises(
        ToolkitError, match="train.cuda_graph needs a CUDA device, but this run is on 'cpu'; set train.cuda_graph=false"
    ):
        Trainer(tiny(train={"cuda_graph": True}), tmp_path / "r", host=host, progress=False)
    assert not (tmp_path / "r").exists()  # refused before anything was written
    with pytest.raises(ToolkitError, match="needs a CUDA device"):
        CudaGraphStep(lambda: torch.zeros(1), torch.device("cpu"))


@pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without CUDA")
def test_cli_refuses_cuda_graph_on_cpu_in_one_line(tmp_path, mnist_root):
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            "mnist",
            "--data-root",
            str(mnist_root),
            "--device",
            "cpu",
            "--steps",
            "2",
            "--out",
            str(tmp_path / "r"),
            "--set",
            "train.cuda_graph=true",
        ],
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: train.cuda_graph needs a CUDA device") and "Traceback" not in result.stderr


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("bf16", [False, True])
def test_cuda_graph_training_matches_eager(host, tmp_path, bf16):
    """Graph replay does the same updates as eager steps, with the same random streams.

    Bitwise equality is not expected: the graph runs capturable Adam and may pick other kernels, and
    Adam turns a tiny gradient difference on a near-zero gradient into a full-size step. So each
    tensor's difference is measured against how far training moved it; a replay that reused one
    batch or one noise draw, or skipped an update, differs by about the whole movement."""
    steps = 8
    start = {}
    for graph in (False, True):
        cfg = tiny(
            train={"device": "cuda", "steps": steps, "checkpoint_every": steps, "cuda_graph": graph, "bf16": bf16}
        )
        trainer = Trainer(cfg, tmp_path / f"g{graph}", host=host, progress=False)
        start[graph] = {k: v.detach().float().cpu().clone() for k, v in model_tensors(trainer.G, trainer.D).items()}
        trainer.run()
        if graph:
            assert trainer.train_step.captured
    eager, graphed = (load_tensors(model_path(tmp_path / f"g{g}", steps)) for g in (False, True))
    for key in eager:
        assert torch.equal(start[False][key], start[True][key]), key  # same seed, same start
        moved = (eager[key].float() - start[False][key]).norm()
        if moved == 0:
            assert torch.equal(eager[key].float(), graphed[key].float()), key
            continue
        assert (eager[key].float() - graphed[key].float()).norm() <= 0.2 * moved, key
