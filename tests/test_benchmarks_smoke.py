"""benchmarks/throughput.py end to end at tiny sizes: the JSON it writes, failures as rows, one-line errors.

No timing is asserted: only that every number the report promises is there and positive.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from infogan_toolkit.config import Config
from infogan_toolkit.engine.devices import onednn_linear_min_weights
from infogan_toolkit.engine.linear_kernels import onednn_linear_available

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "throughput.py"
TINY = ["--device", "cpu", "--steps", "2", "--warmup", "1", "--peak-size", "64", "--pool", "64", "--threads", "1"]


def run_bench(*args: str) -> subprocess.CompletedProcess:
    """The script in a subprocess, as a user runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=240, env=env, cwd=REPO
    )


def positive(row: dict, *keys: str) -> None:
    """Each key holds a number above zero."""
    for key in keys:
        assert isinstance(row[key], (int, float)) and row[key] > 0, (key, row[key])


def test_tiny_run_writes_every_number(tmp_path: Path, tiny_mnist: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run_bench(
        *TINY,
        "--backbones",
        "mnist",
        "--batch-sizes",
        "8",
        "--repeats",
        "2",
        "--variants",
        "default,fused",
        "--plain",
        "--mnist-root",
        str(tiny_mnist),
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())

    assert "--plain" in report["command"] and "throughput.py" in report["command"]
    machine = report["machine"]
    assert machine["device"] == "cpu" and machine["device_name"] and machine["torch_version"]
    assert machine["threads"] == 1
    assert machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    positive(report["peak"], "fp32_flops_per_s", "matmul_size")
    if onednn_linear_available():  # the CPU's limit is the faster of torch's and oneDNN's fp32 matmul
        peak = report["peak"]
        positive(peak, "fp32_torch_flops_per_s", "fp32_onednn_flops_per_s")
        assert peak["fp32_flops_per_s"] == max(peak["fp32_torch_flops_per_s"], peak["fp32_onednn_flops_per_s"])
        assert peak["fp32_flops_per_s"] == peak[f"fp32_{peak['fp32_kernel']}_flops_per_s"]
    assert report["settings"]["variants"] == ["default", "fused"]

    rows = {(r["kind"], r["variant"]): r for r in report["results"]}
    assert set(rows) == {("engine", "default"), ("engine", "fused"), ("plain", "plain")}
    for row in rows.values():
        assert row["status"] == "ok", row
        assert row["backbone"] == "mnist" and row["batch_size"] == 8
        positive(
            row,
            "img_per_s",
            "step_seconds_median",
            "flops_per_step",
            "achieved_flops_per_s",
            "peak_ratio",
            "warmup_seconds",
        )
        assert row["peak_memory_mib"] >= 0 and row["memory_kind"].startswith("cpu_max_rss_growth")
        assert len(row["img_per_s_repeats"]) == 2 and all(v > 0 for v in row["img_per_s_repeats"])
        assert row["img_per_s"] == pytest.approx(
            sorted(row["img_per_s_repeats"])[0] / 2 + sorted(row["img_per_s_repeats"])[1] / 2
        )
        # The reported FLOP rate is the counted FLOPs over the median step time.
        assert row["achieved_flops_per_s"] == pytest.approx(row["flops_per_step"] / row["step_seconds_median"])
        # The peak is measured again after each timed region; the ratio is the median of the regions' own.
        assert len(row["peak_flops_per_s_repeats"]) == 2 and all(v > 0 for v in row["peak_flops_per_s_repeats"])
        own = [
            row["flops_per_step"] / s / p for s, p in zip(row["step_seconds_repeats"], row["peak_flops_per_s_repeats"])
        ]
        assert row["peak_ratio_repeats"] == pytest.approx(own)
        assert row["peak_ratio"] == pytest.approx(sorted(own)[0] / 2 + sorted(own)[1] / 2)
        assert row["peak_img_per_s"] == pytest.approx(row["img_per_s"] / row["peak_ratio"])
    plain = rows[("plain", "plain")]
    for variant in ("default", "fused"):
        engine = rows[("engine", variant)]
        assert engine["engine_over_plain"] == pytest.approx(engine["img_per_s"] / plain["img_per_s"])
        assert engine["config_overrides"] == ([] if variant == "default" else ["optim.implementation=fused"])
    # Same networks: the plain loop's extra D forward on the fake batch makes it a little dearer, never cheaper.
    assert rows[("engine", "default")]["flops_per_step"] == rows[("engine", "fused")]["flops_per_step"]
    assert 1.0 < plain["flops_per_step"] / rows[("engine", "default")]["flops_per_step"] < 1.5
    assert "img/s" in proc.stdout and "fused" in proc.stdout


def test_contrastive_variants_count_the_skipped_backward(tmp_path: Path) -> None:
    # Before loss.contrastive_start an eager step skips G's backward through the pair classifier, so
    # an idle regulariser costs more than none and less than a paid one (counted FLOPs, not time).
    out = tmp_path / "bench.json"
    proc = run_bench(
        *TINY,
        "--backbones",
        "mnist",
        "--batch-sizes",
        "8",
        "--repeats",
        "1",
        "--variants",
        "default,contrastive_idle,contrastive",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["variant"]: r for r in json.loads(out.read_text())["results"]}
    assert all(row["status"] == "ok" for row in rows.values()), rows
    flops = {variant: row["flops_per_step"] for variant, row in rows.items()}
    assert flops["default"] < flops["contrastive_idle"] < flops["contrastive"]


def test_failures_are_rows_not_crashes(tmp_path: Path, tiny_mnist: Path) -> None:
    # Batch 1 cannot train batch norm (a real device-side failure); a corrupt IDX file breaks the plain loop.
    (tiny_mnist / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    out = tmp_path / "bench.json"
    proc = run_bench(
        *TINY,
        "--backbones",
        "mnist",
        "--batch-sizes",
        "1",
        "--repeats",
        "1",
        "--variants",
        "default",
        "--plain",
        "--mnist-root",
        str(tiny_mnist),
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["kind"]: r for r in json.loads(out.read_text())["results"]}
    assert rows["engine"]["status"] == "failed" and "\n" not in rows["engine"]["reason"]
    assert "batch" in rows["engine"]["reason"].lower() or "channel" in rows["engine"]["reason"].lower()
    assert rows["engine"]["engine_over_plain"] is None
    assert rows["plain"]["status"] == "failed" and "cannot unpack" in rows["plain"]["reason"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--variants", "default,channels_lats"], "error: unknown variant 'channels_lats'"),
        (["--backbones", "mnsit"], "error: unknown backbone 'mnsit'. Did you mean 'mnist'?"),
    ],
)
def test_user_mistakes_are_one_line(tmp_path: Path, flags: list[str], message: str) -> None:
    out = tmp_path / "x.json"
    proc = run_bench(*TINY, "--backbones", "mnist", "--batch-sizes", "8", *flags, "--json", str(out))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
    assert not out.exists()


def test_op_times_lists_the_step_ops_and_refuses_a_bad_override() -> None:
    script = REPO / "benchmarks" / "op_times.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [
        sys.executable,
        str(script),
        "--backbone",
        "mnist",
        "--batch-size",
        "4",
        "--steps",
        "1",
        "--warmup",
        "1",
        "--pool",
        "16",
        "--top",
        "200",
    ]
    proc = subprocess.run(base, capture_output=True, text=True, timeout=240, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    header, _, *rows = proc.stdout.strip().splitlines()
    assert header.startswith("mnist, batch 4, ") and "img/s" in header
    # Ops with a FLOP formula are keyed by their operands' shapes and carry their FLOP rate.
    conv = next(row for row in rows if " convolution_backward " in row)
    assert float(conv.split()[3]) > 0 and "x" in conv.split()[-1]
    # G's first layer takes the 74 inputs: too small for oneDNN under train.linear_kernel="auto".
    matmul = next(row for row in rows if "mm 4x74 @ 74x1024" in row)
    assert float(matmul.split()[3]) > 0
    # Its second, 1024 -> 6272, goes to oneDNN where "auto" moves large layers (an AVX-512 CPU).
    onednn = onednn_linear_min_weights(Config().train, torch.device("cpu")) is not None
    large = "_linear_pointwise 4x1024 6272x1024" if onednn else "mm 4x1024 @ 1024x6272"
    assert float(next(row for row in rows if large in row).split()[3]) > 0
    bad = subprocess.run(
        [*base, "--set", "train.batch_sise=8"], capture_output=True, text=True, timeout=240, env=env, cwd=REPO
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert (
        bad.stderr.strip().startswith("error:")
        and "batch_sise" in bad.stderr
        and len(bad.stderr.strip().splitlines()) == 1
    )


def test_the_metric_cost_benchmark_records_every_measurement(tmp_path):
    record_file = tmp_path / "cost.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "metric_cost.py"),
            "--rows",
            "120",
            "--test-rows",
            "60",
            "--factorvae-scale",
            "0.002",
            "--json",
            str(record_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(record_file.read_text())
    names = ["mig", "sap", "factorvae", "dci-10-2000", "dci-20-2000", "dci-10-all"]
    assert [row["name"] for row in record["rows"]] == names
    assert all(row["seconds"] >= 0 and math.isfinite(row["value"]) for row in record["rows"])
    assert record["machine"]["capability"] and record["rows_train"] == 120
    assert "| DCI, 10 trees, all training rows |" in done.stdout
    bad = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "metric_cost.py"), "--rows", "3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "--rows and --test-rows must be at least 10" in bad.stderr
