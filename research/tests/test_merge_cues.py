"""research/merge_cues.py: the ink statistics on drawn images, and the script on a real trained run."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import torch
from PIL import Image
from typer.testing import CliRunner

from infogan_toolkit.cli.app import app

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "research"))
from merge_cues import ink_statistics  # noqa: E402


def bar(offset_per_row: float, half_width: int = 1) -> torch.Tensor:
    """A 28x28 uint8 stroke from row 4 to 23 whose column moves by ``offset_per_row`` per row upwards."""
    img = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    for r in range(4, 24):
        c = round(14 + offset_per_row * (13.5 - r))
        img[0, 0, r, c - half_width : c + half_width + 1] = 255
    return img


def test_slant_sign_says_which_way_the_stroke_leans_and_width_grows_with_the_stroke():
    images = torch.cat([bar(0.3), bar(0.0), bar(-0.3), bar(0.0, half_width=3)])
    stats = ink_statistics(images)
    right, upright, left, thick = stats["slant"].tolist()
    assert right > 0.2 and left < -0.2 and abs(upright) < 1e-9
    assert abs(right + left) < 1e-6  # mirror images, mirror slants
    assert stats["width"][3] > stats["width"][1]
    assert stats["ink"][3] > stats["ink"][1] == 20 * 3  # three pixels a row, twenty rows


def test_the_script_reports_every_category_of_a_trained_run(tmp_path: Path, tiny_mnist: Path):
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            "mnist",
            "--steps",
            "2",
            "--device",
            "cpu",
            "--out",
            str(run),
            "--quiet",
            "--data-root",
            str(tiny_mnist),
            "--set",
            "train.batch_size=8",
        ],
    )
    assert result.exit_code == 0, result.output
    with gzip.open(tiny_mnist / "t10k-labels-idx1-ubyte.gz") as f:
        labels = sorted(set(f.read()[8:]))  # the labels the 8 test images have
    proc = subprocess.run(
        [
            sys.executable,
            "research/merge_cues.py",
            str(run),
            "--digits",
            *map(str, labels),
            "--min-share",
            "0",
            "--json",
            "--sheets",
            str(tmp_path / "sheets"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    # With no share threshold every test image lands in exactly one reported row.
    assert sum(r["images"] for r in rows) == 8
    for digit in {r["digit"] for r in rows}:
        assert abs(sum(r["share"] for r in rows if r["digit"] == digit) - 1.0) < 1e-9
    assert {r["digit"] for r in rows} == set(labels)
    assert all(0 <= r["category"] < 10 and r["width"] > 0 for r in rows)
    # One sheet per row, eight tiles of 28 pixels (and save_image's 2-pixel padding) to a line; one
    # image alone is saved as it is.
    sheets = sorted(p.name for p in (tmp_path / "sheets").iterdir())
    assert sheets == sorted(f"digit{r['digit']}-category{r['category']}.png" for r in rows)
    for r in rows:
        with Image.open(tmp_path / "sheets" / f"digit{r['digit']}-category{r['category']}.png") as sheet:
            assert sheet.width == (28 if r["images"] == 1 else 2 + min(r["images"], 8) * 30)


def test_a_label_the_test_split_lacks_is_one_line(tmp_path: Path, tiny_mnist: Path):
    run = tmp_path / "run"
    CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            "mnist",
            "--steps",
            "1",
            "--device",
            "cpu",
            "--out",
            str(run),
            "--quiet",
            "--data-root",
            str(tiny_mnist),
            "--set",
            "train.batch_size=8",
        ],
    )
    proc = subprocess.run(
        [sys.executable, "research/merge_cues.py", str(run), "--digits", "42"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no test image has label 42; pick labels the dataset has")
