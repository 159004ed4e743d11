"""The conformance kit's run-based checks (regularisers, metrics, callbacks): they pass
the built-in and example plugins, catch broken ones with a message naming the problem, and report a
plugin that declines the kit's run as NotApplicable."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
import torch
from torch import nn

from infogan_toolkit.callbacks import Callback
from infogan_toolkit.datasets import DatasetRequest
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.evaluate.report import Metric
from infogan_toolkit.plugins import PluginHost
from infogan_toolkit.regularisers import Regulariser, RegulariserPlugin, Terms
from infogan_toolkit.testing import (
    KIT_DATASET,
    KitBars,
    NotApplicable,
    check_callback,
    check_dataset,
    check_metric,
    check_regulariser,
)

meanink = pytest.importorskip("infogan_tk_meanink", reason="pip install --no-deps -e plugins/example-meanink")


@pytest.fixture(scope="module")
def host():
    return PluginHost()


def test_the_kits_data_is_a_factor_grid_in_any_shape():
    for shape in [(1, 8, 8), (3, 32, 32), (1, 64, 64)]:
        ds = check_dataset(KitBars(), DatasetRequest(root=None, image_shape=shape))
        assert ds.factor_grid and len(ds) == 12 and tuple(ds.image_shape) == shape
        images = ds.images(torch.arange(12)).reshape(12, -1)
        assert torch.unique(images, dim=0).shape[0] == 12  # every grid point is its own image


# -- regularisers --------------------------------------------------------------------------------


@attrs.define
class _Options:
    weight: float = 1.0


class _Term(Regulariser):
    """The example term's tracker, broken in one way per subclass below."""

    stat_names = ("ink",)

    def __init__(self, setup):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(setup.seed + 3)
            self.net = setup.prepare_module(nn.Linear(1, 1))
        self.opt = setup.make_optimizer(list(self.net.parameters()), 1e-2)

    def networks(self):
        return {"net": self.net}

    def optimizers(self):
        return {"adam": self.opt}

    def own_parameters(self):
        return list(self.net.parameters())

    def ink(self, view):
        return view.fake.float().mean()

    def terms(self, view):
        ink = self.ink(view)
        guess = self.net(torch.ones(1, 1, device=ink.device)).squeeze()
        return Terms(generator=(ink - 0.5) ** 2, own=(guess - ink.detach()) ** 2, stats={"ink": ink})


class _GlobalNoise(_Term):
    def ink(self, view):
        return (view.fake.float() + 0.1 * torch.randn(view.fake.shape, device=view.fake.device)).mean()  # not view.rng


class _GlobalInit(_Term):
    def __init__(self, setup):
        super().__init__(setup)
        self.net = setup.prepare_module(nn.Linear(1, 1))  # from the global stream: each build differs
        self.opt = setup.make_optimizer(list(self.net.parameters()), 1e-2)


class _Detached(_Term):
    def terms(self, view):
        t = super().terms(view)
        return attrs.evolve(t, generator=t.generator.detach())


class _WrongStats(_Term):
    def terms(self, view):
        return attrs.evolve(super().terms(view), stats={"inc": view.fake.float().mean()})


class _NotScalar(_Term):
    def terms(self, view):
        return attrs.evolve(super().terms(view), generator=view.fake.float().mean(dim=0))


def _plugin(term_class, refuse: bool = False):
    class Plugin(RegulariserPlugin):
        options = _Options

        def check(self, options, assembly):
            if refuse:
                raise ConfigError("loss.broken needs a backbone with wings; set loss.broken.weight=0")

        def build(self, options, setup):
            return term_class(setup)

    return Plugin()


def test_installed_regularisers_pass(host):
    terms = check_regulariser(meanink.MeanInk(), "mean_ink", host=host)
    assert terms.generator is not None and terms.own is not None and set(terms.stats) == {"mean_ink", "ink_tracker"}
    assert (
        check_regulariser(host.registries.regularisers.get("invariance"), "invariance", host=host).information
        is not None
    )
    assert (
        check_regulariser(_plugin(_Term), "fine_term").own is not None
    )  # an uninstalled one, registered for the check


@pytest.mark.parametrize(
    ("term_class", "message"),
    [
        (_GlobalNoise, r"1 step, resume, 1 step differs from 2 straight steps .*draw random numbers from view.rng"),
        (
            _GlobalInit,
            r"differs from 2 straight steps in \['broken.net.bias', 'broken.net.weight'\]; initialise networks from "
            r"setup.seed",
        ),
        (_Detached, r"Terms.generator does not depend on any trained parameter"),
        (_WrongStats, r"Terms.stats has keys \['inc'\] but stat_names is \['ink'\]"),
        (_NotScalar, r"Terms.generator must be a floating-point scalar tensor"),
    ],
)
def test_broken_regularisers_are_named(term_class, message):
    with pytest.raises(AssertionError, match=message):
        check_regulariser(_plugin(term_class), "broken")


