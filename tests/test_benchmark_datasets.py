"""The disentanglement benchmarks' data sets (dsprites, 3dshapes, mpi3d) from small files written here
in the published formats, their downloads from a local HTTP server, hostile files, and the CLI.

The published files are too large for a test (3 GB to 12.7 GB unpacked); these have the same keys,
dtypes, image shapes and grid order with a few factor values each.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import math
import sys
import threading
import tomllib
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from infogan_tk_datasets import dsprites, mpi3d, shapes3d
from infogan_tk_datasets._download import Remote, fetch, resolve
from infogan_toolkit.cli.app import app
from infogan_toolkit.datasets import DatasetRequest, grid_decode
from infogan_toolkit.errors import ConfigError, DataError, ToolkitError
from infogan_toolkit.plugins import PluginHost
from infogan_toolkit.testing import check_dataset

# Tiny grids leave many-valued factors with few rows per class; sklearn says so, rightly, every fit.
pytestmark = pytest.mark.filterwarnings("ignore:The number of unique classes is greater than 50%:UserWarning")

DSPRITES_SIZES = (1, 3, 2, 2, 2, 2)  # colour, shape, scale, orientation, x, y (published: 1, 3, 6, 40, 32, 32)
SHAPES3D_SIZES = (2, 2, 2, 2, 2, 2)  # published: 10, 10, 10, 8, 4, 15
MPI3D_SIZES = (2, 2, 1, 1, 2, 2, 2)  # published: 6, 6, 2, 3, 3, 40, 40


# -- the files, in their published formats -----------------------------------------------------------
def grid(sizes: tuple[int, ...]) -> np.ndarray:
    return grid_decode(torch.arange(math.prod(sizes)), sizes).numpy()


def write_dsprites(folder: Path, sizes: tuple[int, ...] = DSPRITES_SIZES, seed: int = 0, **replace: np.ndarray) -> dict:
    """An archive with dSprites' keys and dtypes (np.savez_compressed, as the published one)."""
    classes = grid(sizes).astype(np.int64)
    arrays = {
        "imgs": np.random.default_rng(seed).integers(0, 2, (len(classes), 64, 64), dtype=np.uint8),
        "latents_classes": classes,
        "latents_values": classes.astype(np.float64) / 10,
        "metadata": np.array({"description": "test"}, dtype=object),  # a pickle, as in the real file
    }
    arrays.update(replace)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / dsprites.FILENAME, **arrays)
    return arrays


def write_shapes3d(
    path: Path,
    sizes: tuple[int, ...] = SHAPES3D_SIZES,
    images: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """An HDF5 file with 3dshapes.h5's two datasets: uint8 images (chunked, gzip) and float64 label values."""
    classes = grid(sizes)
    if images is None:
        images = np.random.default_rng(seed).integers(0, 256, (len(classes), 64, 64, 3), dtype=np.uint8)
    if labels is None:
        labels = classes * 0.25 + 0.5  # values, as the real file stores them, not indices
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, chunks=(1, *images.shape[1:]), compression="gzip")
        f.create_dataset("labels", data=labels)
    return images


def write_mpi3d(
    path: Path,
    sizes: tuple[int, ...] = MPI3D_SIZES,
    compressed: bool = False,
    seed: int = 0,
    images: np.ndarray | None = None,
) -> np.ndarray:
    """An archive with MPI3D's one key, uint8 ``images`` saved as the factor grid (a shape the README names)."""
    if images is None:
        images = np.random.default_rng(seed).integers(0, 256, (*sizes, 64, 64, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compressed else np.savez)(path, images=images)
    return images


def npz_with_header(path: Path, key: str, header: dict, payload: bytes, **others: np.ndarray) -> None:
    """An archive whose ``key.npy`` has a hand-written header (e.g. a shape far larger than its data),
    beside ordinary arrays ``others``."""
    text = repr(header).encode("latin1")
    pad = (64 - (10 + len(text) + 1) % 64) % 64
    npy = b"\x93NUMPY\x01\x00" + (len(text) + pad + 1).to_bytes(2, "little") + text + b" " * pad + b"\n" + payload
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{key}.npy", npy)
        for name, array in others.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array)
            z.writestr(f"{name}.npy", buffer.getvalue())


@pytest.fixture(scope="module")
def registry():
    return PluginHost().registries.datasets


def load(registry, name: str, root: Path, **options):
    return registry.get(name).load(DatasetRequest(root=root, options=options))


