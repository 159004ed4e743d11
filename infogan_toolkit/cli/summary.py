"""What `infogan-tk train` prints when it ends: where things are, what the codes learned, what to run next."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from rich.console import Console

from ..engine.progress import format_eta, information_summary
from ..evaluate.factor_map import DOMINANCE, factor_map
from ..evaluate.report import evaluate
from ..model import TrainedModel
from ..plugins import PluginHost
from ..rundir import figures_dir

#: What the end-of-run evaluation runs (each only where the data set allows it): cheap enough to
#: follow every run, and the same code and sizes as `infogan-tk eval --metrics ...`.
SUMMARY_METRICS = ("mi", "accuracy", "mig")


def evaluate_run(checkpoint: Path, device: Any, host: PluginHost, log: Any = None) -> dict:
    """``infogan-tk eval CHECKPOINT --metrics mi,accuracy,mig`` as a function, skipping what does not apply."""
    model = TrainedModel.load(checkpoint, device=device, host=host)
    result = evaluate(model, host, metrics=SUMMARY_METRICS, log=log, skip_inapplicable=True)
    return {"checkpoint": str(checkpoint), **result}


def _information_line(code: dict[str, Any]) -> str:
    """``L_I -0.250 of -0.226 reachable (H(c) 0.693); Q reads it back: correlation 0.981``."""
    reach = code.get("reach")
    line = f"L_I {code['L_I']:.3f}"
    line += (
        f" of {reach:.3f} reachable (H(c) {code['entropy']:.3f})"
        if reach is not None
        else f" (H(c) {code['entropy']:.3f}; no ceiling with this head)"
    )
    found = code.get("recovery")
    if found:
        line += (
            f"; Q reads it back: {found['measure']} {found['value']:.3f}"
            if found["measure"] == "correlation"
            else f"; Q reads it back: {found['value']:.1%} recovered"
        )
    return line


def category_contents(code: dict[str, Any]) -> str:
    """``0->7 98%, 1->2 97%, ...``: for each category of a discrete code, the label most of its images
    carry and that label's share of them (the confusion's top row per column); '' without one."""
    confusion = code.get("confusion")
    if not confusion:
        return ""
    parts = []
    for category in range(len(confusion[0])):
        column = [row[category] for row in confusion]
        total = sum(column)
        if total == 0:
            parts.append(f"{category}->none")
            continue
        top = max(range(len(column)), key=column.__getitem__)
        parts.append(f"{category}->{top} {column[top] / total:.0%}")
    return ", ".join(parts)


def print_summary(
    console: Console,
    run: dict[str, Any],
    evaluation: dict[str, Any] | None,
    evaluation_error: str | None,
    eval_file: Path | None,
) -> None:
    """Print the end-of-run summary; ``run`` is the train command's JSON summary."""
    run_dir = Path(run["run_dir"])
    say = lambda line="": console.print(line, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    state = "stopped" if run["interrupted"] else "done"
    say(
        f"{state}: step {run['step']} of {run['steps']} in {format_eta(run['seconds'])} "
        f"({run['images_per_second']:,.0f} img/s)"
    )
    say(f"  run directory  {run_dir}")
    say(f"  checkpoint     {run['checkpoint']}")
    figures = figures_dir(run_dir)
    if figures.is_dir():
        latest = [sorted(figures.glob(f"{kind}-*.png"))[-1:] for kind in ("traversal", "samples")]
        shown = [p.name for found in latest for p in found] + [p.name for p in figures.glob("information.png")]
        say(f"  figures        {figures}/ ({', '.join(shown)})")

    information = (evaluation or {}).get("mi")
    if information:
        say(
            "each code: L_I against the most its head can reach, and how well Q reads it back "
            f"({information['samples']} generated samples):"
        )
        for name, code in information["codes"].items():
            say(f"  {name} {code['prior']:<10} {_information_line(code)}")
    elif run.get("metrics"):
        metrics = run["metrics"]
        names = [k[3:] for k in metrics if k.startswith("li_")]
        say(f"L_I per code against the most it can reach, last log interval: {information_summary(metrics, names)}")

    if evaluation_error:
        say(f"evaluation skipped: {evaluation_error}")
    elif evaluation:
        dataset = evaluation.get("dataset") or {}
        accuracy = evaluation.get("accuracy")
        if accuracy:
            say(
                f"categorical codes against the labels of '{dataset.get('name')}' (Hungarian matching, "
                f"{accuracy['samples']} images):"
            )
            for name, code in accuracy["codes"].items():
                say(f"  {name} {code['prior']:<10} accuracy {code['accuracy']:.1%}")
                held = category_contents(code)
                if held:
                    say(f"    category->its most common label, that label's share of it: {held}")
        rows = factor_map(evaluation)
        if rows:
            say(
                f"what each code holds (mutual information with each factor, nats; alone = at least {DOMINANCE:g}x "
                "the next):"
            )
            for row in rows:
                verdict = "alone" if row["holds_alone"] else "shared"
                say(
                    f"  {row['column']:<10} {row['factor']} {row['information']:.3f}, next {row['runner_up']} "
                    f"{row['runner_up_information']:.3f} ({row['ratio']:.1f}x, {verdict})"
                )
            say(f"  MIG {evaluation['mig']['mig']:.3f}")
        for metric, reason in evaluation.get("skipped", {}).items():
            say(f"  {metric}: not computed, {reason}")
        if eval_file is not None:
            say(f"  written to {eval_file}")

    quoted = shlex.quote(str(run_dir))
    more = 2 * run["steps"] if not run["interrupted"] else run["steps"]
    say("next:")
    say(f"  every metric (SAP, DCI, FactorVAE too)  infogan-tk eval {quoted}")
    say(
        f"  one labelled sheet per code             infogan-tk traverse {quoted} --out "
        f"{shlex.quote(str(run_dir / 'traversals'))}"
    )
    say(
        f"  a grid of samples                       infogan-tk sample {quoted} --n 64 --out "
        f"{shlex.quote(str(run_dir / 'samples.png'))}"
    )
    say(f"  train on                                infogan-tk train --resume {quoted} --steps {more}")