def test_a_regulariser_that_refuses_the_kits_run_is_not_applicable():
    with pytest.raises(
        NotApplicable, match="refuses a run of backbone 'testing-kit': loss.broken needs a backbone with wings"
    ):
        check_regulariser(_plugin(_Term, refuse=True), "broken")


# -- metrics --------------------------------------------------------------------------------------


class _Ink(Metric):
    order = 90
    description = "mean brightness of some generated samples"

    def draw(self, ctx):
        return ctx.model.sample(8, seed=ctx.seed + 5)[0]

    def run(self, ctx):
        return {"ink": float(self.draw(ctx).mean())}


class _GlobalSeedless(_Ink):
    def run(self, ctx):
        return {"ink": float(np.random.random())}  # the global stream: differs run to run


class _Tensor(_Ink):
    def run(self, ctx):
        return {"ink": self.draw(ctx).mean()}


class _NeedsColour(_Ink):
    def not_applicable(self, ctx):
        return f"dataset '{ctx.dataset_name}' is not in colour"


def test_installed_metrics_pass(host):
    value = check_metric(meanink.MeanInkMetric(), "mean_ink", host=host)
    assert 0 <= value["generated"] <= 1 and value["samples"] == 64
    assert 0 <= check_metric(host.registries.metrics.get("factorvae"), "factorvae", host=host)["factor_vae"] <= 1
    assert set(check_metric(_Ink(), "ink")) == {"ink"}


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (_GlobalSeedless(), "two evaluations with the same seed differ"),
        (_Tensor(), "run\\(ctx\\) must return JSON-ready values"),
    ],
)
def test_broken_metrics_are_named(metric, message):
    with pytest.raises(AssertionError, match=message):
        check_metric(metric, "broken")


def test_a_metric_not_applicable_to_the_kits_data_says_why():
    with pytest.raises(NotApplicable, match=f"dataset '{KIT_DATASET}' is not in colour"):
        check_metric(_NeedsColour(), "colour")


# -- callbacks -------------------------------------------------------------------------------------


class _ReadsStep(Callback):
    def __init__(self, info):
        self.log = info.run_dir / "seen.txt"

    def on_checkpoint(self, event):
        self.log.write_text(f"{event.step} {event.path.name} {sum(p.numel() for p in event.generator.parameters())}")


class _BadCheckpoint(_ReadsStep):
    def on_checkpoint(self, event):
        return event.file  # no such field


def test_callbacks_get_the_runs_real_events(host):
    callback = check_callback(_ReadsStep, host=host)
    assert callback.log.name == "seen.txt"
    assert check_callback(meanink.make_ink_log, host=host, regularisers={"mean_ink": {}}).last is not None
    with pytest.raises(NotApplicable, match="its factory returns None"):
        check_callback(meanink.make_ink_log, host=host)  # stays out of runs without its term
    with pytest.raises(AssertionError, match=r"on_checkpoint\(CheckpointEvent\) raised AttributeError"):
        check_callback(_BadCheckpoint, host=host)
    with pytest.raises(AssertionError, match=r"has no on_train_start\(event\) method"):
        check_callback(lambda info: object(), host=host)


@attrs.frozen
class _TrackerOptions:
    where: str = "seen.txt"


class _Tracker(Callback):
    """A tracker-like callback: opens its file at the start, writes every interval, closes at the end."""

    def __init__(self, info):
        self.path = info.run_dir / info.options.where
        self.lines = []

    def on_train_start(self, event):
        self.file = self.path.open("w")

    def on_log(self, event):
        self.lines.append(f"{event.step} {sorted(event.metrics)}")
        self.file.write(self.lines[-1] + "\n")

    def on_images(self, event):
        self.lines.append(f"{event.step} {sorted(event.images)}")

    def on_run_end(self, event):
        self.file.close()


class _TrackerFactory:
    options = _TrackerOptions

    def __call__(self, info):
        return _Tracker(info)


@attrs.frozen
class _NeedsKey:
    key: str


class _NeedsKeyFactory(_TrackerFactory):
    options = _NeedsKey


class _NoStart(_Tracker):
    def on_train_start(self, event):
        raise OSError("no server")


def test_a_tracker_like_callback_gets_its_options_and_every_event(host):
    tracker = check_callback(_TrackerFactory(), host=host)
    assert tracker.path.name == "seen.txt" and tracker.file.closed
    assert "kit_nan" not in tracker.lines[0] and "kit_nan" in tracker.lines[1]
    assert tracker.lines[2].endswith("['samples', 'traversal']")
    with pytest.raises(AssertionError, match=r"its options class must build with no keys given"):
        check_callback(_NeedsKeyFactory(), host=host)
    with pytest.raises(AssertionError, match=r"on_train_start\(TrainStartEvent\) raised OSError: no server"):
        check_callback(lambda info: _NoStart(attrs.evolve(info, options=_TrackerOptions())), host=host)
    with pytest.raises(NotApplicable, match="its factory returns None"):
        check_callback(lambda info: None, host=host)