# -- reading ------------------------------------------------------------------------------------------
def test_registered_with_descriptions_and_licences(registry):
    for name in ("dsprites", "3dshapes", "mpi3d"):
        entry = registry.entry(name)
        assert entry.plugin == "datasets" and entry.obj.description and entry.obj.license
        assert entry.obj.needs_root


def test_dsprites_images_factors_and_labels(registry, tmp_path):
    arrays = write_dsprites(tmp_path)
    ds = check_dataset(registry.get("dsprites"), DatasetRequest(root=tmp_path, image_shape=(1, 64, 64)))
    assert ds.factor_names == ("shape", "scale", "orientation", "position_x", "position_y")
    assert ds.factor_sizes == DSPRITES_SIZES[1:] and len(ds) == 48 and ds.factor_grid
    assert torch.equal(ds.factors, torch.from_numpy(arrays["latents_classes"][:, 1:]))
    assert torch.equal(ds.labels, torch.from_numpy(arrays["latents_classes"][:, 1]))
    index = torch.tensor([47, 0, 13, 13, 30])
    expected = torch.from_numpy(arrays["imgs"][index.numpy()] * 255).unsqueeze(1)
    assert torch.equal(ds.images(index), expected)  # 0/1 pixels come out as 0/255
    factors = ds.factors[index]
    assert torch.equal(ds.factor_index(factors), index)
    # The colour column is dropped, as disentanglement_lib and disent do; the sizes are the file's.
    assert dsprites.PUBLISHED_SIZES == (3, 6, 40, 32, 32)
    # Held as packed bits: 1/8 byte per pixel.
    assert ds.store.packed.shape == (48, 512) and ds.store.packed.dtype == torch.uint8


def test_dsprites_found_in_disentanglement_lib_layout(registry, tmp_path):
    write_dsprites(tmp_path / "dsprites")
    assert len(load(registry, "dsprites", tmp_path)) == 48


@pytest.mark.parametrize("in_memory", [False, True])
def test_shapes3d_images_factors_and_labels(registry, tmp_path, in_memory):
    images = write_shapes3d(tmp_path / "3dshapes.h5")
    request = DatasetRequest(root=tmp_path, image_shape=(3, 64, 64), options={"in_memory": in_memory})
    ds = check_dataset(registry.get("3dshapes"), request)
    assert ds.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert ds.factor_sizes == SHAPES3D_SIZES and len(ds) == 64
    assert torch.equal(ds.labels, torch.from_numpy(grid(SHAPES3D_SIZES)[:, 4]))  # the shape
    index = torch.tensor([63, 5, 5, 0])  # repeated and unsorted: h5py needs neither
    assert torch.equal(ds.images(index), torch.from_numpy(images[index.numpy()]).permute(0, 3, 1, 2))


@pytest.mark.parametrize("compressed", [False, True])
def test_mpi3d_mapped_or_unpacked_once(registry, tmp_path, compressed):
    images = write_mpi3d(tmp_path / "mpi3d_toy.npz", compressed=compressed)
    ds = check_dataset(registry.get("mpi3d"), DatasetRequest(root=tmp_path, image_shape=(3, 64, 64)))
    assert ds.factor_names == (
        "object_color",
        "object_shape",
        "object_size",
        "camera_height",
        "background_color",
        "first_dof",
        "second_dof",
    )
    assert ds.factor_sizes == MPI3D_SIZES and len(ds) == 32
    assert torch.equal(ds.labels, torch.from_numpy(grid(MPI3D_SIZES)[:, 1]))
    flat = images.reshape(-1, 64, 64, 3)
    index = torch.tensor([31, 2, 17])
    assert torch.equal(ds.images(index), torch.from_numpy(flat[index.numpy()]).permute(0, 3, 1, 2))
    assert isinstance(ds.store.array, np.memmap)  # never loaded whole
    cache = tmp_path / "mpi3d_toy.images.npy"
    assert cache.is_file() == compressed
    if compressed:  # a second load maps the unpacked copy instead of unpacking again
        stamp = cache.stat().st_mtime_ns
        load(registry, "mpi3d", tmp_path)
        assert cache.stat().st_mtime_ns == stamp
    held = load(registry, "mpi3d", tmp_path, in_memory=True)
    assert held.store.data.shape == (32, 3, 64, 64)
    assert torch.equal(held.images(index), ds.images(index))


