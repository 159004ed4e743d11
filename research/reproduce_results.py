"""Reproduce the tables of research/results/ from scratch through the toolkit's own CLI.

    python research/reproduce_results.py mnist  --seeds 0 1 2 [--steps 5000] [--set train.bf16=true]
    python research/reproduce_results.py mnist-baseline --seeds 0
    python research/reproduce_results.py shapes --seeds 0 1 2   # the metrics' reference sizes
    python research/reproduce_results.py shapes --seeds 0 --eval-size reduced --label quick
    python research/reproduce_results.py shapes --seeds 0 --set 'model.codes="unif5"' --metrics mi,mig,sap,dci,factorvae
    python research/reproduce_results.py mnist --seeds 0 1 --set model.noise=uniform \
        --label uniform-noise --record-as mnist-sweep --device cuda --eval-device cuda
    python research/reproduce_results.py mnist --seeds 1 --steps 20000 --label invariance-2-20k \
        --continue-from 'runs/results/mnist-invariance-2-seed{seed}' --set loss.invariance.weight=2.0

Each run trains with `infogan-tk train --config NAME`, evaluates the final checkpoint with
`infogan-tk eval`, and appends one JSON line per run to research/results/<experiment>.jsonl; then the
markdown table research/results/<experiment>.md is rewritten from every line in that file. Runs
go one after another: never run two of these (or any benchmark) at once on a small machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import attrs

from infogan_toolkit.evaluate.report import EvalSizes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
MNIST_ROOT = Path("..") / "shared" / "data" / "MNIST" / "raw"  # relative to the repository root

EXPERIMENTS = {
    # name: (config, extra train args, eval metrics); every eval uses the reference sizes unless --eval-size
    "mnist": ("mnist", [], "mi,accuracy"),
    "mnist-baseline": ("mnist", ["--regular-gan"], "mi,accuracy"),
    # The paper's learned-std head with the smaller continuous lambda it recommends.
    "mnist-learned-std": ("mnist", ["--set", "model.heads={}", "--set", "loss.lambda_continuous=0.1"], "mi,accuracy"),
    "shapes": ("shapes", [], "mi,accuracy,mig,sap,dci,factorvae"),
}
# Smaller evaluation sizes for quick CPU sweeps (`--eval-size` each); a table marks rows evaluated so.
REDUCED_SIZES = [
    "dci_trees=20",
    "dci_train=2000",
    "factorvae_train=1000",
    "factorvae_eval=500",
    "factorvae_variance=5000",
]


def run(cmd: list[str]) -> str:
    """Run a command, echo it, return its stdout; stop on failure."""
    print("$", shlex.join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"command failed with status {proc.returncode}")
    return proc.stdout


def first_step_above(metrics_file: Path, key: str, threshold: float) -> int | None:
    """The first logged step whose interval mean of ``key`` exceeds ``threshold``."""
    for line in metrics_file.read_text().splitlines():
        record = json.loads(line)
        if isinstance(record.get(key), (int, float)) and record[key] > threshold:
            return record["step"]
    return None


def one_run(name: str, seed: int, args: argparse.Namespace) -> dict:
    """Train and evaluate one seed; returns the record written to the results file."""
    config, extra, metrics = EXPERIMENTS[name]
    metrics = args.metrics or metrics
    record_as = args.record_as or name
    tag = f"{record_as}-{args.label}" if args.label else record_as
    run_dir = args.runs / f"{tag}-seed{seed}"
    source = None
    if args.continue_from:
        # Resume is bit for bit (tests/test_engine.py), so continuing a finished shorter run gives
        # the same weights as training the longer run from scratch, for the cost of the extra steps.
        source = ROOT / args.continue_from.format(seed=seed)
        if not (source / "config.toml").is_file():
            raise SystemExit(f"error: --continue-from: '{source}' is not a run directory (no config.toml)")
        if (ROOT / run_dir).exists():
            raise SystemExit(f"error: --continue-from: '{run_dir}' exists already; remove it or pick another --label")
        shutil.copytree(source, ROOT / run_dir)
        train = ["infogan-tk", "train", "--resume", str(run_dir), "--quiet", "--json", "--no-eval"]
    else:
        train = [
            "infogan-tk",
            "train",
            "--config",
            config,
            "--seed",
            str(seed),
            "--out",
            str(run_dir),
            "--quiet",
            "--json",
            "--no-eval",
            *extra,
        ]
        if config == "mnist":
            train += ["--data-root", str(args.data_root)]
    if args.steps:
        train += ["--steps", str(args.steps)]
    if args.device:
        train += ["--device", args.device]
    for s in args.sets:
        train += ["--set", s]
    continued_from = None if source is None else os.path.relpath(source, ROOT)
    t0 = time.perf_counter()
    summary = json.loads(run(train))
    run_dir = ROOT / run_dir
    wall = time.perf_counter() - t0
    evaluation = [
        "infogan-tk",
        "eval",
        os.path.relpath(run_dir, ROOT),
        "--metrics",
        metrics,
        "--json",
        "--device",
        args.eval_device,
    ]
    for s in args.eval_sizes:
        evaluation += ["--size", s]
    # One evaluation per asked-for generator of the same checkpoint (raw, or one an extension kept,
    # such as ema); each is a record of its own, labelled LABEL[NAME]. Training is shared.
    generators = args.generators or [None]
    reports = {g: json.loads(run(evaluation + (["--generator", g] if g else []))) for g in generators}
    # Earlier checkpoints of the same run: the accuracy after fewer steps, without training again.
    for step in sorted(set(args.eval_at) - {summary["step"]}):
        checkpoint = run_dir / "checkpoints" / f"step-{step:07d}.safetensors"
        if not checkpoint.is_file():
            raise SystemExit(
                f"error: --eval-at {step}: no checkpoint {checkpoint}; set train.checkpoint_every and "
                "train.keep_checkpoints so that the run keeps it"
            )
        early = [*evaluation[:2], os.path.relpath(checkpoint, ROOT), *evaluation[3:]]
        write_record(
            args,
            record_as,
            {
                "experiment": name,
                "label": f"{args.label}@{step}" if args.label else f"@{step}",
                "sets": args.sets,
                "seed": seed,
                "steps": step,
                "train_command": shlex.join(train),
                "eval_command": shlex.join(early),
                "wall_seconds": None,
                "images_per_second_last_interval": None,
                "continued_from": continued_from,
                "first_step_li_c1_above_2.25": first_step_above(run_dir / "metrics.jsonl", "li_c1", 2.25),
                "final_interval_metrics": None,
                "eval": json.loads(run(early)),
                "figures": None,
            },
        )
    figures = None
    if not args.no_figures:
        # The paper's Fig. 2 layout per code, continuous codes from -2 to 2, and the L_I curve.
        figures = args.results_dir / "figures" / f"{tag}-seed{seed}"
        run(["infogan-tk", "traverse", os.path.relpath(run_dir, ROOT), "--range", "-2", "2", "--out", str(figures)])
        curve = run_dir / "figures" / "information.png"
        if curve.is_file():
            shutil.copyfile(curve, figures / "information.png")
    records = []
    for g in generators:
        record = {
            "experiment": name,
            "label": f"{args.label}[{g}]" if g else args.label,
            "generator": g,
            "sets": args.sets,
            "seed": seed,
            "steps": summary["step"],
            "train_command": shlex.join(train),
            "eval_command": shlex.join(evaluation + (["--generator", g] if g else [])),
            "wall_seconds": round(wall, 1),
            "images_per_second_last_interval": round(summary["images_per_second"], 1),
            "first_step_li_c1_above_2.25": first_step_above(run_dir / "metrics.jsonl", "li_c1", 2.25),
            "continued_from": continued_from,
            "final_interval_metrics": summary["metrics"],
            "eval": reports[g],
            "figures": None if figures is None else os.path.relpath(figures, args.results_dir),
        }
        write_record(args, record_as, record)
        records.append(record)
    return records[0]


def write_record(args: argparse.Namespace, record_as: str, record: dict) -> None:
    """Append one run's record to <results>/<record_as>.jsonl."""
    args.results_dir.mkdir(parents=True, exist_ok=True)
    with open(args.results_dir / f"{record_as}.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")


