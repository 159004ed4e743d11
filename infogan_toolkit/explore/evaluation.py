"""A run's evaluation, found and drawn as HTML: L_I per code against what it can reach, the code x
factor information matrix as a heat map, the accuracy and the disentanglement metrics.

The same fragment goes into the live page and into the static report, so the two never disagree.
It is plain HTML and inline styles: no script, no picture to fetch.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..checkpoint import resolve_checkpoint
from ..files import read_bytes
from ..rundir import CHECKPOINTS_DIR, EXPORT_METADATA_FILE, eval_path

#: The largest evaluation file read (a real one is a few hundred kB).
MAX_EVALUATION_BYTES = 64 << 20


def find_evaluation(ref: str | Path, step: int) -> tuple[dict[str, Any] | None, str | None]:
    """The evaluation of checkpoint ``step`` that came with ``ref`` (a run's ``eval.json``, or an
    exported folder's ``metadata.json``) -> (evaluation, why none). Never raises for a missing or
    unreadable file: the page says so instead."""
    path = Path(ref).expanduser()
    try:
        if path.is_dir() and (path / EXPORT_METADATA_FILE).is_file():
            source = path / EXPORT_METADATA_FILE
            evaluation = json.loads(read_bytes(source, "export metadata", limit=MAX_EVALUATION_BYTES)).get("evaluation")
        else:
            checkpoint = resolve_checkpoint(path) if path.exists() else None
            run_dir = (
                checkpoint.parent.parent
                if checkpoint is not None and checkpoint.parent.name == CHECKPOINTS_DIR
                else None
            )
            if run_dir is None or not eval_path(run_dir).is_file():
                return None, "no eval.json beside the checkpoint (infogan-tk eval RUN writes one)"
            source = eval_path(run_dir)
            evaluation = json.loads(read_bytes(source, "evaluation", limit=MAX_EVALUATION_BYTES))
    except (OSError, ValueError, AttributeError) as exc:
        return None, f"the evaluation could not be read ({type(exc).__name__}: {exc})"
    except Exception as exc:  # noqa: BLE001 (a ToolkitError from the file checks: shown, not fatal)
        return None, f"the evaluation could not be read ({exc})"
    if not isinstance(evaluation, dict):
        return None, f"no evaluation came with {path}"
    if evaluation.get("step") != step:
        return (
            None,
            f"{source} is of step {evaluation.get('step')}, the model of step {step}; evaluate this checkpoint "
            "(infogan-tk eval)",
        )
    return evaluation, None


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else _e(value)


def _bar(fraction: float, colour: str = "#3b6fb6") -> str:
    width = max(0.0, min(1.0, fraction)) * 100
    return f'<span class="bar"><span class="fill" style="width:{width:.1f}%;background:{colour}"></span></span>'


def _information(evaluation: dict[str, Any], reaches: dict[str, float | None]) -> str:
    codes = (evaluation.get("mi") or {}).get("codes") or {}
    if not codes:
        return ""
    rows = []
    for name, code in codes.items():
        bound, entropy = code.get("L_I"), code.get("entropy")
        reach = code.get("reach") if isinstance(code.get("reach"), (int, float)) else reaches.get(name)
        ceiling = reach if isinstance(reach, (int, float)) else entropy
        bar = ""
        if code.get("discrete") or reach is not None:
            against = f"{_num(ceiling)} ({'what its head can reach' if reach is not None else 'H(c)'})"
            if isinstance(bound, (int, float)) and isinstance(ceiling, (int, float)):
                if ceiling > 0:  # a share of the ceiling, as a bar
                    bar = _bar(bound / ceiling)
                else:  # a continuous code's reach can be below 0 nats: a share of it means nothing, the gap does
                    against += f", {_num(max(0.0, ceiling - bound))} short of it"
        else:
            against = f"H(c) {_num(entropy)}; a differential entropy: no ceiling for a learned-std head"
        recovery = code.get("recovery") if isinstance(code.get("recovery"), dict) else {}
        measure, value = recovery.get("measure"), recovery.get("value")
        recovered = f"{_e(measure)} {_num(value)}" if measure and isinstance(value, (int, float)) else ""
        rows.append(
            f"<tr><td>{_e(name)}</td><td>{_e(code.get('prior', ''))}</td><td class='n'>{_num(bound)}</td>"
            f"<td>{bar}</td><td>{_e(against)}</td><td>{recovered}</td></tr>"
        )
    samples = (evaluation.get("mi") or {}).get("samples")
    return (
        "<h3>L<sub>I</sub> per code</h3>"
        f"<p class='note'>From {_e(samples)} generated samples, in nats, against what each code can reach; "
        "recovery is how often Q reads a category back, or the correlation of a continuous code with Q's reading.</p>"
        "<table "
        "class='eval-li'><tr><th>code</th><th>prior</th><th>L<sub>I</sub></th><th></th><th>against</th><th>recovery</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _heat(value: float, top: float) -> str:
    """White to dark blue as ``value`` goes from 0 to ``top``; text white on the dark half."""
    t = max(0.0, min(1.0, value / top)) if top > 0 else 0.0
    r, g, b = (int(255 + (c - 255) * t) for c in (24, 64, 140))
    return f"background:rgb({r},{g},{b});color:{'#fff' if t > 0.5 else '#111'}"


def _matrix(evaluation: dict[str, Any]) -> str:
    mig = evaluation.get("mig") or {}
    matrix = mig.get("mutual_information")
    if not matrix:
        return ""
    columns = (evaluation.get("representation") or {}).get("columns") or [f"column {i}" for i in range(len(matrix))]
    names = (evaluation.get("dataset") or {}).get("factor_names") or [f"factor {j}" for j in range(len(matrix[0]))]
    top = max((float(v) for row in matrix for v in row), default=0.0)
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    rows = "".join(
        f"<tr><th>{_e(col)}</th>"
        + "".join(f"<td class='n' style='{_heat(float(v), top)}'>{float(v):.3f}</td>" for v in row)
        + "</tr>"
        for col, row in zip(columns, matrix)
    )
    return (
        "<h3>Information between each code and each factor</h3>"
        "<p class='note'>Nats, from MIG's binned estimate on real images; darker holds more.</p>"
        f"<table class='heat'><tr><th></th>{head}</tr>{rows}</table>"
    )


def _accuracy(evaluation: dict[str, Any]) -> str:
    section = evaluation.get("accuracy") or {}
    codes = section.get("codes") or {}
    rows = [
        f"<tr><td>{_e(name)}</td><td>{_e(c.get('prior', ''))}</td><td class='n'>{c['accuracy']:.2%}</td>"
        f"<td>{_bar(c['accuracy'], '#2e8b57')}</td></tr>"
        for name, c in codes.items()
        if isinstance(c.get("accuracy"), (int, float))
    ]
    if not rows:
        return ""
    samples, of, split = _e(section.get("samples")), _e(section.get("of")), _e(section.get("split"))
    detail = f"Hungarian matching on {samples} of {of} {split} images."
    return (
        f"<h3>Accuracy against the labels</h3><p class='note'>{detail}</p>"
        "<table><tr><th>code</th><th>prior</th><th>accuracy</th><th></th></tr>" + "".join(rows) + "</table>"
    )


def _metrics(evaluation: dict[str, Any]) -> str:
    from ..evaluate.findings import evaluation_numbers

    rows = [r for r in evaluation_numbers(evaluation) if r[0] not in ("mi", "accuracy")]
    skipped = evaluation.get("skipped") or {}
    if not rows and not skipped:
        return ""
    out = "<h3>Disentanglement metrics</h3>"
    if rows:
        out += (
            "<table><tr><th>metric</th><th>quantity</th><th>value</th></tr>"
            + "".join(f"<tr><td>{_e(m)}</td><td>{_e(q)}</td><td class='n'>{_e(v)}</td></tr>" for m, q, v in rows)
            + "</table>"
        )
    if skipped:
        out += (
            "<ul class='note'>"
            + "".join(f"<li>{_e(m)}: not computed, {_e(r)}</li>" for m, r in skipped.items())
            + "</ul>"
        )
    return out


def evaluation_html(
    evaluation: dict[str, Any] | None, note: str | None, reaches: dict[str, float | None] | None = None
) -> str:
    """The evaluation section's inner HTML; ``note`` says why there is none; ``reaches`` gives each
    code's most reachable L_I where its head has one (else H(c) for a discrete code)."""
    if not evaluation:
        return f"<p class='note'>No evaluation: {_e(note or 'none came with this model')}.</p>"
    ds = evaluation.get("dataset") or {}
    where = f" on the {_e(ds.get('split'))} split of '{_e(ds.get('name'))}'" if ds else ""
    parts = [
        f"<p class='note'><code>infogan-tk eval</code> of step {_e(evaluation.get('step'))}{where}, seed "
        f"{_e(evaluation.get('seed'))}.</p>",
        _information(evaluation, reaches or {}),
        _accuracy(evaluation),
        _matrix(evaluation),
        _metrics(evaluation),
    ]
    return "".join(p for p in parts if p)


__all__ = ["evaluation_html", "find_evaluation"]
