"""The MNIST copy the toolkit ships (plugins/mnist-data): hash-checked, used without --data-root,
and what `infogan-tk train` with no arguments trains on, through the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import infogan_tk_mnist_data
from infogan_tk_mnist_data import SHA256, DamagedCopyError, check_dir, sha256, verified_dir
from infogan_toolkit.datasets import DatasetRequest
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.plugins import PluginHost

CLI = Path(sys.executable).with_name("infogan-tk")
SHARED_RAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "MNIST" / "raw"


def test_the_shipped_files_have_their_published_hashes():
    folder = verified_dir()
    assert sorted(p.name for p in folder.glob("*.gz")) == sorted(SHA256)
    for name, expected in SHA256.items():
        assert sha256(folder / name) == expected


@pytest.mark.skipif(not SHARED_RAW.is_dir(), reason="no reference copy beside the repository to compare with")
def test_the_shipped_files_are_byte_for_byte_the_reference_copy():
    for name in SHA256:
        assert (verified_dir() / name).read_bytes() == (SHARED_RAW / name).read_bytes()


def test_a_changed_or_missing_file_is_named_and_refused(tmp_path):
    copy = tmp_path / "raw"
    shutil.copytree(verified_dir(), copy)
    target = copy / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(
        DamagedCopyError, match=r"t10k-labels-idx1-ubyte.gz has SHA-256 .* not the published .*reinstall"
    ):
        check_dir(copy)
    target.unlink()
    with pytest.raises(DamagedCopyError, match=r"lacks .*t10k-labels-idx1-ubyte.gz; reinstall"):
        check_dir(copy)


def test_mnist_without_a_root_reads_the_shipped_copy():
    datasets = PluginHost().registries.datasets
    test = datasets.get("mnist").load(DatasetRequest(root=None, split="test"))
    assert test.data.shape == (10000, 1, 28, 28)
    assert test.labels[:3].tolist() == [7, 2, 1]


def test_a_damaged_install_stops_the_cli_in_one_line(tmp_path, monkeypatch):
    copy = tmp_path / "raw"
    shutil.copytree(verified_dir(), copy)
    (copy / "train-labels-idx1-ubyte.gz").write_bytes(b"not the labels")
    # A new process whose shipped package points at the damaged copy: the package reads RAW_DIR.
    script = (
        "import infogan_tk_mnist_data as m, pathlib, sys; m.RAW_DIR = pathlib.Path(sys.argv[1]); "
        "from infogan_toolkit.cli.entry import main; sys.argv = ['infogan-tk', 'train', '--steps', '1', '--out', "
        "sys.argv[2]]; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(copy), str(tmp_path / "run")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: the shipped MNIST file") and "reinstall infogan-tk-mnist-data" in lines[-1]
    assert "Traceback" not in done.stderr
    assert infogan_tk_mnist_data.RAW_DIR != copy  # this process's copy untouched


@pytest.mark.slow
def test_the_default_command_trains_the_paper_mnist_setting_on_the_shipped_copy(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run(
        [
            str(CLI),
            "train",
            "--steps",
            "4",
            "--batch-size",
            "16",
            "--out",
            str(run),
            "--set",
            "train.checkpoint_every=4",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout + done.stderr
    assert "training mnist on mnist with codes cat10,unif2" in out
    # The summary: L_I against what each head can reach, Q's read-back, the accuracy and each category's digit.
    assert "c1 Cat(10)    L_I" in out and "of 2.303 reachable" in out and "% recovered" in out
    assert "c2 Unif(-1,1) L_I" in out and "of -0.226 reachable (H(c) 0.693); Q reads it back: correlation" in out
    assert "accuracy" in out and "category->its most common label" in out
    evaluation = json.loads((run / "eval.json").read_text())
    assert evaluation["accuracy"]["samples"] == 10000
    assert evaluation["mi"]["codes"]["c2"]["reach"] == pytest.approx(-0.2258, abs=1e-3)
    assert (run / "figures" / "traversal-0000004.png").is_file()


def test_the_validation_split_is_the_training_files_last_sixth_and_can_be_held_out():
    datasets = PluginHost().registries.datasets
    mnist = datasets.get("mnist")
    full = mnist.load(DatasetRequest(root=None, split="train"))
    val = mnist.load(DatasetRequest(root=None, split="val"))
    held = mnist.load(DatasetRequest(root=None, split="train", options={"holdout": True}))
    assert len(full) == 60000 and len(val) == 10000 and len(held) == 50000
    assert (val.data == full.data[50000:]).all() and (held.data == full.data[:50000]).all()
    assert torch.equal(val.labels, full.labels[50000:])
    with pytest.raises(ConfigError, match=r"data.options.holdout must be true or false, got 'yes'"):
        mnist.load(DatasetRequest(root=None, split="train", options={"holdout": "yes"}))
    with pytest.raises(ConfigError, match=r"dataset 'mnist' has no split 'valid'.*train, val, test"):
        mnist.load(DatasetRequest(root=None, split="valid"))