def test_published_grids_and_checksums_are_the_benchmarks():
    assert mpi3d.KNOWN_GRIDS == {1_036_800: (6, 6, 2, 3, 3, 40, 40), 460_800: (4, 4, 2, 3, 3, 40, 40)}
    assert math.prod(shapes3d.PUBLISHED_SIZES) == 480_000 and math.prod(dsprites.PUBLISHED_SIZES) == 737_280
    assert shapes3d.REMOTE.sha256 and shapes3d.REMOTE.size == 267_573_662
    for remote in (dsprites.REMOTE, shapes3d.REMOTE, *mpi3d.SUBSETS.values()):
        assert remote.url.startswith("https://") and (remote.sha256 or remote.md5) and remote.checksum_source


# -- hostile files ------------------------------------------------------------------------------------
def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message and message
    return message


N = 48


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"imgs": None}, r"has no array 'imgs' \(it holds: .*latents_classes"),
        ({"latents_classes": None}, "has no array 'latents_classes'"),
        ({"imgs": np.zeros((N, 64, 64), np.float32)}, r"'imgs' is float32 \(48, 64, 64\), expected uint8"),
        ({"imgs": np.zeros((N, 32, 32), np.uint8)}, r"'imgs' is uint8 \(48, 32, 32\), expected uint8 \(48, 64, 64\)"),
        ({"imgs": np.full((N, 64, 64), 255, np.uint8)}, "pixel value above 1"),
        ({"imgs": np.array([None] * N, dtype=object)}, "holds Python objects"),
        ({"latents_classes": np.zeros((N, 5), np.int64)}, r"'latents_classes' is int64 \(48, 5\), expected int64"),
        ({"latents_classes": grid(DSPRITES_SIZES)[::-1].copy()}, "not the complete factor grid in order"),
        ({"latents_classes": grid(DSPRITES_SIZES)[:40].copy()}, "lists 40 images but its factor ranges"),
        ({"latents_classes": grid((2, 3, 2, 2, 1, 2))}, "has 2 colours"),
    ],
)
def test_bad_dsprites_archives_are_one_line_errors(registry, tmp_path, replace, message):
    write_dsprites(tmp_path, **replace)
    with pytest.raises(DataError, match=message) as info:
        load(registry, "dsprites", tmp_path)
    assert dsprites.FILENAME in one_line(info)


def test_cut_off_and_huge_dsprites_archives(registry, tmp_path):
    write_dsprites(tmp_path)
    path = tmp_path / dsprites.FILENAME
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable .npz archive.*cut off or damaged") as info:
        load(registry, "dsprites", tmp_path)
    one_line(info)
    # A header may claim any shape: a billion images in a few bytes is refused before anything is allocated.
    imgs = np.zeros((N, 64, 64), np.uint8)
    npz_with_header(
        path, "latents_classes", {"descr": "<i8", "fortran_order": False, "shape": (10**9, 6)}, b"\0" * 96, imgs=imgs
    )
    with pytest.raises(DataError, match=r"declares shape \(1000000000, 6\).*archive holds 96 bytes") as info:
        load(registry, "dsprites", tmp_path)
    one_line(info)
    # Within what the archive holds but above the image limit: refused before the array is read.
    big = {"descr": "<i8", "fortran_order": False, "shape": (10**7, 6)}
    npz_with_header(path, "latents_classes", big, b"\0" * (10**7 * 48), imgs=imgs)
    with pytest.raises(DataError, match="declares 10,000,000 images, more than the 8,388,608"):
        load(registry, "dsprites", tmp_path)
    npz_with_header(path, "imgs", {}, b"", latents_classes=grid(DSPRITES_SIZES))
    with pytest.raises(DataError, match="'imgs' has no valid .npy header"):
        load(registry, "dsprites", tmp_path)


