"""The disentanglement metrics' cost at the reference defaults, one measurement per process.

    python benchmarks/metric_cost.py --json metric-cost.json

A synthetic representation of the size an InfoGAN on dSprites produces: 5 factors of sizes
(3, 6, 40, 32, 32), 10 code dimensions (a fixed linear mix of the factors plus noise), 10000
training and 5000 test rows. Each row of the table runs in a fresh process, so no measurement
warms another's caches; the record names the machine, the commit and the library versions.
Wall-clock seconds; run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from provenance import commit  # a sibling module

#: name -> (what it measures, in words). The keys are what ``--one`` takes.
MEASUREMENTS = {
    "mig": "MIG, all training rows, 20 bins",
    "sap": "SAP (discrete), training + test rows, one LinearSVC per code x factor",
    "factorvae": "FactorVAE, the reference's sizes x --factorvae-scale (1: 10000 + 64 x 15000 represented rows)",
    "dci-10-2000": "DCI, 10 trees, up to 2000 training rows",
    "dci-20-2000": "DCI, 20 trees, up to 2000 training rows",
    "dci-10-all": "DCI, 10 trees, all training rows",
}
FACTOR_SIZES = (3, 6, 40, 32, 32)


def measure(name: str, rows: int, test_rows: int, factorvae_scale: float) -> dict:
    """Time one measurement in this process; its seconds and the metric's headline number."""
    import numpy as np

    from infogan_tk_metrics.disentanglement import UniformFactorSampler, dci, factor_vae_score, mig, sap

    sampler = UniformFactorSampler(FACTOR_SIZES)
    mix = np.random.default_rng(1).normal(size=(len(FACTOR_SIZES), 10))

    def represent(factors: np.ndarray) -> np.ndarray:
        noise = np.random.default_rng(len(factors)).normal(size=(len(factors), 10))
        return factors / np.array(FACTOR_SIZES) @ mix + 0.1 * noise

    rng = np.random.default_rng(0)
    f_train, f_test = sampler.sample(rows, rng), sampler.sample(test_rows, rng)
    c_train, c_test = represent(f_train), represent(f_test)
    start = time.perf_counter()
    if name == "mig":
        value = mig(c_train, f_train)["mig"]
    elif name == "sap":
        value = sap(np.vstack([c_train, c_test]), np.vstack([f_train, f_test]))["sap"]
    elif name == "factorvae":
        sizes = {k: max(1, int(v * factorvae_scale)) for k, v in (("num_train", 10000), ("num_eval", 5000))}
        sizes["num_variance_estimate"] = max(2, int(10000 * factorvae_scale))
        value = factor_vae_score(sampler, represent, **sizes)["factor_vae"]
    else:
        _, trees, train = name.split("-")
        max_train = None if train == "all" else min(int(train), rows)
        value = dci(c_train, f_train, c_test, f_test, n_estimators=int(trees), max_train=max_train)["disentanglement"]
    return {"name": name, "seconds": time.perf_counter() - start, "value": float(value)}


def machine() -> dict:
    """The machine and versions a record was taken with."""
    import numpy as np
    import sklearn
    import torch

    from infogan_toolkit.engine.devices import cpu_model

    return {
        "cpu": cpu_model(),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "commit": commit(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


def table(record: dict) -> str:
    """The record as the Markdown table of docs/results/README.md."""
    lines = [
        f"{record['rows_train']} training and {record['rows_test']} test rows, FactorVAE scale "
        f"{record['factorvae_scale']:g}; {record['machine']['cpu']} ({record['machine']['capability']}), "
        f"commit {record['machine']['commit']}",
        "",
        "| measurement | seconds | value |",
        "|---|---|---|",
    ]
    for row in record["rows"]:
        lines.append(f"| {MEASUREMENTS[row['name']]} | {row['seconds']:.2f} | {row['value']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every measurement (or ``--one NAME`` in this process) and write the record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="Write the record here.")
    parser.add_argument("--rows", type=int, default=10000, help="Training rows (default: 10000).")
    parser.add_argument("--test-rows", type=int, default=5000, help="Test rows (default: 5000).")
    parser.add_argument(
        "--factorvae-scale", type=float, default=1.0, help="Fraction of FactorVAE's reference sizes (default: 1)."
    )
    parser.add_argument("--one", choices=sorted(MEASUREMENTS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.rows, args.test_rows) < 10 or not 0 < args.factorvae_scale <= 1:
        parser.error("--rows and --test-rows must be at least 10, --factorvae-scale in (0, 1]")
    if args.one:
        print(json.dumps(measure(args.one, args.rows, args.test_rows, args.factorvae_scale)))
        return 0
    rows = []
    for name in MEASUREMENTS:
        command = [sys.executable, __file__, "--one", name, "--rows", str(args.rows)]
        command += ["--test-rows", str(args.test_rows)]
        command += ["--factorvae-scale", str(args.factorvae_scale)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(f"error: measurement {name} failed: {done.stderr.strip().splitlines()[-1:]}\n")
            return 1
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{MEASUREMENTS[name]}: {rows[-1]['seconds']:.2f} s", flush=True)
    record = {
        "machine": machine(),
        "rows_train": args.rows,
        "rows_test": args.test_rows,
        "factorvae_scale": args.factorvae_scale,
        "rows": rows,
    }
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    print(table(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
