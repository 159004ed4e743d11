"""How a training run shows its progress: a live bar on a terminal, one plain line per log interval elsewhere.

A log file (CI, ``nohup``, a cluster's job log) cannot redraw a bar: rich would write a frame cut at
the console's width, or nothing at all. There each log interval becomes one complete line instead.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class ProgressReporter(Protocol):
    """What the training loop tells about its progress; a context manager around the loop."""

    def __enter__(self) -> "ProgressReporter": ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def advance(self, step: int) -> None:
        """Called after every step, so it must not do host work beyond a counter."""

    def log(self, step: int, metrics: dict[str, float], code_names: list[str], images_per_second: float) -> None:
        """Called at each log interval with the interval's averaged metrics."""


def format_eta(seconds: float) -> str:
    """``1h02m``, ``3m07s`` or ``12s``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def information_summary(metrics: dict[str, float], code_names: list[str]) -> str:
    """``c1=2.29/2.30 c2=-0.25/-0.23 ...``: L_I of each code next to the most its head lets it reach
    (``reach_NAME``: H(c) for a categorical code, below it for a fixed-std Gaussian); a code whose
    head has no ceiling (a learned std) shows L_I alone."""
    parts = []
    for n in code_names:
        reach = metrics.get(f"reach_{n}")
        parts.append(f"{n}={metrics[f'li_{n}']:.2f}" + ("" if reach is None else f"/{reach:.2f}"))
    return " ".join(parts)


class LiveProgress:
    """A rich progress bar, redrawn in place (for a terminal)."""

    # A terminal line holds the first few codes; metrics.jsonl has all of them.
    SHOWN_CODES = 4

    def __init__(self, console: Console, total: int, start: int) -> None:
        self._bar = Progress(
            TextColumn("[bold]train[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=False,
        )
        self._task = self._bar.add_task("train", total=total, completed=start, rate="", info="")

    def __enter__(self) -> "LiveProgress":
        self._bar.__enter__()
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self._bar.__exit__(kind, exc, tb)

    def advance(self, step: int) -> None:
        """Move the bar."""
        self._bar.update(self._task, completed=step)

    def log(self, step: int, metrics: dict[str, float], code_names: list[str], images_per_second: float) -> None:
        """Show the interval's losses and L_I beside the bar."""
        li = information_summary(metrics, code_names[: self.SHOWN_CODES])
        info = f"D {metrics['loss_d']:.3f} G {metrics['loss_g']:.3f} L_I/max {li}"
        self._bar.update(self._task, rate=f"{images_per_second:,.0f} img/s", info=info)


class NoProgress:
    """Nothing at all (``--quiet``, or a rank other than 0)."""

    def __enter__(self) -> "NoProgress":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        return None

    def advance(self, step: int) -> None:
        """Nothing."""

    def log(self, step: int, metrics: dict[str, float], code_names: list[str], images_per_second: float) -> None:
        """Nothing."""


class LineProgress(NoProgress):
    """One plain, complete line per log interval (for a log file or a pipe); nothing per step."""

    def __init__(self, console: Console, total: int, batch_size: int) -> None:
        self._console = console
        self._total = total
        self._batch = batch_size
        self._width = len(str(total))

    def log(self, step: int, metrics: dict[str, float], code_names: list[str], images_per_second: float) -> None:
        """Write step, losses, L_I per code, speed and the time left, as one line."""
        left = (self._total - step) * self._batch / images_per_second if images_per_second > 0 else 0.0
        line = (
            f"step {step:>{self._width}}/{self._total} D {metrics['loss_d']:.3f} G {metrics['loss_g']:.3f} "
            f"L_I/max {information_summary(metrics, code_names)} {images_per_second:,.0f} img/s ETA {format_eta(left)}"
        )
        # soft_wrap: never break the line at the console's width; markup off: names are plain text.
        self._console.print(line, soft_wrap=True, markup=False, highlight=False)


def make_progress(console: Console, shown: bool, total: int, start: int, batch_size: int) -> ProgressReporter:
    """The reporter that suits where ``console`` writes: live on a terminal, lines otherwise."""
    if not shown:
        return NoProgress()
    if console.is_terminal:
        return LiveProgress(console, total, start)
    return LineProgress(console, total, batch_size)
