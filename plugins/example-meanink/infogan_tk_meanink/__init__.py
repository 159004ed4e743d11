"""An example third-party distribution: a regulariser, an evaluation metric and a training callback.

* regulariser ``mean_ink``: G's mean brightness pushed towards a target, and a learned tracker of
  it; it shows every part of the interface a term can use: options, a G-side loss, a network of
  its own with its own optimiser and loss, and logged statistics (docs/regularisers.md);
* metric ``mean_ink``: the mean brightness of generated samples against the data's (``infogan-tk eval``);
* callback ``ink_log``: one line per checkpoint with the interval's mean brightness, in
  ``RUN/mean-ink.txt``, when the run has the regulariser on.
"""

from __future__ import annotations

import math

import attrs
import torch
from torch import nn

from infogan_toolkit.api import (
    Callback,
    CheckpointEvent,
    EvalContext,
    LogEvent,
    Metric,
    Regulariser,
    RegulariserPlugin,
    RegulariserSetup,
    RunInfo,
    StepView,
    Terms,
    hookimpl,
)


def within(low: float, high: float):
    """An attrs validator: a finite number in ``[low, high]``. A plugin refuses a bad option value
    with ``ValueError``; the toolkit turns it into a one-line error naming the option."""

    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            raise ValueError(f"'{attribute.name}' must be a number in [{low:g}, {high:g}], got {value!r}")

    return check


@attrs.define
class MeanInkOptions:
    """``[loss.mean_ink]``."""

    weight: float = attrs.field(default=1.0, validator=within(0.0, 1e3))  # 0 turns the term off
    target: float = attrs.field(default=0.5, validator=within(0.0, 1.0))  # the mean brightness G is pushed towards
    lr: float = attrs.field(default=1e-2, validator=within(1e-8, 1.0))  # the tracker's Adam learning rate


class MeanInkTerm(Regulariser):
    """One run's term: the tracker, its Adam, and a count of the steps it was told about."""

    stat_names = ("mean_ink", "ink_tracker")

    def __init__(self, options: MeanInkOptions, setup: RegulariserSetup) -> None:
        self.options = options
        with torch.random.fork_rng(devices=[]):  # initialised from the run's seed, apart from G's and D's
            torch.manual_seed(setup.seed + 11)
            self.tracker = setup.prepare_module(nn.Linear(1, 1, bias=False))
        self.optimizer = setup.make_optimizer(list(self.tracker.parameters()), options.lr)
        self.steps_seen = 0

    def networks(self) -> dict[str, nn.Module]:
        """Saved as ``mean_ink.tracker.*``."""
        return {"tracker": self.tracker}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The tracker's Adam."""
        return {"adam": self.optimizer}

    def own_parameters(self) -> list[nn.Parameter]:
        """What the own loss trains."""
        return list(self.tracker.parameters())

    def schedule(self, step: int) -> None:
        """Count the steps (the engine calls this before each one)."""
        self.steps_seen += 1

    def terms(self, view: StepView) -> Terms:
        """G's squared distance from the target brightness; the tracker's squared error."""
        ink = view.fake.float().mean()
        guess = self.tracker(torch.ones(1, 1, device=ink.device)).squeeze()
        return Terms(
            generator=self.options.weight * (ink - self.options.target) ** 2,
            own=(guess - ink.detach()) ** 2,
            stats={"mean_ink": ink, "ink_tracker": guess},
        )


class MeanInk(RegulariserPlugin):
    """G's mean brightness pushed towards a target."""

    options = MeanInkOptions

    def build(self, options: MeanInkOptions, setup: RegulariserSetup) -> MeanInkTerm:
        """The term for one run."""
        return MeanInkTerm(options, setup)


class MeanInkMetric(Metric):
    """Mean brightness of generated samples and of the data's test images, in [0, 1]."""

    order = 70
    description = "mean brightness of generated samples against the data's"

    def run(self, ctx: EvalContext) -> dict:
        """``--samples`` generated images (seeded by ``--seed``) and up to as many test images."""
        fake = ctx.model.sample(ctx.samples, seed=ctx.seed * 1_000_003 + 70)[0]  # images in [0, 1]
        n = min(ctx.samples, len(ctx.data))
        real = ctx.data.images(torch.arange(n, device=ctx.model.device)).float() / 255.0
        return {
            "generated": float(fake.float().mean()),
            "data": float(real.mean()),
            "samples": ctx.samples,
            "data_images": n,
        }


class InkLog(Callback):
    """Appends ``step mean_ink`` to ``RUN/mean-ink.txt`` at every checkpoint."""

    def __init__(self, info: RunInfo) -> None:
        self.path = info.run_dir / "mean-ink.txt"
        self.last: float | None = None

    def on_log(self, event: LogEvent) -> None:
        """Remember the interval's mean brightness."""
        self.last = event.metrics.get("mean_ink")

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        """Write it beside the checkpoint's step."""
        with self.path.open("a") as fh:
            fh.write(f"{event.step} {self.last}\n")


def make_ink_log(info: RunInfo) -> InkLog | None:
    """The callback, for runs that have the regulariser on."""
    table = info.assembly.config.loss.regularisers.get("mean_ink")
    return InkLog(info) if table and table.get("weight") else None


@hookimpl
def register_regularisers(register):
    """Register the term as ``mean_ink``."""
    register("mean_ink", MeanInk())


@hookimpl
def register_metrics(register):
    """Register the metric as ``mean_ink``."""
    register("mean_ink", MeanInkMetric())


@hookimpl
def register_callbacks(register):
    """Register the callback as ``ink_log``."""
    register("ink_log", make_ink_log)