def test_bad_shapes3d_files_are_one_line_errors(registry, tmp_path):
    path = tmp_path / "3dshapes.h5"
    write_shapes3d(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError, match="not a readable HDF5 file.*cut off or damaged") as info:
        load(registry, "3dshapes", tmp_path)
    one_line(info)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.zeros((64, 64, 64, 3), np.uint8))
    with pytest.raises(DataError, match=r"has no dataset 'labels' \(it holds: images\)") as info:
        load(registry, "3dshapes", tmp_path)
    one_line(info)
    write_shapes3d(path, images=np.zeros((64, 64, 64, 3), np.float32))
    with pytest.raises(DataError, match=r"'images' is float32 \(64, 64, 64, 3\), expected uint8"):
        load(registry, "3dshapes", tmp_path)
    write_shapes3d(path, images=np.zeros((64, 32, 32, 3), np.uint8))
    with pytest.raises(DataError, match=r"expected uint8 \(64, 64, 64, 3\)"):
        load(registry, "3dshapes", tmp_path)
    labels = grid(SHAPES3D_SIZES) * 1.0
    labels[5] = labels[6]  # one image listed twice, one missing
    write_shapes3d(path, labels=labels)
    with pytest.raises(DataError, match="not the complete factor grid in order"):
        load(registry, "3dshapes", tmp_path)
    labels[5, 0] = np.nan
    write_shapes3d(path, labels=labels)
    with pytest.raises(DataError, match="NaN or infinite"):
        load(registry, "3dshapes", tmp_path)
    # A declared size far beyond the limit (a resizable dataset costs no disk) is refused before any read.
    with h5py.File(path, "w") as f:
        f.create_dataset("images", shape=(10**8, 64, 64, 3), dtype=np.uint8, chunks=(1, 64, 64, 3))
        f.create_dataset("labels", shape=(10**8, 6), dtype=np.float64, chunks=(1024, 6))
    with pytest.raises(DataError, match="declares 100,000,000 images, more than the"):
        load(registry, "3dshapes", tmp_path)


def test_bad_mpi3d_archives_are_one_line_errors(registry, tmp_path):
    path = tmp_path / "mpi3d_toy.npz"
    write_mpi3d(path, images=np.zeros((1000, 64, 64, 3), np.uint8))
    with pytest.raises(DataError, match=r"holds 1,000 images; MPI3D files hold 1,036,800 or 460,800") as info:
        load(registry, "mpi3d", tmp_path)
    one_line(info)
    write_mpi3d(path, images=np.zeros((*MPI3D_SIZES, 64, 64, 3), np.int16))
    with pytest.raises(DataError, match=r"is int16 .*expected uint8"):
        load(registry, "mpi3d", tmp_path)
    np.savez(path, pictures=np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(DataError, match=r"has no array 'images' \(it holds: pictures\)"):
        load(registry, "mpi3d", tmp_path)
    # Stored (not compressed) and cut off inside the image bytes: the zip directory is gone too.
    write_mpi3d(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 5000])
    with pytest.raises(DataError, match="cut off or damaged"):
        load(registry, "mpi3d", tmp_path)
    header = {"descr": "|u1", "fortran_order": False, "shape": (1_036_800, 64, 64, 3)}
    npz_with_header(path, "images", header, b"\0" * 1000)
    with pytest.raises(DataError, match=r"declares shape \(1036800, 64, 64, 3\)"):
        load(registry, "mpi3d", tmp_path)


def test_options_and_shapes_are_checked(registry, tmp_path):
    write_mpi3d(tmp_path / "mpi3d_toy.npz")
    with pytest.raises(ConfigError, match="option 'subset' must be one of toy, realistic, real"):
        load(registry, "mpi3d", tmp_path, subset="tiny")
    with pytest.raises(ConfigError, match="option 'in_memory' must be true or false"):
        load(registry, "mpi3d", tmp_path, in_memory="yes")
    with pytest.raises(ConfigError, match="has no option 'sha265'. Did you mean 'sha256'"):
        load(registry, "dsprites", tmp_path, sha265="0" * 64)
    with pytest.raises(
        ConfigError, match="has 3x64x64 images, the backbone draws 1x64x64; use a 3x64x64 backbone such as 'rgb64'"
    ):
        registry.get("mpi3d").load(DatasetRequest(root=tmp_path, image_shape=(1, 64, 64)))
    with pytest.raises(DataError, match=r"mpi3d_real.npz not found in .*or --download"):
        load(registry, "mpi3d", tmp_path, subset="real")


def test_missing_h5py_names_the_extra(registry, tmp_path, monkeypatch):
    write_shapes3d(tmp_path / "3dshapes.h5")
    monkeypatch.setitem(sys.modules, "h5py", None)  # what Python does for a package that is not installed
    with pytest.raises(
        ToolkitError, match=r"h5py is not installed.*pip install 'infogan-toolkit\[benchmarks\]'"
    ) as info:
        load(registry, "3dshapes", tmp_path)
    one_line(info)


