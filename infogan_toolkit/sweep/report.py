"""``infogan-tk sweep report``: each setting's metrics over its seeds (median, min, max and a
bootstrap confidence interval of the median), the run chosen without labels, as a table, Markdown,
JSON and a plot.

Every number comes from a run's own ``eval.json``. Settings are compared only on the same metrics
computed with the same sizes: a run whose evaluation used other sizes than the sweep's is left out
of the numbers and named.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ToolkitError
from ..files import write_file
from ..rundir import eval_path
from .runner import read_manifest
from .selection import spearman

#: Bootstrap resamples and level of the median's confidence interval.
BOOTSTRAP = 2000
LEVEL = 0.95


def bootstrap_interval(
    values: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP, level: float = LEVEL
) -> tuple[float, float]:
    """The percentile bootstrap interval of the median of ``values`` (resampling seeds with
    replacement); one value gives a zero-width interval."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ToolkitError("no values to bootstrap")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    medians = np.median(x[rng.integers(0, x.size, size=(resamples, x.size))], axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(medians, tail)), float(np.quantile(medians, 1 - tail))


def metric_values(
    evaluation: dict[str, Any], summarise: Callable[[str, dict], list[tuple[str, float, str]]]
) -> dict[str, float]:
    """Named numbers of one ``eval.json``: ``mig``, ``accuracy c1 Cat(3)``, ... from each metric's summary rows."""
    out = {}
    for name, result in evaluation.items():
        if not isinstance(result, dict):
            continue
        try:
            rows = summarise(name, result)
        except (
            KeyError,
            TypeError,
            ValueError,
            ToolkitError,
        ):  # not a metric's section (dataset, sizes) or not its shape
            continue
        for of, value, _detail in rows:
            if isinstance(value, (int, float)) and np.isfinite(value):
                out[f"{name} {of}".strip()] = float(value)
    return out


def collect(sweep_dir: Path, summarise: Callable[[str, dict], list[tuple[str, float, str]]]) -> dict[str, Any]:
    """Read the manifest and every done run's ``eval.json``: per run its numbers, per setting the
    statistics of each metric over seeds. Runs without an evaluation are listed with why."""
    manifest = read_manifest(sweep_dir)
    spec = manifest["spec"]
    wanted_sizes = None
    runs = []
    for run in manifest["runs"]:
        entry = {k: run.get(k) for k in ("id", "setting", "label", "seed", "dir", "status", "error")}
        path = eval_path(Path(sweep_dir) / run["dir"])
        if run.get("status") != "done":
            entry["excluded"] = f"status {run.get('status')}" + (f": {run['error']}" if run.get("error") else "")
        elif not path.is_file():
            entry["excluded"] = "no eval.json"
        else:
            try:
                evaluation = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                entry["excluded"] = f"eval.json unreadable: {exc}"
            else:
                sizes = evaluation.get("sizes")
                wanted_sizes = wanted_sizes if wanted_sizes is not None else sizes
                if sizes != wanted_sizes:
                    entry["excluded"] = "evaluated with other sizes than the sweep's first run; not comparable"
                else:
                    entry["metrics"] = metric_values(evaluation, summarise)
                    entry["dataset"] = (evaluation.get("dataset") or {}).get("name")
        runs.append(entry)
    settings = []
    for index in sorted({r["setting"] for r in runs}):
        members = [r for r in runs if r["setting"] == index]
        scored = [r for r in members if "metrics" in r]
        names = sorted({m for r in scored for m in r["metrics"]})
        stats = {}
        for name in names:
            pairs = [(r["seed"], r["metrics"][name]) for r in scored if name in r["metrics"]]
            values = [v for _, v in pairs]
            low, high = bootstrap_interval(values, seed=index)
            stats[name] = {
                "n": len(values),
                "median": float(np.median(values)),
                "min": float(min(values)),
                "max": float(max(values)),
                "ci_low": low,
                "ci_high": high,
                "seeds": [s for s, _ in pairs],
                "values": values,
            }
        settings.append(
            {
                "setting": index,
                "label": members[0]["label"],
                "runs": len(members),
                "evaluated": len(scored),
                "metrics": stats,
            }
        )
    return {
        "sweep": str(sweep_dir),
        "spec": spec,
        "sizes": wanted_sizes,
        "level": LEVEL,
        "bootstrap": BOOTSTRAP,
        "runs": runs,
        "settings": settings,
    }


def add_agreement(report: dict[str, Any], scores: dict[str, float], supervised: set[str], method: str) -> None:
    """Put each setting's unsupervised ranking into ``report``: the chosen run (highest score) and
    why, each run's score, and Spearman's rho of the scores against each supervised metric."""
    for setting in report["settings"]:
        members = [r for r in report["runs"] if r["setting"] == setting["setting"] and r["id"] in scores]
        if not members:
            continue
        best = max(members, key=lambda r: scores[r["id"]])
        ranked = sorted(members, key=lambda r: -scores[r["id"]])
        agreement = {}
        for name in setting["metrics"]:
            if name.split(" ")[0] not in supervised:
                continue
            have = [r for r in members if name in r.get("metrics", {})]
            agreement[name] = {
                "rho": spearman([scores[r["id"]] for r in have], [r["metrics"][name] for r in have]),
                "n": len(have),
            }
        setting["selection"] = {
            "method": method,
            "chosen": best["id"],
            "seed": best["seed"],
            "why": _why(method, ranked, scores),
            "scores": {r["id"]: scores[r["id"]] for r in ranked},
            "agreement": agreement,
        }


