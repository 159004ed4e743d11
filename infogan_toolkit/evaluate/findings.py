"""What an evaluation found, in words and table rows: what each code is known to control and the
headline numbers of each metric. The model card of an export and the explore page both show them."""

from __future__ import annotations

from typing import Any

from .factor_map import factor_map


def short_number(v: float) -> str:
    """A number as a table shows it: four significant digits."""
    return f"{v:.4g}"


def code_findings(evaluation: dict[str, Any] | None) -> dict[str, list[str]]:
    """Code name -> what the evaluation found it controls: its accuracy against the labels (a
    discrete code) and the factor it holds most information about (where the data set has factors)."""
    found: dict[str, list[str]] = {}
    if not evaluation:
        return found
    dataset = (evaluation.get("dataset") or {}).get("name")
    for name, row in ((evaluation.get("accuracy") or {}).get("codes") or {}).items():
        if isinstance(row.get("accuracy"), (int, float)):
            found.setdefault(name, []).append(
                f"the labels of '{dataset}' at {row['accuracy']:.1%} accuracy (Hungarian matching)"
            )
    for row in factor_map(evaluation):
        code = row["column"].split("[")[0]
        verdict = "alone" if row["holds_alone"] else "shared with others"
        found.setdefault(code, []).append(
            f"{row['column']}: factor '{row['factor']}' ({short_number(row['information'])} nats, "
            f"next '{row['runner_up']}' {short_number(row['runner_up_information'])}; {verdict})"
        )
    return found


def evaluation_numbers(evaluation: dict[str, Any]) -> list[list[str]]:
    """(metric, quantity, value) rows: every number at the top of each metric's section, and each
    code's L_I against H(c)."""
    rows = []
    for name, code in ((evaluation.get("mi") or {}).get("codes") or {}).items():
        rows.append(
            [
                "mi",
                f"L_I of {name} ({code.get('prior')})",
                f"{short_number(code['L_I'])} of H(c) {short_number(code['entropy'])}",
            ]
        )
    for name, code in ((evaluation.get("accuracy") or {}).get("codes") or {}).items():
        if isinstance(code.get("accuracy"), (int, float)):
            rows.append(["accuracy", f"{name} against the labels", f"{code['accuracy']:.2%}"])
    for metric, section in evaluation.items():
        if metric in ("mi", "accuracy", "sizes", "dataset", "representation", "seconds") or not isinstance(
            section, dict
        ):
            continue
        for key, value in section.items():
            if isinstance(value, float):
                rows.append([metric, key, short_number(value)])
    return rows
