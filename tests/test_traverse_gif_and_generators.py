"""Through the CLI on a real (default, MNIST) run with train.ema: `traverse --gif` writes one GIF per code whose
frames are the traversal's images swept there and back, and `sample`, `traverse` and `eval` use the
moving average by default and the raw generator with --generator raw."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence
from typer.testing import CliRunner

from infogan_toolkit import load_checkpoint
from infogan_toolkit.cli.app import app
from infogan_toolkit.evaluate.animation import HEADER_PIXELS, PADDING, cell_scale, sweep_order
from infogan_toolkit.evaluate.traverse import traversal_images


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory, runner):
    out = tmp_path_factory.mktemp("gif") / "run"
    args = [
        "train",
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--out",
        str(out),
        "--quiet",
        "--no-eval",
        "--set",
        "train.ema=0.5",
        "--set",
        "train.figures=false",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return out


def test_sweep_goes_there_and_back_without_repeating_an_end():
    assert sweep_order(4) == [0, 1, 2, 3, 2, 1]
    assert sweep_order(2) == [0, 1] and sweep_order(1) == [0]


def test_traverse_gif_frames_are_the_traversal_swept_there_and_back(ema_run, runner, tmp_path):
    out = tmp_path / "t"
    result = runner.invoke(
        app,
        [
            "traverse",
            str(ema_run),
            "--gif",
            "--code",
            "c1",
            "--code",
            "c2",
            "--rows",
            "4",
            "--steps",
            "5",
            "--range",
            "-2",
            "2",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["generator"] == "ema"
    assert [(t["code"], t["frames"]) for t in report["traversals"]] == [
        ("c1", 18),
        ("c2", 8),
    ]  # Cat(10): 0..9..1; 5 values: 8
    model = load_checkpoint(ema_run)
    c2 = model.codes.codes[1].code
    expected = traversal_images(
        model.generate,
        model.codes,
        model.noise_dim,
        1,
        rows=4,
        steps=5,
        value_range=(-2.0, 2.0),
        seed=0,
        noise_kind=model.config.model.noise,
    )
    expected = (expected.clamp(0, 1) * 255).round().to(torch.uint8)[:, 0].reshape(4, 5, 28, 28)  # (row, column, H, W)
    values = [float(v) for v in c2.traversal(5, -2.0, 2.0)]
    with Image.open(out / "traverse-c2.gif") as gif:
        assert gif.info["loop"] == 0 and gif.info["duration"] == 150
        assert (
            gif.info["comment"].decode()
            == "c2 Unif(-1,1): -2.00 to +2.00 and back; each cell keeps its noise and other codes"
        )
        frames = [np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(gif)]
    assert len(frames) == 8
    scale = cell_scale((28, 28))
    body_width = (2 * (28 + PADDING) + PADDING) * scale
    left = (frames[0].shape[1] - body_width) // 2
    for frame, column in zip(frames, sweep_order(5)):
        for row in range(4):  # a 2 x 2 grid, one cell per traversal row
            y = HEADER_PIXELS + (PADDING + (row // 2) * (28 + PADDING)) * scale
            x = left + (PADDING + (row % 2) * (28 + PADDING)) * scale
            cell = frame[y : y + 28 * scale : scale, x : x + 28 * scale : scale]
            assert np.array_equal(cell, expected[row, column].numpy()), (row, column)
    assert not np.array_equal(frames[0], frames[4])  # -2 and +2 differ
    assert values[0] == -2.0 and values[-1] == 2.0
    assert (out / "traverse-c1.png").is_file() and (out / "traverse-c1.gif").is_file()


def test_sample_traverse_and_eval_choose_the_generator(ema_run, runner, tmp_path):
    default = runner.invoke(app, ["sample", str(ema_run), "--n", "4", "--out", str(tmp_path / "ema.png"), "--json"])
    raw = runner.invoke(
        app, ["sample", str(ema_run), "--n", "4", "--generator", "raw", "--out", str(tmp_path / "raw.png"), "--json"]
    )
    assert default.exit_code == 0 and raw.exit_code == 0, default.stderr + raw.stderr
    assert json.loads(default.stdout)["generator"] == "ema" and json.loads(raw.stdout)["generator"] == "raw"
    with Image.open(tmp_path / "ema.png") as a, Image.open(tmp_path / "raw.png") as b:
        assert not np.array_equal(np.asarray(a), np.asarray(b))
    evaluated = runner.invoke(
        app,
        [
            "eval",
            str(ema_run),
            "--generator",
            "raw",
            "--metrics",
            "mi",
            "--samples",
            "64",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "eval.json"),
            "--json",
        ],
    )
    assert evaluated.exit_code == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["generator"] == "raw" and "raw generator" in evaluated.stderr
    bad = runner.invoke(app, ["traverse", str(ema_run), "--generator", "emma", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1
    assert "holds no generator 'emma'. Did you mean 'ema'? It holds: ema, raw" in bad.stderr
    short = runner.invoke(app, ["traverse", str(ema_run), "--gif", "--frame-ms", "5", "--out", str(tmp_path / "x")])
    assert short.exit_code == 2 and "--frame-ms must be at least 10" in short.stderr
    inspected = runner.invoke(app, ["inspect", str(ema_run), "--json"])
    assert json.loads(inspected.stdout)["metadata"]["generators"] == {"ema": "ema.module."}
