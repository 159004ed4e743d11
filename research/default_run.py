"""The default run on held-out seeds (issue 43): `infogan-tk train` with no arguments, each seed
timed as a whole process, recorded under the results protocol (docs/results/README.md).

    python research/default_run.py --seeds 100 101 102 103 104
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        python research/default_run.py --seeds 100 --variant "AVX-512 hidden"
    python research/default_run.py --seeds 100 101 102 --variant glyphs --results research/results/glyphs-heldout --
    --config glyphs

Each record carries the commit, a hash of the resolved config, the seed, the machine (CPU model,
capability, measured fp32 matmul peak), the variables that cap the instruction set, torch's
version, wall time and peak memory; RESULTS.md is rewritten from every record. Every run is
recorded, pass or fail. Run nothing else on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
from pathlib import Path

import torch
from fast_mnist import numerics_precision, own_category_shares
from first_run import matmul_peak_gflops, timed_train

from infogan_toolkit.engine.devices import cpu_model

ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def commit() -> str:
    """HEAD's commit, with ``-dirty`` when tracked files differ from it."""
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = (
        subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "infogan_toolkit", "plugins", "configs"]).returncode
        != 0
    )
    return head + ("-dirty" if dirty else "")


def category_tops(accuracy: dict) -> list[list]:
    """Per category: its most common label and that label's share of it (None for an empty category)."""
    confusion = accuracy["confusion"]
    tops = []
    for category in range(len(confusion[0])):
        column = [row[category] for row in confusion]
        total = sum(column)
        top = max(range(len(column)), key=column.__getitem__)
        tops.append([top, column[top] / total] if total else [None, 0.0])
    return tops


def run_seed(seed: int, runs: Path, train_args: list[str]) -> dict:
    """Train and evaluate one seed as a user would; the record of it."""
    peak = matmul_peak_gflops()
    run_dir, evaluation, record = timed_train(seed, runs, train_args)
    log = (runs / f"seed{seed}.log").read_text()
    config_text = (run_dir / "config.toml").read_bytes()
    record.update(
        {
            "commit": commit(),
            "config_sha256": hashlib.sha256(config_text).hexdigest()[:16],
            "precision": numerics_precision(log),
            "machine": f"{cpu_model()} ({torch.backends.cpu.get_cpu_capability()})",
            "isa_limits": {k: os.environ[k] for k in ISA_VARIABLES if k in os.environ},
            "fp32_matmul_gflops": round(peak, 1),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "L_I": {n: c["L_I"] for n, c in evaluation["mi"]["codes"].items()},
            "reach": {n: c.get("reach") for n, c in evaluation["mi"]["codes"].items()},
            "recovery": {n: (c.get("recovery") or {}).get("value") for n, c in evaluation["mi"]["codes"].items()},
        }
    )
    accuracy = (evaluation.get("accuracy") or {}).get("codes", {}).get("c1")
    if accuracy:
        record.update(
            {
                "accuracy": accuracy["accuracy"],
                "own_category": own_category_shares(accuracy),
                "category_tops": category_tops(accuracy),
            }
        )
    if "mig" in evaluation:
        record["mig"] = evaluation["mig"]["mig"]
    return record


def table(records: list[dict]) -> str:
    """The markdown page: one row per run, then each variant's accuracy over its seeds."""
    lines = [
        "| variant | seed | commit | config | precision | wall s | peak MB | accuracy | Q's read-back per code | "
        "machine | fp32 GFLOP/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        readback = ", ".join(f"{n} {v:.3f}" for n, v in r["recovery"].items() if v is not None)
        accuracy = f"{r['accuracy']:.2%}" if "accuracy" in r else "-"
        lines.append(
            f"| {r.get('variant', 'default')} | {r['seed']} | {r['commit']} | {r['config_sha256']} | {r['precision']} "
            "| "
            f"{r['wall_s']:.0f} | {r['max_rss_mb']:.0f} | {accuracy} | {readback} | {r['machine']} | "
            f"{r['fp32_matmul_gflops']:.0f} |"
        )
    lines.append("")
    for variant in dict.fromkeys(r.get("variant", "default") for r in records):
        rs = [r for r in records if r.get("variant", "default") == variant and "accuracy" in r]
        if rs:
            acc = [r["accuracy"] for r in rs]
            lines.append(
                f"`{variant}`: {len(rs)} runs, accuracy median {statistics.median(acc):.2%}, min {min(acc):.2%}, max "
                f"{max(acc):.2%}; "
                f"wall {min(r['wall_s'] for r in rs):.0f}-{max(r['wall_s'] for r in rs):.0f} s."
            )
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="Seeds to run (none: only rewrite the table).")
    parser.add_argument("--runs", type=Path, default=Path("runs/default-run"))
    parser.add_argument("--variant", default=None, help="A name for TRAIN_ARGS or the environment, in the table.")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("research/results/default-run"),
        help="RESULTS: records go to RESULTS.jsonl, the table to RESULTS.md.",
    )
    parser.add_argument("train_args", nargs="*", metavar="-- TRAIN_ARGS", help="More `infogan-tk train` arguments.")
    args = parser.parse_args()
    jsonl, markdown = args.results.with_suffix(".jsonl"), args.results.with_suffix(".md")
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        record = run_seed(seed, args.runs, args.train_args)
        if args.variant:
            record["variant"] = args.variant
        with jsonl.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(f"seed {seed}: {record.get('accuracy', float('nan')):.2%} in {record['wall_s']:.0f} s", flush=True)
    records = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()] if jsonl.is_file() else []
    markdown.write_text(f"<!-- generated by research/default_run.py; do not edit by hand -->\n\n{table(records)}")


if __name__ == "__main__":
    main()
