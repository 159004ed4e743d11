"""Files a careless user or an attacker puts in the way: FIFOs, directories, symbolic and hard links,
configs that are not UTF-8 or nest too deeply, data files that claim, or decompress to, far more
than they hold. Each is one line naming the problem, nothing blocks, nothing outside is written."""

from __future__ import annotations

import gzip
import os
import re
import struct
import time

import numpy as np
import pytest
import torch
from PIL import Image
from test_datasets import write_idx, write_small_mnist
from typer.testing import CliRunner

from infogan_tk_datasets.mnist import read_idx
from infogan_toolkit import hookimpl
from infogan_toolkit.assembly import load_dataset, resolve
from infogan_toolkit.cli.app import app
from infogan_toolkit.config import Config, apply_dict, load_toml
from infogan_toolkit.datasets import DatasetPlugin, DatasetRequest, TensorImageDataset
from infogan_toolkit.errors import ConfigError, DataError, ToolkitError
from infogan_toolkit.files import open_for_write, real_directory
from infogan_toolkit.plugins import PluginHost


def idx_header(*dims: int) -> bytes:
    return bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


# -- configs ---------------------------------------------------------------------------------------
def test_a_config_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    start = time.monotonic()
    result = CliRunner().invoke(app, ["config", "show", "--config", str(fifo)])
    assert time.monotonic() - start < 10  # opening a FIFO for reading would wait for a writer forever
    assert result.exit_code == 2 and "named pipe (FIFO), not a regular file" in result.stderr, result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"[train]\nsteps = 4\n# caf\xe9\n"), r"is not UTF-8 text \(byte 23\)"),
        (lambda p: p.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n"), "nests tables or arrays too deeply"),
        (lambda p: p.symlink_to(p), "symbolic link that loops"),
        (lambda p: p.write_text("# " + "x" * (1 << 20) + "\n"), "more than the 1,048,576 allowed"),
    ],
)
def test_configs_that_cannot_be_read_are_one_line_errors(tmp_path, make, message):
    path = tmp_path / "c.toml"
    make(path)
    with pytest.raises(ConfigError, match=message) as info:
        load_toml(path)
    assert "\n" not in str(info.value)


# -- writes into a run directory -------------------------------------------------------------------
def test_a_symbolic_link_planted_where_a_file_is_written_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    planted = tmp_path / "metrics.jsonl"
    planted.symlink_to(victim)
    for append in (False, True):
        with pytest.raises(ToolkitError, match="refusing to write .*it is a symbolic link"):
            open_for_write(planted, append=append)
    assert victim.read_text() == "precious\n"


def test_a_hard_link_or_a_fifo_in_place_of_a_file_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.link(victim, tmp_path / "config.toml")
    with pytest.raises(ToolkitError, match="hard link to another file"):
        open_for_write(tmp_path / "config.toml")
    assert victim.read_text() == "precious\n"
    os.mkfifo(tmp_path / "eval.json")
    with pytest.raises(ToolkitError, match=r"it is a named pipe \(FIFO\)"):  # no reader: opening must not wait for one
        open_for_write(tmp_path / "eval.json")


def test_a_directory_link_is_not_written_into(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "figures").symlink_to(elsewhere)
    with pytest.raises(ToolkitError, match="symbolic link"):
        real_directory(tmp_path / "figures")
    assert real_directory(tmp_path / "new" / "checkpoints").is_dir()


# -- data files ------------------------------------------------------------------------------------
def test_a_gzip_bomb_behind_a_valid_idx_header_stops_at_the_claimed_size(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:  # 4 images claimed, 256 MiB of zeros behind them
        fh.write(idx_header(4, 28, 28))
        zeros = bytes(1 << 20)
        for _ in range(256):
            fh.write(zeros)
    assert path.stat().st_size < 2 << 20
    start = time.monotonic()
    with pytest.raises(DataError, match=r"longer than its header says: more than 3,136 data bytes"):
        read_idx(path)
    assert time.monotonic() - start < 2  # read to the claimed size and one byte more, not to the end


def test_an_idx_header_claiming_more_than_the_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_header(4_000_000_000, 28, 28) + bytes(100))
    with pytest.raises(
        DataError, match=r"claims dims \(4000000000, 28, 28\), 3,136,000,000,000 bytes of data, more than"
    ):
        read_idx(path)


def test_a_data_file_with_zero_images_is_refused(tmp_path):
    write_small_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((0, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match=r"holds no data \(dims \(0, 28, 28\)\)"):
        PluginHost().registries.datasets.get("mnist").load(DatasetRequest(root=tmp_path))


class NoImages(DatasetPlugin):
    """A third-party dataset whose loader finds nothing."""

    description = "empty"
    needs_root = False

    def load(self, request: DatasetRequest) -> TensorImageDataset:
        return TensorImageDataset(torch.zeros(0, 1, 8, 8, dtype=torch.uint8))


class NoImagesPlugin:
    @hookimpl
    def register_datasets(self, register):
        register("no-images", NoImages())


def test_a_plugin_dataset_with_zero_images_is_refused_before_training(host):
    host.register(NoImagesPlugin(), "no-images-plugin")
    config = apply_dict(Config(), {"model": {"backbone": "tiny"}, "data": {"dataset": "no-images"}}, "t")
    with pytest.raises(DataError, match=r"dataset 'no-images' \(train split\) holds no images"):
        load_dataset(resolve(config, host), host)


def test_an_image_folder_with_a_fifo_named_like_an_image_does_not_hang(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(3):
        Image.new("L", (28, 28), color=i * 40).save(root / f"{i}.png")
    os.mkfifo(root / "3.png")
    start = time.monotonic()
    with pytest.raises(DataError, match=re.escape(f"'{root / '3.png'}' is a named pipe (FIFO), not a regular file")):
        PluginHost().registries.datasets.get("image-folder").load(
            DatasetRequest(root=root, options={"image_shape": [1, 28, 28]})
        )
    assert time.monotonic() - start < 10