# -- downloads from a local server ---------------------------------------------------------------------
class Files(http.server.BaseHTTPRequestHandler):
    """Serves ``FILES``; ``/cut/NAME`` announces the whole file but sends half of it, then hangs up."""

    files: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        cut = self.path.startswith("/cut/")
        body = self.files.get(self.path.removeprefix("/cut/").lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if cut else body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("published")
    write_dsprites(folder, seed=3)
    return (folder / dsprites.FILENAME).read_bytes()


def test_download_checks_the_published_checksum_and_keeps_nothing_wrong(server, archive, tmp_path):
    Files.files["dsprites.npz"] = archive
    # A mirror serving another file than the published one: the published MD5 catches it.
    remote = resolve(dsprites.REMOTE, "dsprites", f"{server}/dsprites.npz")
    with pytest.raises(DataError, match=r"has md5 [0-9a-f]{32}, expected 7da33b31b13a06f4b04a70402ce90c2e") as info:
        fetch(remote, tmp_path)
    one_line(info)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its partial copy is left
    # A wrong pinned SHA-256.
    with pytest.raises(DataError, match="has sha256 .*expected 0000"):
        fetch(resolve(dsprites.REMOTE, "dsprites", f"{server}/dsprites.npz", "0" * 64), tmp_path)
    # The published size of 3dshapes.h5 is known: a server announcing another is refused before the body.
    with pytest.raises(DataError, match=r"announces [0-9,]+ bytes but 3dshapes.h5 is 267,573,662"):
        fetch(resolve(shapes3d.REMOTE, "3dshapes", f"{server}/dsprites.npz"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cut_off_and_unreachable_downloads_are_one_line(server, archive, tmp_path):
    Files.files["dsprites.npz"] = archive
    sha = hashlib.sha256(archive).hexdigest()
    with pytest.raises(
        DataError, match=r"was cut off at [0-9,]+ (of [0-9,]+ )?bytes.*run again with --download"
    ) as info:
        fetch(resolve(dsprites.REMOTE, "dsprites", f"{server}/cut/dsprites.npz", sha), tmp_path)
    one_line(info)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="cannot download .* from .*/missing.npz"):
        fetch(Remote("x.npz", f"{server}/missing.npz", sha256=sha), tmp_path)
    with pytest.raises(ConfigError, match="option 'url' must be an http"):
        resolve(dsprites.REMOTE, "dsprites", "ftp://example.org/x")
    with pytest.raises(ConfigError, match="option 'sha256' must be 64 hex digits"):
        resolve(dsprites.REMOTE, "dsprites", None, "abc")


# -- through the CLI ----------------------------------------------------------------------------------
TRAIN = [
    "--steps",
    "2",
    "--batch-size",
    "8",
    "--quiet",
    "--no-eval",
    "--device",
    "cpu",
    "--set",
    "train.checkpoint_every=2",
    "--set",
    "train.figures=false",
]
SIZES = {
    "accuracy_samples": 40,
    "factor_samples": 40,
    "factor_test_samples": 20,
    "dci_trees": 2,
    "factorvae_batch": 4,
    "factorvae_train": 10,
    "factorvae_eval": 10,
    "factorvae_variance": 32,
}


def size_args() -> list[str]:
    return [arg for k, v in SIZES.items() for arg in ("--size", f"{k}={v}")]


def one_line_cli_error(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and sum(line.startswith("error: ") for line in lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[-1]


def test_dsprites_downloads_trains_and_evaluates_through_the_cli(server, archive, tmp_path):
    Files.files["dsprites.npz"] = archive
    root, run = tmp_path / "data", tmp_path / "run"
    runner = CliRunner()
    url, sha = f"{server}/dsprites.npz", hashlib.sha256(archive).hexdigest()
    args = [
        "train",
        "--backbone",
        "shapes",
        "--codes",
        "cat3,unif4",
        "--dataset",
        "dsprites",
        "--data-root",
        str(root),
        "--download",
        "--set",
        f'data.options.url="{url}"',
        "--out",
        str(run),
        *TRAIN,
    ]
    # Without a pinned hash the mirror's file must be the published one: refused, nothing kept.
    assert "expected 7da33b31b13a06f4b04a70402ce90c2e" in one_line_cli_error(runner.invoke(app, args))
    assert not (root / dsprites.FILENAME).exists()
    result = runner.invoke(app, [*args, "--set", f'data.options.sha256="{sha}"'])
    assert result.exit_code == 0, result.stderr
    assert f"sha256 {sha}" in result.stderr
    assert (root / dsprites.FILENAME).read_bytes() == archive
    result = runner.invoke(
        app,
        [
            "eval",
            str(run),
            "--json",
            "--samples",
            "40",
            "--seed",
            "1",
            "--metrics",
            "accuracy,mig,sap,dci,factorvae",
            *size_args(),
        ],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dataset"]["name"] == "dsprites" and report["dataset"]["factor_grid"] is True
    assert report["dataset"]["factor_names"] == ["shape", "scale", "orientation", "position_x", "position_y"]
    assert report["dataset"]["factor_sizes"] == [3, 2, 2, 2, 2]
    for metric in ("mig", "sap", "dci", "factorvae"):
        assert metric in report, report.get("skipped")
    assert 0.0 <= report["factorvae"]["factor_vae"] <= 1.0
    assert report["accuracy"]["codes"]  # the shape label scores the categorical code


def test_rgb_benchmarks_train_and_evaluate_through_the_cli(tmp_path):
    write_shapes3d(tmp_path / "3dshapes.h5")
    write_mpi3d(tmp_path / "mpi3d_toy.npz")
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--backbone",
            "rgb64",
            "--dataset",
            "3dshapes",
            "--data-root",
            str(tmp_path),
            "--out",
            str(run),
            *TRAIN,
        ],
    )
    assert result.exit_code == 0, result.stderr
    result = runner.invoke(
        app,
        [
            "eval",
            str(run),
            "--json",
            "--samples",
            "40",
            "--dataset",
            "mpi3d",
            "--data-root",
            str(tmp_path),
            "--metrics",
            "mig,factorvae",
            *size_args(),
        ],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dataset"]["name"] == "mpi3d" and report["dataset"]["factor_sizes"] == list(MPI3D_SIZES)
    # A hostile file through the CLI: one line, no traceback.
    (tmp_path / "mpi3d_toy.npz").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    line = one_line_cli_error(
        runner.invoke(
            app,
            [
                "eval",
                str(run),
                "--dataset",
                "mpi3d",
                "--data-root",
                str(tmp_path),
                "--metrics",
                "mig",
                "--out",
                str(tmp_path / "bad.json"),
            ],
        )
    )
    assert "mpi3d_toy.npz is not a readable .npz archive" in line
    line = one_line_cli_error(
        runner.invoke(
            app,
            [
                "train",
                "--backbone",
                "shapes",
                "--dataset",
                "mpi3d",
                "--data-root",
                str(tmp_path),
                "--out",
                str(tmp_path / "r2"),
                *TRAIN,
            ],
        )
    )
    assert "use a 3x64x64 backbone such as 'rgb64'" in line


def test_the_infogan_cr_config_trains_on_dsprites(tmp_path):
    """configs/dsprites-infogan-cr.toml, Lin et al.'s setting, for two CPU steps (the contrastive term on
    from step 0 so that it runs); the published run is research/gpu_session.sh's dsprites-cr phase."""
    write_dsprites(tmp_path / "data")
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            "dsprites-infogan-cr",
            "--data-root",
            str(tmp_path / "data"),
            "--out",
            str(run),
            *TRAIN,
            "--set",
            "loss.contrastive.start=0",
            "--set",
            "train.log_every=1",
        ],
    )
    assert result.exit_code == 0, result.stderr
    config = tomllib.loads((run / "config.toml").read_text())
    model, loss, optim = config["model"], config["loss"], config["optim"]
    assert (model["backbone"], model["codes"], model["noise_dim"], model["noise"]) == ("shapes", "unif5", 5, "uniform")
    assert (
        model["options"]["layout"] == "lean"
        and model["options"]["d_norm"] == "spectral"
        and model["options"]["width"] == 32
    )
    assert model["heads"] == {"unif": "gaussian-fixed"} and loss["lambda_continuous"] == 0.05
    assert loss["contrastive"]["weight"] == 2.0 and (optim["lr_g"], optim["lr_d"], optim["beta1"]) == (1e-3, 2e-3, 0.5)
    published = tomllib.loads((Path(__file__).parents[1] / "configs" / "dsprites-infogan-cr.toml").read_text())
    assert published["train"]["steps"] == 28 * 737_280 // 64 and published["train"]["batch_size"] == 64
    assert published["loss"]["contrastive"]["start"] == 288_000
    assert "contrastive_accuracy" in (run / "metrics.jsonl").read_text()
