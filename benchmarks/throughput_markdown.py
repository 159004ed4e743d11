"""Render throughput JSON files written by benchmarks/throughput.py as one markdown table.

python benchmarks/throughput_markdown.py research/results/throughput-cpu-*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _f(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(paths: list[Path]) -> str:
    """One table with a row per measurement, then the machine, peak and command of each file."""
    lines = [
        "| backbone | batch | variant | img/s (median) | limit img/s | vs plain loop | GFLOP/step | achieved GFLOP/s "
        "| of matmul peak | peak MiB | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for path in paths:
        report = json.loads(path.read_text())
        for r in report["results"]:
            flops = r.get("flops_per_step")
            achieved = r.get("achieved_flops_per_s")
            ratio = r.get("peak_ratio")
            lines.append(
                f"| {r['backbone']} | {r['batch_size']} | {r['variant']} | {_f(r.get('img_per_s'), '.0f')} | "
                f"{_f(r.get('peak_img_per_s'), '.0f')} | "
                f"{_f(r.get('engine_over_plain'), '.2f')}{'x' if r.get('engine_over_plain') else ''} | "
                f"{_f(flops / 1e9 if flops else None, '.2f')} | {_f(achieved / 1e9 if achieved else None, '.0f')} | "
                f"{_f(ratio * 100 if ratio else None, '.0f')}{'%' if ratio else ''} | "
                f"{_f(r.get('peak_memory_mib'), '.0f')} | {r['status']} |"
            )
        m, p = report["machine"], report["peak"]
        peaks = ", ".join(
            f"{k.removesuffix('_flops_per_s').replace('_', ' ')} {v / 1e9:.0f} GFLOP/s"
            for k, v in p.items()
            if k.endswith("flops_per_s") and v
        )
        capability = f" ({m['cpu_capability']})" if m.get("cpu_capability") and m.get("device_type") == "cpu" else ""
        at = f"commit `{m['commit']}`, " if m.get("commit") else ""
        notes.append(
            f"- `{path.name}`: {at}{m['device_name']}{capability}, {m['threads']} threads, torch {m['torch_version']}; "
            f"matmul peak {peaks}; command: `{report['command']}`"
        )
    return "\n".join(lines + [""] + notes) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render([Path(a) for a in sys.argv[1:]]))
