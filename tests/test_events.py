"""Training events: third-party callbacks see log intervals, checkpoints and the run's end; figures
hang on the checkpoint event; the engine imports nothing from evaluate/."""

from __future__ import annotations

from pathlib import Path

import pytest

from infogan_toolkit import hookimpl
from infogan_toolkit.callbacks import Callback
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.trainer import Trainer
from infogan_toolkit.errors import ToolkitError

ROOT = Path(__file__).resolve().parents[1]


class Recorder(Callback):
    def __init__(self, info, seen):
        self.seen = seen
        seen.append(("start", info.run_dir.name, info.resumed))

    def on_log(self, event):
        self.seen.append(("log", event.step, "loss_d" in event.metrics))

    def on_checkpoint(self, event):
        self.seen.append(("checkpoint", event.step, event.path.is_file()))

    def on_run_end(self, event):
        self.seen.append(("end", event.step, event.interrupted))


class Broken(Callback):
    def on_log(self, event):
        raise RuntimeError("disk on fire")


class EventPlugin:
    def __init__(self):
        self.seen = []

    @hookimpl
    def register_callbacks(self, register):
        register("recorder", lambda info: Recorder(info, self.seen))
        register("broken", lambda info: Broken())
        register("absent", lambda info: None)


@pytest.fixture
def events(host):
    plugin = EventPlugin()
    host.register(plugin, "event-plugin")
    try:
        yield host, plugin.seen
    finally:
        host.unregister("event-plugin")


def tiny(**train) -> Config:
    return apply_dict(
        Config(),
        {
            "model": {"backbone": "tiny"},
            "data": {"dataset": "tiny-bars"},
            "train": {
                "batch_size": 8,
                "steps": 4,
                "log_every": 2,
                "checkpoint_every": 4,
                "device": "cpu",
                **train,
            },
        },
        "t",
    )


def test_callbacks_see_every_event_in_order_and_a_failing_one_is_turned_off(events, tmp_path, capfd):
    host, seen = events
    Trainer(tiny(figures=False), tmp_path / "run", host=host, progress=False).run()
    assert seen == [
        ("start", "run", False),
        ("log", 2, True),
        ("log", 4, True),
        ("checkpoint", 4, True),
        ("end", 4, False),
    ]
    err = capfd.readouterr().err
    assert err.count("callback 'broken' failed in on_log and is turned off: RuntimeError: disk on fire") == 1
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 2  # the metrics log is unaffected


def test_train_callbacks_chooses_and_an_unknown_name_is_refused(events, tmp_path):
    host, seen = events
    Trainer(tiny(callbacks=["recorder"], figures=True), tmp_path / "only", host=host, progress=False).run()
    assert [s[0] for s in seen] == ["start", "log", "log", "checkpoint", "end"]
    assert not (tmp_path / "only" / "figures").exists()  # the figures callback was not chosen
    with pytest.raises(
        ToolkitError, match=r"(?i)unknown callback 'recordr' in train.callbacks. Did you mean 'recorder'"
    ):
        Trainer(tiny(callbacks=["recordr"]), tmp_path / "bad", host=host, progress=False)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ToolkitError, match=r"train.callbacks names 'recorder' more than once; name each once"):
        Trainer(tiny(callbacks=["recorder", "figures", "recorder"]), tmp_path / "twice", host=host, progress=False)
    assert not (tmp_path / "twice").exists()


def test_the_figures_callback_draws_at_checkpoints_unless_turned_off(host, tmp_path):
    Trainer(tiny(figures=True), tmp_path / "on", host=host, progress=False).run()
    assert sorted(p.name for p in (tmp_path / "on" / "figures").iterdir()) == [
        "information.png",
        "samples-0000004.png",
        "traversal-0000004.png",
    ]
    Trainer(tiny(figures=False), tmp_path / "off", host=host, progress=False).run()
    assert not (tmp_path / "off" / "figures").exists()


def test_the_engine_imports_nothing_from_evaluate():
    for path in sorted((ROOT / "infogan_toolkit" / "engine").glob("*.py")):
        text = path.read_text()
        assert "evaluate" not in text.replace("evaluation", ""), f"{path.name} mentions evaluate"


class Unreachable(Callback):
    """A tracker whose server does not answer: it cannot start."""

    def __init__(self, seen):
        self.seen = seen

    def on_train_start(self, event):
        self.seen.append(("train_start", event.step, event.restored))
        raise ConnectionError("no answer from the server")


class StartPlugin:
    def __init__(self):
        self.seen = []

    @hookimpl
    def register_callbacks(self, register):
        register("recorder", lambda info: Recorder(info, self.seen))
        register("unreachable", lambda info: Unreachable(self.seen))
        register("exploding", self.explode)

    @staticmethod
    def explode(info):
        raise ImportError("its package is missing")


@pytest.fixture
def starts(host):
    plugin = StartPlugin()
    host.register(plugin, "start-plugin")
    try:
        yield host, plugin.seen
    finally:
        host.unregister("start-plugin")


def test_a_callback_that_cannot_start_is_off_unless_asked_for(starts, tmp_path, capfd):
    host, seen = starts
    Trainer(tiny(figures=False), tmp_path / "star", host=host, progress=False).run()
    err = capfd.readouterr().err
    assert "callback 'exploding' failed to start and is off: its package is missing" in err
    assert "callback 'unreachable' failed to start and is off: no answer from the server" in err
    assert ("end", 4, False) in seen and (tmp_path / "star" / "checkpoints").is_dir()

    for name, why in (("exploding", "its package is missing"), ("unreachable", "no answer from the server")):
        seen.clear()
        with pytest.raises(ToolkitError, match=rf"callback '{name}' was asked for but failed to start \({why}\)"):
            Trainer(tiny(callbacks=["recorder", name]), tmp_path / name, host=host, progress=False)
        assert not (tmp_path / name).exists()  # a refused new run leaves nothing
        if name == "unreachable":  # the recorder had started: it hears that the run ended
            assert seen[-1] == ("end", 0, True)


def test_a_resume_whose_asked_callback_cannot_start_leaves_the_folder_as_it_was(starts, tmp_path):
    host, seen = starts
    run = tmp_path / "run"
    Trainer(tiny(callbacks=["recorder"]), run, host=host, progress=False).run()
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(ToolkitError, match=r"callback 'unreachable' was asked for but failed to start"):
        Trainer(tiny(callbacks=["recorder", "unreachable"], steps=8), run, host=host, resume=True, progress=False)
    assert ("train_start", 4, False) in seen
    after = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before  # config.toml keeps steps = 4
