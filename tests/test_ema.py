"""The generator's moving average (``train.ema``, the built-in ``ema`` callback): it computes what
PyTorch's AveragedModel computes, leaves training untouched, resumes bit for bit, can be turned on
or off at a resume, and is what load_checkpoint gives by default."""

from __future__ import annotations

import json

import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from infogan_tk_ema import GeneratorAverage
from infogan_toolkit import hookimpl, load_checkpoint
from infogan_toolkit.assembly import resolve
from infogan_toolkit.callbacks import Callback, TrainStartEvent
from infogan_toolkit.checkpoint import load_tensors, model_path, read_metadata
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.datasets import DatasetRequest
from infogan_toolkit.engine.trainer import Trainer, build_objective, make_train_step
from infogan_toolkit.errors import ConfigError, PluginError, ToolkitError


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
            "callbacks": ["ema"],
        },
    }
    base["train"].update(train)
    return apply_dict(Config(), base, "test")


def test_the_average_is_what_averaged_model_update_parameters_computes(host):
    # The callback skips update_parameters' host read of the count; the numbers must not change.
    assembly = resolve(tiny_config(), host)
    objective = build_objective(assembly, torch.device("cpu"))
    dataset = host.registries.datasets.get("tiny-bars").load(DatasetRequest(None, "train", False, (1, 8, 8), {}))
    step = make_train_step(objective, dataset, torch.Generator().manual_seed(0), 16)
    average = GeneratorAverage(objective.G, 0.8)
    reference = AveragedModel(objective.G, multi_avg_fn=get_ema_multi_avg_fn(0.8), use_buffers=True)
    average.on_train_start(TrainStartEvent(0))
    reference.update_parameters(objective.G)
    for _ in range(5):
        step()
        average.on_step_end()
        reference.update_parameters(objective.G)
    ours, theirs = average.average.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys() and int(ours["n_averaged"]) == 6
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    raw = objective.G.state_dict()
    moved = [k for k in raw if raw[k].is_floating_point() and not torch.equal(raw[k], ours["module." + k])]
    assert any("running_mean" in k for k in moved) and any(k.endswith("weight") for k in moved)  # buffers averaged too


def test_training_is_unchanged_and_the_average_resumes_bit_for_bit(host, tmp_path):
    n = 3
    plain = Trainer(tiny_config(steps=2 * n, checkpoint_every=n), tmp_path / "plain", host=host, progress=False)
    plain.run()
    Trainer(tiny_config(steps=2 * n, checkpoint_every=n, ema=0.9), tmp_path / "a", host=host, progress=False).run()
    Trainer(tiny_config(steps=n, checkpoint_every=n, ema=0.9), tmp_path / "b", host=host, progress=False).run()
    resumed = Trainer(
        tiny_config(steps=2 * n, checkpoint_every=n, ema=0.9), tmp_path / "b", host=host, resume=True, progress=False
    )
    resumed.run()
    p, a, b = (load_tensors(model_path(tmp_path / d, 2 * n)) for d in ("plain", "a", "b"))
    assert a.keys() == b.keys() and set(a) - set(p) == {k for k in a if k.startswith("ema.")}
    for key in a:
        assert torch.equal(a[key], b[key]), key  # the resumed average continues exactly
        if key in p:
            assert torch.equal(a[key], p[key]), key  # the average changes nothing that trains
    assert int(a["ema.n_averaged"]) == 2 * n + 1
    assert not torch.equal(a["ema.module.0.weight"], a["generator.0.weight"])
    meta = read_metadata(model_path(tmp_path / "a", 2 * n))
    assert json.loads(meta["generators"]) == {"ema": "ema.module."}
    assert json.loads(meta["plugins"])["callback:ema"]["distribution"] == "infogan-toolkit"
    assert json.loads(read_metadata(model_path(tmp_path / "plain", 2 * n))["generators"]) == {}


def test_turning_the_average_on_or_off_at_a_resume_says_so_and_takes_effect(host, tmp_path, capsys):
    from rich.console import Console

    n = 3
    Trainer(tiny_config(steps=n, checkpoint_every=n), tmp_path / "on", host=host, progress=False).run()
    console = Console(stderr=True, width=400)
    Trainer(
        tiny_config(steps=2 * n, checkpoint_every=n, ema=0.9),
        tmp_path / "on",
        host=host,
        resume=True,
        progress=False,
        console=console,
    ).run()
    assert "resuming with callback 'ema', which the checkpoint of step 3 has no state of" in capsys.readouterr().err
    on = load_tensors(model_path(tmp_path / "on", 2 * n))
    assert int(on["ema.n_averaged"]) == n + 1  # started at step 3's weights, then n updates

    Trainer(tiny_config(steps=n, checkpoint_every=n, ema=0.9), tmp_path / "off", host=host, progress=False).run()
    Trainer(
        tiny_config(steps=2 * n, checkpoint_every=n),
        tmp_path / "off",
        host=host,
        resume=True,
        progress=False,
        console=console,
    ).run()
    assert "resuming without the checkpoint's ema.* tensors" in capsys.readouterr().err
    path = model_path(tmp_path / "off", 2 * n)
    assert not any(k.startswith("ema.") for k in load_tensors(path))
    assert json.loads(read_metadata(path)["generators"]) == {}


