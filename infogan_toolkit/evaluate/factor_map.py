"""Which ground-truth factor each code holds, read off the MIG report's code-by-factor information matrix."""

from __future__ import annotations

from typing import Any

#: A code "holds" a factor when its top factor has at least this many times the information of the next.
DOMINANCE = 2.0


def factor_map(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per representation column of an ``evaluate`` result that has ``mig``:
    the column, its top factor and the information (nats) about it, the runner-up, their ratio,
    and whether the column holds its top factor alone (ratio >= :data:`DOMINANCE`).

    Returns ``[]`` when the result has no MIG report.
    """
    mig = evaluation.get("mig")
    representation = evaluation.get("representation")
    dataset = evaluation.get("dataset") or {}
    if not mig or not representation:
        return []
    names = dataset.get("factor_names") or [f"factor{j}" for j in range(len(mig["mutual_information"][0]))]
    rows = []
    for column, information in zip(representation["columns"], mig["mutual_information"]):
        order = sorted(range(len(information)), key=lambda j: information[j], reverse=True)
        top = order[0]
        second = order[1] if len(order) > 1 else None
        top_mi = float(information[top])
        second_mi = float(information[second]) if second is not None else 0.0
        ratio = top_mi / second_mi if second_mi > 0 else float("inf")
        rows.append(
            {
                "column": column,
                "factor": names[top],
                "information": top_mi,
                "runner_up": names[second] if second is not None else None,
                "runner_up_information": second_mi,
                "ratio": ratio,
                "holds_alone": ratio >= DOMINANCE,
            }
        )
    return rows
