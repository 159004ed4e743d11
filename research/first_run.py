"""The glyphs check: `infogan-tk train --config glyphs` (the lab's config, from
research/plugins/infogan-tk-lab; it was the toolkit's default before the MNIST one) on several
seeds, timed as a whole process, and whether each run meets the bar set for it.

    python research/first_run.py --seeds 100 101 102
    python research/first_run.py --seeds 100 --variant "two codes" -- --codes cat3,unif2

For each seed it runs ``/usr/bin/time -v infogan-tk train --config glyphs --seed S --out RUNS/seedS``,
reads the evaluation the command writes at the end (``RUN/eval.json``, the same code as
``infogan-tk eval --metrics mi,accuracy,mig``), and appends one record per seed to
``RESULTS.jsonl``; then it rewrites ``RESULTS.md`` from every record. Every seed run is recorded,
pass or fail. Run nothing else on the machine meanwhile.

The bar, per run:
  * every categorical code reaches at least 90% unsupervised (Hungarian) accuracy on the labels;
  * every continuous code's top factor has at least twice the information of its second, and no
    two continuous codes share a top factor;
  * the whole process takes at most 10 minutes of wall time;
  * the picture: each continuous code moves its top factor the same way in every category, visibly
    in each (a position code along its own axis, the other moving under half as far), and no
    category draws more than 5% of its fakes empty (``code_sweep.picture_check``
    on the run's last checkpoint; this part of the bar is not timed).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from code_sweep import MAX_BLANK_SHARE, blank_shares, picture_check, sweep

from infogan_toolkit import load_checkpoint
from infogan_toolkit.engine.devices import cpu_model
from infogan_toolkit.evaluate.factor_map import DOMINANCE, factor_map

MIN_ACCURACY = 0.90
MAX_WALL_S = 600.0


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Median fp32 GFLOP/s of a ``size`` x ``size`` matmul on this CPU."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


#: The config this check is about (the lab plugin's).
CONFIG = "glyphs"


def parse_time_v(text: str) -> dict:
    """Wall seconds and peak resident memory from GNU time's ``-v`` report."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    seconds = 0.0
    if wall:
        for part in wall.group(1).split(":"):
            seconds = seconds * 60 + float(part)
    return {"wall_s": seconds if wall else None, "max_rss_mb": int(rss.group(1)) / 1024 if rss else None}


def judge(evaluation: dict) -> dict:
    """The bar's verdicts for one run's eval.json."""
    accuracy = {name: c["accuracy"] for name, c in (evaluation.get("accuracy") or {}).get("codes", {}).items()}
    rows = factor_map(evaluation)
    discrete = set(accuracy)
    continuous = [r for r in rows if r["column"].split("[")[0] not in discrete]
    tops = [r["factor"] for r in continuous]
    return {
        "accuracy": accuracy,
        "factor_map": rows,
        "categorical_ok": bool(accuracy) and all(a >= MIN_ACCURACY for a in accuracy.values()),
        "continuous_alone": all(r["holds_alone"] for r in continuous),
        "continuous_distinct": len(set(tops)) == len(tops),
    }


def timed_train(seed: int, runs: Path, train_args: list[str]) -> tuple[Path, dict, dict]:
    """Run ``/usr/bin/time -v infogan-tk train --seed SEED --out RUNS/seedSEED TRAIN_ARGS`` afresh;
    the run directory, its ``eval.json`` and a record start: the command, wall time and peak memory."""
    run_dir = runs / f"seed{seed}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    command = ["/usr/bin/time", "-v", "infogan-tk", "train", "--seed", str(seed), "--out", str(run_dir), *train_args]
    log = runs / f"seed{seed}.log"
    runs.mkdir(parents=True, exist_ok=True)
    with log.open("w") as stderr:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    if done.returncode != 0:
        sys.exit(f"error: seed {seed} failed (exit {done.returncode}); see {log}")
    evaluation = json.loads((run_dir / "eval.json").read_text())
    return (
        run_dir,
        evaluation,
        {"seed": seed, "command": " ".join(command[2:]), "run_dir": str(run_dir), **parse_time_v(log.read_text())},
    )


def run_seed(seed: int, runs: Path, train_args: list[str]) -> dict:
    run_dir, evaluation, record = timed_train(seed, runs, ["--config", CONFIG, *train_args])
    record.update(judge(evaluation))
    record["codes"] = evaluation["codes"]
    record["mutual_information"] = evaluation["mig"]["mutual_information"]
    record["columns"] = evaluation["representation"]["columns"]
    record["factor_names"] = evaluation["dataset"]["factor_names"]
    record["L_I"] = {name: c["L_I"] for name, c in evaluation["mi"]["codes"].items()}
    record["time_ok"] = record["wall_s"] is not None and record["wall_s"] <= MAX_WALL_S
    return judge_picture(record)


def same_run(record: dict) -> bool:
    """Whether ``record``'s run directory still holds that run (not gone, nor overwritten by a later one)."""
    evaluation = Path(record["run_dir"]) / "eval.json"
    if not evaluation.is_file():
        return False
    codes = json.loads(evaluation.read_text())["mi"]["codes"]
    return {name: c["L_I"] for name, c in codes.items()} == record["L_I"]


