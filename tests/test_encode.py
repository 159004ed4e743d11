"""`infogan-tk encode`: Q's outputs for real images, as CSV and safetensors, through the real CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from typer.testing import CliRunner

from infogan_toolkit.cli.app import app
from infogan_toolkit.evaluate.accuracy import unsupervised_accuracy

runner = CliRunner()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_encode_on_the_test_split_gives_evals_accuracy(bars_mnist_run, tmp_path):
    run, root = bars_mnist_run
    out = tmp_path / "enc"
    result = runner.invoke(
        app, ["encode", str(run), "--dataset", "mnist", "--data-root", str(root), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"] == 64 and summary["split"] == "test"
    rows = _rows(out.with_name("enc.csv"))
    assert len(rows) == 64 and [int(r["index"]) for r in rows] == list(range(64))
    probs = np.array([[float(r[f"c1.probabilities[{k}]"]) for k in range(10)] for r in rows])
    assert np.allclose(probs.sum(1), 1.0, atol=1e-4)
    pred = np.array([int(r["c1.class"]) for r in rows])
    assert (pred == probs.argmax(1)).all()
    labels = np.array([int(r["label"]) for r in rows])
    matched = unsupervised_accuracy(pred, labels, 10, num_labels=10)["accuracy"]

    report = tmp_path / "eval.json"
    evaluated = runner.invoke(
        app, ["eval", str(run), "--metrics", "accuracy", "--data-root", str(root), "--out", str(report)]
    )
    assert evaluated.exit_code == 0, evaluated.stderr
    assert json.loads(report.read_text())["accuracy"]["codes"]["c1"]["accuracy"] == pytest.approx(matched)

    with safe_open(str(out.with_name("enc.safetensors")), framework="pt") as fh:
        assert torch.equal(fh.get_tensor("c1.class"), torch.from_numpy(pred))
        assert torch.equal(fh.get_tensor("label"), torch.from_numpy(labels))
        assert fh.metadata()["dataset"] == "mnist" and fh.metadata()["rows"] == "64"
        continuous = [k for k in fh.keys() if k.endswith(".mean")]
        assert continuous and not any(k.endswith(".std") for k in fh.keys())  # the mnist config's heads fix the std


def test_heads_describe_what_they_model():
    from infogan_tk_heads import GaussianHead, SoftmaxHead

    logits = torch.tensor([[0.0, 2.0, -1.0], [3.0, 0.0, 0.0]])
    described = SoftmaxHead().describe(logits)
    assert described["class"].tolist() == [1, 0] and torch.allclose(
        described["probabilities"], torch.softmax(logits, 1)
    )
    params = torch.tensor([[0.5, -20.0], [-0.25, 0.5]])  # mean, log std (the second below the floor)
    learned = GaussianHead(learned_std=True, min_log_std=-5.0).describe(params)
    assert learned["mean"].flatten().tolist() == [0.5, -0.25]
    assert torch.allclose(
        learned["std"].flatten(), torch.tensor([torch.exp(torch.tensor(-5.0)), torch.exp(torch.tensor(0.5))])
    )
    assert set(GaussianHead(learned_std=False).describe(params[:, :1])) == {"mean"}


def test_encode_does_not_depend_on_the_batch(bars_mnist_run, tmp_path):
    run, root = bars_mnist_run
    for batch in (7, 512):
        result = runner.invoke(
            app,
            [
                "encode",
                str(run),
                "--dataset",
                "mnist",
                "--data-root",
                str(root),
                "--batch",
                str(batch),
                "--out",
                str(tmp_path / f"b{batch}"),
            ],
        )
        assert result.exit_code == 0, result.stderr
    with (
        safe_open(str(tmp_path / "b7.safetensors"), framework="pt") as a,
        safe_open(str(tmp_path / "b512.safetensors"), framework="pt") as b,
    ):
        assert sorted(a.keys()) == sorted(b.keys())
        for key in a.keys():
            assert torch.allclose(a.get_tensor(key).double(), b.get_tensor(key).double(), atol=1e-6), key


def test_encode_an_image_folder_names_each_file(bars_mnist_run, tmp_path):
    run, _root = bars_mnist_run
    folder = tmp_path / "images"
    names = []
    for label in ("three", "seven"):
        (folder / label).mkdir(parents=True)
        for i in range(2):
            array = np.zeros((28, 28), dtype=np.uint8)
            array[8 + 4 * i : 12 + 4 * i, 4:24] = 255
            Image.fromarray(array).save(folder / label / f"{i}.png")
            names.append(f"{label}/{i}.png")
    result = runner.invoke(app, ["encode", str(run), str(folder), "--out", str(tmp_path / "mine")])
    assert result.exit_code == 0, result.stderr
    rows = _rows(tmp_path / "mine.csv")
    assert sorted(r["source"] for r in rows) == sorted(names)
    assert {r["source"].split("/")[0]: r["label"] for r in rows} == {"seven": "0", "three": "1"}  # sorted class folders
    with safe_open(str(tmp_path / "mine.safetensors"), framework="pt") as fh:
        assert sorted(json.loads(fh.metadata()["sources"])) == sorted(names)


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "give either an image folder or --dataset NAME"),
        (["IMAGES", "--dataset", "mnist"], "give either an image folder or --dataset NAME"),
        (["--dataset", "mnsit"], "unknown dataset 'mnsit'. Did you mean 'mnist'"),
        (["missing-folder"], "image folder 'missing-folder' is not a directory"),
        (["--dataset", "mnist", "--split", "val"], "--split must be train or test"),
    ],
)
def test_encode_mistakes_are_one_line(bars_mnist_run, tmp_path, monkeypatch, extra, message):
    run, _root = bars_mnist_run
    monkeypatch.chdir(tmp_path)
    (tmp_path / "IMAGES").mkdir()
    result = runner.invoke(app, ["encode", str(run), *extra])
    assert result.exit_code == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMAGES"]  # nothing written