def _get(d: dict, *path, default=None):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


def _fmt(v, digits=3) -> str:
    return "-" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def eval_sizes(report: dict) -> str:
    """How an eval report's metrics were sized (its own ``sizes``, against :class:`EvalSizes`' reference
    defaults): ``reference``, ``reduced`` or the changed ``KEY=N`` pairs."""
    reference = attrs.asdict(EvalSizes())
    changed = {k: v for k, v in report.get("sizes", {}).items() if k in reference and v != reference[k]}
    if not changed:
        return "reference"
    pairs = [f"{k}={v}" for k, v in changed.items()]
    return "reduced" if sorted(pairs) == sorted(REDUCED_SIZES) else " ".join(pairs)


def write_table(name: str, results: Path = RESULTS) -> Path:
    """Rewrite <results>/<name>.md from every record in <results>/<name>.jsonl."""
    source = results / f"{name}.jsonl"
    if not source.is_file():
        raise SystemExit(f"error: no results file {source}; run the experiment first (without --table-only)")
    records = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    lines = [f"<!-- generated by research/reproduce_results.py {name}; do not edit by hand -->", ""]
    if records and records[0]["experiment"].startswith("mnist"):
        quality = any("fid" in r["eval"] or "kid" in r["eval"] for r in records)
        head = " FID | KID |" if quality else ""
        lines += [
            "| setting | seed | steps | L_I(c1) eval | accuracy c1 |"
            + head
            + " first step L_I(c1) > 2.25 | wall s | img/s (last interval) |",
            "|---|---|---|---|---|" + ("---|---|" if quality else "") + "---|---|---|",
        ]
        accs: dict[str, list[float]] = {}
        for r in records:
            label = r.get("label") or "-"
            li = _get(r, "eval", "mi", "codes", "c1", "L_I")
            acc = _get(r, "eval", "accuracy", "codes", "c1", "accuracy")
            if acc is not None:
                accs.setdefault(label, []).append(acc)
            cells = (
                f" {_fmt(_get(r, 'eval', 'fid', 'value'), 1)} | {_fmt(_get(r, 'eval', 'kid', 'mean'), 1)} |"
                if quality
                else ""
            )
            lines.append(
                f"| {label} | {r['seed']} | {r['steps']} | {_fmt(li)} | {_fmt(acc, 4)} |{cells} "
                f"{_fmt(r['first_step_li_c1_above_2.25'])} | "
                f"{_fmt(r['wall_seconds'], 1)} | {_fmt(r['images_per_second_last_interval'], 1)} |"
            )
        lines.append("")
        for label, values in accs.items():
            where = "" if label == "-" else f" ({label})"
            lines.append(
                f"Accuracy over {len(values)} runs{where}: median {statistics.median(values):.4f}, "
                f"min {min(values):.4f}, max {max(values):.4f}."
            )
    else:
        keys = [
            ("mig", "mig"),
            ("factorvae", "factor_vae"),
            ("dci", "disentanglement"),
            ("dci", "completeness"),
            ("dci", "informativeness_test"),
            ("sap", "sap"),
        ]
        lines += [
            "| setting | seed | steps | MIG | FactorVAE | DCI disentanglement | DCI completeness | DCI "
            "informativeness (test) | SAP | accuracy c1 (shape) | eval sizes | wall s |",
            "|---|---|---|" + "---|" * len(keys) + "---|---|---|",
        ]
        for r in records:
            vals = [_fmt(_get(r, "eval", a, b)) for a, b in keys]
            acc = _fmt(_get(r, "eval", "accuracy", "codes", "c1", "accuracy"), 4)
            lines.append(
                f"| {r.get('label') or '-'} | {r['seed']} | {r['steps']} | "
                + " | ".join(vals)
                + f" | {acc} | {eval_sizes(r['eval'])} | {_fmt(r['wall_seconds'], 1)} |"
            )
    lines += ["", "Commands of each run:", ""]
    lines += [
        f"- {r.get('label') or name} seed {r['seed']}: "
        + (f"a copy of `{r['continued_from']}` continued by " if r.get("continued_from") else "")
        + f"`{r['train_command']}` then `{r['eval_command']}`"
        + (f"; figures in `{r['figures']}/`" if r.get("figures") else "")
        for r in records
    ]
    if any(r.get("continued_from") for r in records):
        lines += [
            "",
            "A continued run's wall time counts only the steps it added; resuming is bit for bit, so it "
            "ends with the weights of one run trained straight through.",
        ]
    path = results / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    """Run the asked-for seeds, then rewrite the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="override the config's steps")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="extra section.key=value for train")
    parser.add_argument("--device", default=None, help="train on this device (default: the config's, auto)")
    parser.add_argument("--eval-device", default="cpu", help="evaluate on this device (default: cpu)")
    parser.add_argument("--data-root", type=Path, default=MNIST_ROOT, help=f"MNIST IDX folder (default: {MNIST_ROOT})")
    parser.add_argument("--label", default="", help="name of this setting in a sweep (a column of the table)")
    parser.add_argument(
        "--record-as", default=None, help="results file name under research/results/ (default: the experiment)"
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS, help=f"where the JSONL and table go (default: {RESULTS})"
    )
    parser.add_argument(
        "--runs",
        type=Path,
        default=Path("runs") / "results",
        help="where run directories go (relative to the repository root)",
    )
    parser.add_argument(
        "--eval-at",
        type=int,
        nargs="+",
        default=[],
        help="also evaluate these earlier checkpoints of each run (recorded as LABEL@STEP)",
    )
    parser.add_argument(
        "--continue-from",
        default=None,
        metavar="RUN",
        help="copy this finished run directory ({seed} stands for the seed) and resume it to --steps "
        "instead of training from step 0; wall_seconds then counts only the added steps",
    )
    parser.add_argument(
        "--eval-size",
        dest="eval_sizes",
        action="append",
        default=[],
        metavar="KEY=N",
        help="pass --size KEY=N to infogan-tk eval (default: the reference sizes); 'reduced' stands for "
        + " ".join(REDUCED_SIZES),
    )
    parser.add_argument(
        "--metrics",
        default=None,
        help="the eval metrics (default: the experiment's); e.g. leave out accuracy for codes without a discrete one",
    )
    parser.add_argument(
        "--generators",
        nargs="+",
        default=[],
        metavar="NAME",
        help="evaluate each of these generators of the final checkpoint (raw, ema, ...), one record "
        "each labelled LABEL[NAME] (default: the checkpoint's default generator only)",
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the traversal figures and the L_I curve")
    parser.add_argument("--table-only", action="store_true", help="only rewrite the markdown table from the JSONL")
    args = parser.parse_args()
    args.results_dir = args.results_dir.resolve()
    args.eval_sizes = [s for size in args.eval_sizes for s in (REDUCED_SIZES if size == "reduced" else [size])]
    if not args.table_only:
        for seed in args.seeds:
            record = one_run(args.experiment, seed, args)
            print(
                json.dumps({k: record[k] for k in ("experiment", "label", "seed", "steps", "wall_seconds")}), flush=True
            )
    print(write_table(args.record_as or args.experiment, args.results_dir))


if __name__ == "__main__":
    main()