def judge_picture(record: dict) -> dict:
    """``record`` with the picture check of its run's last checkpoint, and ``passed`` over every verdict."""
    model = load_checkpoint(record["run_dir"], device="cpu")
    factor_of_code = {r["column"]: r["factor"] for r in record["factor_map"]}
    record["picture"] = picture_check(sweep(model), blank_shares(model), factor_of_code)
    record["picture_ok"] = record["picture"]["ok"]
    record["passed"] = (
        record["categorical_ok"]
        and record["continuous_alone"]
        and record["continuous_distinct"]
        and record["time_ok"]
        and record["picture_ok"]
    )
    return record


def picture_verdict(record: dict) -> str:
    """The picture check in a few words: ``ok``, what failed, or ``-`` for a record made before it existed."""
    picture = record.get("picture")
    if picture is None:
        return "-"
    if picture["ok"]:
        return "ok"
    faults = []
    for code, c in picture["codes"].items():
        if not c["measured"]:
            continue
        if not c["alike"]:
            faults.append(f"{code} moves {c['factor']} unlike across categories")
        if not c["visible"]:
            faults.append(f"{code} barely moves {c['factor']} in some category")
        if not c["straight"]:
            faults.append(f"{code} moves {c['factor']} on a diagonal")
    faults += [
        f"category {b['category']} {b['blank_share']:.0%} empty"
        for b in picture["blank"]
        if b["blank_share"] > MAX_BLANK_SHARE
    ]
    return "; ".join(faults)


def table(records: list[dict]) -> str:
    lines = [
        "| variant | codes | seed | wall s | peak MB | accuracy | continuous code -> top factor (ratio to the next) | "
        "picture | passed | machine |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        accuracy = ", ".join(f"{k} {v:.1%}" for k, v in r["accuracy"].items())
        held = ", ".join(
            f"{m['column']} -> {m['factor']} ({m['ratio']:.1f}x)"
            for m in r["factor_map"]
            if m["column"] not in r["accuracy"]
        )
        lines.append(
            f"| {r.get('variant', 'the shipped config')} | {r.get('codes', '-')} | {r['seed']} | {r['wall_s']:.0f} | "
            f"{r['max_rss_mb']:.0f} | {accuracy} | {held} | "
            f"{picture_verdict(r)} | {'yes' if r['passed'] else 'no'} | {r['machine']} |"
        )
    lines.append("")
    for r in records:
        lines.append(
            f"{r.get('variant', 'The shipped config').capitalize()}, codes {r.get('codes', '-')}, seed {r['seed']}: "
            "mutual information (nats) of each code column with each factor"
        )
        lines.append("")
        lines.append("| column | " + " | ".join(r["factor_names"]) + " |")
        lines.append("|---|" + "---|" * len(r["factor_names"]))
        for column, row in zip(r["columns"], r["mutual_information"]):
            lines.append(f"| {column} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds", type=int, nargs="*", default=[0, 1, 2], help="Seeds to run (none: only rewrite the table)."
    )
    parser.add_argument("--runs", type=Path, default=Path("runs/first-run"))
    parser.add_argument(
        "--variant",
        default=None,
        help="Label of a trial run on a changed checkout (recorded with each seed; left out: the shipped config).",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("research/results/first-run"),
        help="Writes RESULTS.jsonl (appended) and RESULTS.md.",
    )
    parser.add_argument(
        "--recheck-picture",
        action="store_true",
        help="Judge the picture again for every recorded run whose directory is still here (after the check changed).",
    )
    parser.add_argument(
        "train_args",
        nargs="*",
        metavar="-- TRAIN_ARGS",
        help="Passed on to `infogan-tk train` after `--` (a trial: e.g. -- --codes cat3,unif2).",
    )
    args = parser.parse_args()
    jsonl, markdown = args.results.with_suffix(".jsonl"), args.results.with_suffix(".md")
    if args.seeds:
        peak = matmul_peak_gflops()
        capability = torch.backends.cpu.get_cpu_capability()
        machine = f"{cpu_model()}, {capability}, fp32 matmul {peak:.0f} GFLOP/s, torch {torch.__version__}"
    for seed in args.seeds:
        record = {
            **run_seed(seed, args.runs, args.train_args),
            "machine": machine,
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
        }
        if args.variant:
            record["variant"] = args.variant
        with jsonl.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(
            f"seed {seed}: wall {record['wall_s']:.0f} s, accuracy {record['accuracy']}, passed {record['passed']}",
            flush=True,
        )
    records = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    if args.recheck_picture:
        records = [judge_picture(r) if "picture" in r and same_run(r) else r for r in records]
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    markdown.write_text(
        "# First run: `infogan-tk train` with no arguments\n\n"
        f"Made by `python research/first_run.py --seeds ...`; every seed run is listed. Bar: every categorical code "
        f">= {MIN_ACCURACY:.0%} Hungarian accuracy, every continuous code's top factor >= {DOMINANCE:g}x its second "
        f"and no two sharing one, wall time <= {MAX_WALL_S:.0f} s (the whole process, `/usr/bin/time -v`), and the "
        f"picture (`research/code_sweep.py`: each continuous code moves its factor the same way in every category, "
        f"a position code along its own axis, "
        f"no category over {MAX_BLANK_SHARE:.0%} empty; checked from 2026-12-06 on, `-` before).\n\n"
        + table(records)
        + "\n"
    )
    print(f"wrote {jsonl} and {markdown}")


if __name__ == "__main__":
    main()
