"""The training engine on a tiny in-process backbone: the information term's reach, metrics,
checkpoints, exact resume, NaN and Ctrl-C handling."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from infogan_toolkit import build_config, hookimpl
from infogan_toolkit.assembly import resolve
from infogan_toolkit.callbacks import Callback
from infogan_toolkit.checkpoint import list_steps, load_tensors, model_path, read_metadata
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.trainer import NonFiniteLossError, Trainer, build_objective
from infogan_toolkit.errors import ConfigError


def tiny_config(**train) -> Config:
    base = {
        "model": {"backbone": "tiny"},
        "train": {
            "batch_size": 16,
            "steps": 6,
            "log_every": 2,
            "checkpoint_every": 3,
            "device": "cpu",
            "figures": False,
            "callbacks": [],
        },
    }
    base["train"].update(train)
    return apply_dict(Config(), base, "test")


def _objective(host, info_updates=None, regular_gan=False):
    cfg = tiny_config()
    cfg = apply_dict(
        cfg, {"loss": {"regular_gan": regular_gan, **({"info_updates": info_updates} if info_updates else {})}}, "t"
    )
    return build_objective(resolve(cfg, host), torch.device("cpu"))


def _info_grad_parts(obj) -> dict[str, bool]:
    """Which parts get a nonzero gradient from the information term alone."""
    rng = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8)
    loss_d, loss_g, info, _, _ = obj.losses(real, rng)
    obj.backward(loss_d * 0, loss_g * 0, info)

    def reached(params):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)

    return {
        "generator": reached(obj.g_params),
        "trunk": reached(obj.trunk_params),
        "q_head": reached(obj.qhead_params),
        "d_head": reached(obj.dhead_params),
    }


@pytest.mark.parametrize(
    "info_updates, regular_gan, expected",
    [
        (None, False, {"generator": True, "trunk": True, "q_head": True, "d_head": False}),
        (None, True, {"generator": False, "trunk": True, "q_head": True, "d_head": False}),
        (["q_head"], False, {"generator": False, "trunk": False, "q_head": True, "d_head": False}),
        (["generator", "q_head"], False, {"generator": True, "trunk": False, "q_head": True, "d_head": False}),
        (["trunk", "q_head"], False, {"generator": False, "trunk": True, "q_head": True, "d_head": False}),
    ],
)
def test_information_term_reaches_exactly_the_configured_parts(host, info_updates, regular_gan, expected):
    assert _info_grad_parts(_objective(host, info_updates, regular_gan)) == expected


def test_gan_losses_still_train_d_and_g_in_the_baseline(host):
    obj = _objective(host, regular_gan=True)
    rng = torch.Generator().manual_seed(0)
    loss_d, loss_g, info, _, _ = obj.losses(torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8), rng)
    obj.backward(loss_d, loss_g, info * 0)
    assert all(p.grad is not None for p in obj.g_params + obj.dhead_params + obj.trunk_params)


def test_training_writes_metrics_checkpoints_and_config(host, tmp_path):
    result = Trainer(tiny_config(), tmp_path / "run", host=host, progress=False).run()
    assert result.step == 6 and not result.interrupted
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6]
    for key in ("loss_d", "loss_g", "li_c1", "entropy_c1", "li_c2", "img_per_s"):
        assert key in records[-1]
    assert records[-1]["entropy_c1"] == pytest.approx(torch.log(torch.tensor(4.0)).item())
    assert list_steps(tmp_path / "run") == [3, 6]
    meta = read_metadata(model_path(tmp_path / "run", 6))
    assert meta["step"] == "6" and meta["codes"] == "cat4,unif1"
    assert json.loads(meta["config"])["model"]["backbone"] == "tiny"
    assert json.loads(meta["plugins"])["backbone"]["plugin"] == "tiny-test-plugin"
    assert (tmp_path / "run" / "config.toml").is_file()


def test_a_run_without_noise_trains_and_its_generator_reads_the_codes_alone(host, tmp_path):
    cfg = apply_dict(tiny_config(), {"model": {"noise_dim": 0}}, "test")
    result = Trainer(cfg, tmp_path / "run", host=host, progress=False).run()
    assert result.step == 6
    assert json.loads(read_metadata(model_path(tmp_path / "run", 6))["config"])["model"]["noise_dim"] == 0
    obj = build_objective(resolve(cfg, host), torch.device("cpu"))
    gin, _values = obj.generator_input(8, torch.Generator().manual_seed(0))
    assert gin.shape == (8, obj.codes.width)  # no noise columns: G's input is the codes


def test_keep_last_k_checkpoints(host, tmp_path):
    Trainer(
        tiny_config(steps=8, checkpoint_every=2, keep_checkpoints=2), tmp_path / "r", host=host, progress=False
    ).run()
    assert list_steps(tmp_path / "r") == [6, 8]


@pytest.mark.parametrize("d_batch", ["joint", "separate"])
def test_resume_is_bitwise_exact(host, tmp_path, d_batch):
    n = 4
    straight = Trainer(
        tiny_config(steps=2 * n, checkpoint_every=n, d_batch=d_batch), tmp_path / "a", host=host, progress=False
    )
    straight.run()
    Trainer(tiny_config(steps=n, checkpoint_every=n, d_batch=d_batch), tmp_path / "b", host=host, progress=False).run()
    resumed = Trainer(
        tiny_config(steps=2 * n, checkpoint_every=n, d_batch=d_batch),
        tmp_path / "b",
        host=host,
        resume=True,
        progress=False,
    )
    assert resumed.step == n
    resumed.run()
    a = load_tensors(model_path(tmp_path / "a", 2 * n))
    b = load_tensors(model_path(tmp_path / "b", 2 * n))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_batch_norm_refresh_changes_only_the_running_statistics_and_resumes_exactly(host, tmp_path):
    n = 4
    plain = Trainer(tiny_config(steps=2 * n, checkpoint_every=n), tmp_path / "plain", host=host, progress=False)
    plain.run()
    refreshed = Trainer(
        tiny_config(steps=2 * n, checkpoint_every=n, batch_norm_refresh=3), tmp_path / "a", host=host, progress=False
    )
    refreshed.run()
    Trainer(
        tiny_config(steps=n, checkpoint_every=n, batch_norm_refresh=3), tmp_path / "b", host=host, progress=False
    ).run()
    Trainer(
        tiny_config(steps=2 * n, checkpoint_every=n, batch_norm_refresh=3),
        tmp_path / "b",
        host=host,
        resume=True,
        progress=False,
    ).run()
    p, a, b = (load_tensors(model_path(tmp_path / d, 2 * n)) for d in ("plain", "a", "b"))
    running = [k for k in a if "running_" in k]
    assert (
        running
        and any(k.startswith("generator.") for k in running)
        and any(k.startswith("discriminator.") for k in running)
    )
    for key in a:
        assert torch.equal(a[key], b[key]), key  # a resumed run refreshes as a straight one
        if "running_" in key:
            assert not torch.equal(a[key], p[key]), key
        elif "num_batches_tracked" not in key:
            assert torch.equal(a[key], p[key]), key  # the weights trained exactly as without it


def test_a_refresh_forgets_the_moving_average(host):
    obj = _objective(host)
    real = torch.randint(0, 256, (16, 1, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)

    def refreshed() -> list[torch.Tensor]:
        obj.refresh_batch_norm(lambda: real, 2, torch.Generator().manual_seed(5))
        return [b.clone() for name, b in obj.D.named_buffers() if "running" in name]

    first = refreshed()
    obj.losses(real, torch.Generator().manual_seed(2))  # a training pass moves the moving average
    assert all(torch.equal(x, y) for x, y in zip(first, refreshed()))
    assert all(layer.momentum == 0.1 for layer in obj.d_batch_norms + obj.g_batch_norms)


def test_starting_over_an_existing_run_is_refused(host, tmp_path):
    Trainer(tiny_config(steps=3), tmp_path / "r", host=host, progress=False).run()
    with pytest.raises(Exception, match="already holds checkpoints; pass --resume"):
        Trainer(tiny_config(steps=3), tmp_path / "r", host=host, progress=False)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(host, tmp_path):
    trainer = Trainer(tiny_config(steps=10, log_every=1, checkpoint_every=2), tmp_path / "r", host=host, progress=False)
    real_step = trainer.objective.step
    calls = {"n": 0}

    def poisoned(real, rng):
        calls["n"] += 1
        stats = real_step(real, rng)
        return stats * float("nan") if calls["n"] >= 5 else stats

    trainer.objective.step = poisoned
    with pytest.raises(
        NonFiniteLossError, match="NaN or infinite by step 5; stopped, the last good checkpoint is step 4"
    ):
        trainer.run()
    assert list_steps(tmp_path / "r") == [2, 4]


class _InterruptAt:
    """A callback that presses Ctrl-C (a real SIGINT) when it sees a given step."""

    def __init__(self, step):
        self.step = step

    @hookimpl
    def register_callbacks(self, register):
        at = self.step

        class Interrupter(Callback):
            def on_log(self, event):
                if event.step == at:
                    os.kill(os.getpid(), signal.SIGINT)

        register("interrupter", lambda info: Interrupter())


def test_ctrl_c_writes_a_checkpoint_and_returns(host, tmp_path):
    host.register(_InterruptAt(3), "interrupter-plugin")
    try:
        cfg = tiny_config(steps=50, log_every=1, checkpoint_every=100, callbacks=["interrupter"])
        result = Trainer(cfg, tmp_path / "r", host=host, progress=False).run()
    finally:
        host.unregister("interrupter-plugin")
    assert result.interrupted and result.step == 3
    assert list_steps(tmp_path / "r") == [3]


def test_unknown_callback_name_is_refused(host, tmp_path):
    with pytest.raises(Exception, match="unknown callback 'tensorbord' in train.callbacks. Did you mean 'tensorboard'"):
        Trainer(tiny_config(callbacks=["tensorbord"]), tmp_path / "r", host=host, progress=False)


def test_image_shape_mismatch_fails_before_training(host, tmp_path, mnist_root):
    flags = {
        "model": {"backbone": "tiny"},
        "data": {"dataset": "mnist", "root": str(mnist_root)},
        "train": {"device": "cpu"},
    }
    cfg = build_config(host, None, flags)
    with pytest.raises(ConfigError, match=r"shape \(1, 28, 28\) but backbone 'tiny' needs \(1, 8, 8\)"):
        Trainer(cfg, tmp_path / "r", host=host, progress=False)
    assert not (tmp_path / "r").exists()


def test_training_figures_are_written(host, tmp_path):
    config = tiny_config(steps=4, checkpoint_every=2, figures=True, callbacks=["figures"])
    Trainer(config, tmp_path / "r", host=host, progress=False).run()
    figs = tmp_path / "r" / "figures"
    assert (figs / "information.png").stat().st_size > 0
    assert (figs / "traversal-0000004.png").stat().st_size > 0


def test_backbone_with_unknown_output_range_is_named(host, tmp_path):
    from conftest import TinyBackbone

    class Bad(TinyBackbone):
        output_range = "sigmoid"

    class BadPlugin:
        @hookimpl
        def register_backbones(self, register):
            register("bad-range", Bad())

    host.register(BadPlugin(), "bad-range-plugin")
    try:
        cfg = apply_dict(tiny_config(), {"model": {"backbone": "bad-range"}}, "t")
        with pytest.raises(
            Exception, match=r"backbone 'bad-range' \(plugin 'bad-range-plugin'\) declares output_range 'sigmoid'"
        ):
            resolve(cfg, host)
    finally:
        host.unregister("bad-range-plugin")