def test_load_checkpoint_takes_the_average_by_default_and_raw_on_request(host, tmp_path):
    Trainer(tiny_config(steps=3, ema=0.9), tmp_path / "run", host=host, progress=False).run()
    tensors = load_tensors(model_path(tmp_path / "run", 3))
    averaged = load_checkpoint(tmp_path / "run", host=host)
    raw = load_checkpoint(tmp_path / "run", host=host, generator="raw")
    assert (averaged.generator_name, averaged.generator_names) == ("ema", ("ema", "raw"))
    assert raw.generator_name == "raw"
    for key, value in averaged.generator.state_dict().items():
        assert torch.equal(value, tensors[f"ema.module.{key}"]), key
        assert torch.equal(raw.generator.state_dict()[key], tensors[f"generator.{key}"]), key
    assert not torch.equal(averaged.sample(4, seed=1)[0], raw.sample(4, seed=1)[0])
    with pytest.raises(ConfigError, match=r"holds no generator 'emma'. Did you mean 'ema'\? It holds: ema, raw"):
        load_checkpoint(tmp_path / "run", host=host, generator="emma")
    Trainer(tiny_config(steps=3), tmp_path / "plain", host=host, progress=False).run()
    assert load_checkpoint(tmp_path / "plain", host=host).generator_name == "raw"
    with pytest.raises(ConfigError, match="holds no generator 'ema'.*It holds: raw"):
        load_checkpoint(tmp_path / "plain", host=host, generator="ema")


@pytest.mark.parametrize("value", ["1.0", "-0.1", "true"])
def test_a_decay_outside_0_to_1_is_one_line(value):
    with pytest.raises(ConfigError, match=r"train\.ema must be"):
        apply_dict(Config(), {"train": {"ema": json.loads(value)}}, "--set")


class _Counter(Callback):
    """A third-party callback: counts steps in a network of its own; offers no generator."""

    def __init__(self):
        self.module = torch.nn.Module()
        self.module.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def networks(self):
        return {"": self.module}

    def on_step_end(self):
        self.module.steps.add_(1)


class _CounterPlugin:
    @hookimpl
    def register_callbacks(self, register):
        register("counter", lambda info: _Counter())
        register("stray", lambda info: _Stray(info.generator))


class _Stray(Callback):
    def __init__(self, generator):
        self.generator = generator

    def generators(self):
        return {"copy": self.generator}  # not one of its networks: a plugin bug


def test_a_third_party_callback_is_stepped_saved_and_restored(host, tmp_path):
    host.register(_CounterPlugin(), "counter-plugin")
    try:
        Trainer(tiny_config(steps=3, callbacks=["counter"]), tmp_path / "run", host=host, progress=False).run()
        resumed = Trainer(
            tiny_config(steps=5, callbacks=["counter"]), tmp_path / "run", host=host, resume=True, progress=False
        )
        assert int(resumed.parts.callbacks["counter"].module.steps) == 3
        resumed.run()
        assert int(load_tensors(model_path(tmp_path / "run", 5))["counter.steps"]) == 5
        with pytest.raises(ToolkitError, match=r"unknown callback 'countr' in train.callbacks. Did you mean 'counter'"):
            Trainer(tiny_config(callbacks=["countr"]), tmp_path / "bad", host=host, progress=False)
        with pytest.raises(PluginError, match="callback 'stray' offers a generator that is not one of its networks"):
            Trainer(tiny_config(steps=1, callbacks=["stray"]), tmp_path / "stray", host=host, progress=False)
    finally:
        host.unregister("counter-plugin")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_average_inside_a_captured_cuda_graph_matches_eager(host, tmp_path):
    """The update runs inside the captured step: replaying it must advance the average and its count
    as eager steps do. Graph replay is not bitwise eager (tests/test_engine_options.py), so each
    averaged tensor is compared against how far the average moved; a replay that skipped the update
    or averaged a stale copy of G differs by about the whole movement."""
    steps = 8
    runs, start = {}, {}
    for graph in (False, True):
        trainer = Trainer(
            tiny_config(device="cuda", steps=steps, checkpoint_every=steps, cuda_graph=graph, ema=0.8),
            tmp_path / f"g{graph}",
            host=host,
            progress=False,
        )
        start[graph] = {k: v.detach().float().cpu().clone() for k, v in trainer.G.state_dict().items()}
        trainer.run()
        if graph:
            assert trainer.train_step.captured
        runs[graph] = load_tensors(model_path(tmp_path / f"g{graph}", steps))
    eager, graphed = runs[False], runs[True]
    assert int(eager["ema.n_averaged"]) == int(graphed["ema.n_averaged"]) == steps + 1
    for name, initial in start[False].items():
        key = "ema.module." + name
        if not initial.is_floating_point():
            continue
        assert torch.equal(initial, start[True][name]), name  # same seed, same start
        moved = (eager[key].float() - initial).norm()  # the average begins at G's initial weights
        if moved == 0:
            assert torch.equal(eager[key].float(), graphed[key].float()), key
            continue
        assert (eager[key].float() - graphed[key].float()).norm() <= 0.2 * moved, key