def _why(method: str, ranked: list[dict[str, Any]], scores: dict[str, float]) -> str:
    """Why the first of ``ranked`` is chosen, in one sentence."""
    top = scores[ranked[0]["id"]]
    if len(ranked) == 1:
        return f"the only run scored ({method} {top:.3f})"
    tied = [r["id"] for r in ranked[1:] if scores[r["id"]] == top]
    if tied:
        return (
            f"{method} {top:.3f}, tied with {', '.join(tied)}; the first of them is taken "
            "(with two runs UDR cannot tell them apart)"
        )
    return (
        f"highest {method} of the {len(ranked)} runs of this setting ({top:.3f}; next {scores[ranked[1]['id']]:.3f}): "
        "its codes agree most with the other seeds' codes, up to permutation and sign"
    )


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def rows(report: dict[str, Any]) -> list[list[str]]:
    """Table rows: setting, metric, n, median, min, max, interval."""
    out = []
    for s in report["settings"]:
        for name, st in s["metrics"].items():
            out.append(
                [
                    f"s{s['setting']:02d} {s['label']}",
                    name,
                    str(st["n"]),
                    _f(st["median"]),
                    _f(st["min"]),
                    _f(st["max"]),
                    f"[{_f(st['ci_low'])}, {_f(st['ci_high'])}]",
                ]
            )
    return out


HEADER = ["setting", "metric", "seeds", "median", "min", "max", f"{LEVEL:.0%} CI of median"]


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: the statistics table, the chosen runs with their agreement, the runs left out."""
    lines = [
        f"# Sweep report: {report['sweep']}",
        "",
        (
            f"Median over seeds, min, max and a {report['level']:.0%} percentile-bootstrap interval of the median "
            f"({report['bootstrap']} resamples), from each run's eval.json (sizes {json.dumps(report['sizes'])})."
        ),
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows(report)]
    chosen = [s for s in report["settings"] if "selection" in s]
    if chosen:
        lines += ["", "## Chosen without labels", ""]
        for s in chosen:
            sel = s["selection"]
            lines.append(f"- s{s['setting']:02d} {s['label']}: **{sel['chosen']}** (seed {sel['seed']}), {sel['why']}.")
            for name, a in sel["agreement"].items():
                lines.append(f"  - Spearman rho of {sel['method']} with {name} over {a['n']} runs: {_f(a['rho'])}")
            lines.append(f"  - {sel['method']} by run: " + ", ".join(f"{k} {v:.3f}" for k, v in sel["scores"].items()))
    left = [r for r in report["runs"] if "excluded" in r]
    if left:
        lines += ["", "## Runs left out", ""] + [f"- {r['id']}: {r['excluded']}" for r in left]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], out: Path) -> Path | None:
    """One panel per metric: each setting's seeds as dots, its median and interval as a bar; None
    when there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({n for s in report["settings"] for n in s["metrics"]})
    if not names:
        return None
    fig, axes = plt.subplots(
        len(names), 1, figsize=(max(4, 1.2 * len(report["settings"]) + 2), 2.4 * len(names)), squeeze=False
    )
    for ax, name in zip(axes[:, 0], names):
        labels = []
        for x, s in enumerate(report["settings"]):
            labels.append(f"s{s['setting']:02d}")
            st = s["metrics"].get(name)
            if st is None:
                continue
            jitter = np.linspace(-0.12, 0.12, len(st["values"])) if len(st["values"]) > 1 else [0.0]
            ax.scatter(x + np.asarray(jitter), st["values"], s=14, color="tab:blue", alpha=0.7, zorder=3)
            ax.errorbar(
                [x + 0.25],
                [st["median"]],
                yerr=[[st["median"] - st["ci_low"]], [st["ci_high"] - st["median"]]],
                fmt="s",
                color="black",
                capsize=4,
                markersize=4,
                zorder=4,
            )
        ax.set_xticks(range(len(labels)), labels)
        ax.set_title(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    picture = io.BytesIO()
    fig.savefig(picture, format="png", dpi=110)
    plt.close(fig)
    write_file(out, picture.getvalue())
    return out


def write_outputs(report: dict[str, Any], folder: Path) -> dict[str, Path]:
    """report.json, report.md and report.png in ``folder``."""
    written = {"json": folder / "report.json", "markdown": folder / "report.md"}
    write_file(written["json"], json.dumps(report, indent=2, default=str) + "\n")
    write_file(written["markdown"], markdown(report))
    figure = plot(report, folder / "report.png")
    if figure is not None:
        written["plot"] = figure
    return written
