"""The built-in dataset plugins, loaded through a real PluginHost from real files written here.

Real MNIST is the copy the toolkit ships (plugins/mnist-data); every
other file (IDX, .mat, jpg/png/bmp, CelebA text files) is written by the tests in its real format.
"""

from __future__ import annotations

import gzip
import math
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from infogan_tk_mnist_data import verified_dir
from infogan_toolkit.datasets import DatasetRequest, ImageDataset
from infogan_toolkit.errors import ConfigError, DataError
from infogan_toolkit.plugins import PluginHost
from infogan_toolkit.testing import check_dataset

MNIST_RAW = verified_dir()  # the MNIST copy the toolkit ships
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(scope="module")
def datasets():
    """The dataset registry of a real plugin host (entry points included)."""
    return PluginHost().registries.datasets


def load(datasets, name: str, root: Path | None, **kwargs) -> ImageDataset:
    return datasets.get(name).load(DatasetRequest(root=root, **kwargs))


def test_all_builtins_registered_with_descriptions(datasets):
    for name in ("mnist", "svhn", "celeba", "image-folder", "shapes"):
        entry = datasets.entry(name)
        assert entry.plugin == "datasets"
        assert entry.obj.description
    assert datasets.get("shapes").needs_root is False
    assert datasets.get("mnist").needs_root is True


def test_every_builtin_passes_the_conformance_kit(datasets, tmp_path):
    write_small_mnist(tmp_path / "mnist")
    write_svhn(tmp_path / "train_32x32.mat", 5)
    write_celeba(tmp_path / "celeba")
    write_folder(tmp_path / "folder")
    cases = [
        ("mnist", DatasetRequest(root=tmp_path / "mnist")),
        ("svhn", DatasetRequest(root=tmp_path)),
        ("celeba", DatasetRequest(root=tmp_path, image_shape=(3, 32, 32))),
        ("image-folder", DatasetRequest(root=tmp_path / "folder", image_shape=(1, 16, 16))),
        ("shapes", DatasetRequest(root=None, image_shape=(1, 64, 64))),
    ]
    for name, request in cases:
        ds = check_dataset(datasets.get(name), request)
        assert ds.labels is not None or ds.factors is not None, name
    assert not load(datasets, "celeba", tmp_path).factor_grid  # 40 attributes: far from every combination


# ---------------------------------------------------------------------------------------------- MNIST
def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write ``array`` (uint8) as an IDX file, the way the MNIST files are made."""
    payload = (
        bytes([0, 0, 0x08, array.ndim])
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.astype(np.uint8).tobytes()
    )
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def write_small_mnist(folder: Path, n: int = 7, compress: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return images, labels


def test_real_mnist_both_splits_and_layouts(datasets, tmp_path):
    train = load(datasets, "mnist", MNIST_RAW)
    assert train.data.shape == (60000, 1, 28, 28) and train.data.dtype == torch.uint8
    assert train.image_shape == (1, 28, 28)
    assert train.labels.shape == (60000,) and train.labels.dtype == torch.int64
    assert train.labels.min() == 0 and train.labels.max() == 9
    assert torch.bincount(train.labels).min() > 5000  # every digit is well represented
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first training labels
    assert 30 < train.data.float().mean() < 40 and train.data.max() == 255
    # torchvision's layout: the root above MNIST/raw
    (tmp_path / "MNIST").mkdir()
    (tmp_path / "MNIST" / "raw").symlink_to(MNIST_RAW)
    test = load(datasets, "mnist", tmp_path, split="test")
    assert test.data.shape == (10000, 1, 28, 28) and test.labels.shape == (10000,)
    assert test.labels[:3].tolist() == [7, 2, 1]
    picked = test.images(torch.tensor([0, 9999]))
    assert torch.equal(picked, test.data[[0, 9999]])


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_small_idx_plain_and_gzipped(datasets, tmp_path, compress):
    images, labels = write_small_mnist(tmp_path, compress=compress)
    for split in ("train", "test"):
        ds = load(datasets, "mnist", tmp_path, split=split)
        assert torch.equal(ds.data[:, 0], torch.from_numpy(images))
        assert ds.labels.tolist() == labels.tolist()


def test_mnist_found_under_torchvision_layout(datasets, tmp_path):
    images, _ = write_small_mnist(tmp_path / "MNIST" / "raw", n=3)
    ds = load(datasets, "mnist", tmp_path)
    assert torch.equal(ds.data[:, 0], torch.from_numpy(images))


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_idx_is_a_data_error_naming_the_file(datasets, tmp_path, compress):
    write_small_mnist(tmp_path, compress=compress)
    name = "train-images-idx3-ubyte" + (".gz" if compress else "")
    path = tmp_path / name
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError) as err:
        load(datasets, "mnist", tmp_path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert "truncated" in message or "damaged" in message


def test_idx_with_bad_magic_or_wrong_kind(datasets, tmp_path):
    write_small_mnist(tmp_path)
    bad = tmp_path / "train-labels-idx1-ubyte"
    bad.write_bytes(b"\x08\x03" + bad.read_bytes()[2:])
    with pytest.raises(DataError, match="not an IDX file") as err:
        load(datasets, "mnist", tmp_path)
    assert str(bad) in str(err.value)
    # an images file where the labels file belongs
    bad.write_bytes((tmp_path / "train-images-idx3-ubyte").read_bytes())
    with pytest.raises(DataError, match="not uint8 \\(N,\\) labels"):
        load(datasets, "mnist", tmp_path)


def test_mnist_count_mismatch(datasets, tmp_path):
    write_small_mnist(tmp_path, n=5)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataError, match="5 images but .* 4 labels"):
        load(datasets, "mnist", tmp_path)


def test_mnist_missing_root_lists_expected_files(datasets, tmp_path, monkeypatch):
    # Without the shipped copy installed (a None entry makes its import fail), no root is an error.
    monkeypatch.setitem(sys.modules, "infogan_tk_mnist_data", None)
    with pytest.raises(DataError) as err:
        load(datasets, "mnist", None)
    message = str(err.value)
    for name in MNIST_FILES:
        assert name in message
    assert "--data-root" in message and "--download" in message and "\n" not in message
    assert "install the shipped copy (infogan-tk-mnist-data, which scripts/install does)" in message
    # an empty folder: still names the files and where they were looked for
    with pytest.raises(DataError) as err:
        load(datasets, "mnist", tmp_path)
    message = str(err.value)
    assert "train-images-idx3-ubyte" in message and str(tmp_path / "MNIST" / "raw") in message
    with pytest.raises(DataError, match="not a directory"):
        load(datasets, "mnist", tmp_path / "nope")


def test_bad_split_and_option_are_config_errors(datasets, tmp_path):
    write_small_mnist(tmp_path)
    with pytest.raises(ConfigError, match="no split 'tset'.*Did you mean 'test'"):
        load(datasets, "mnist", tmp_path, split="tset")
    with pytest.raises(ConfigError, match="no option 'crop'"):
        load(datasets, "mnist", tmp_path, options={"crop": 3})
    with pytest.raises(ConfigError, match="Did you mean 'limit'"):
        load(datasets, "celeba", tmp_path, options={"limt": 3})


# ---------------------------------------------------------------------------------------------- SVHN
def write_svhn(path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 200, size=(32, 32, 3, n), dtype=np.uint8)  # (H, W, C, N) as in the real files
    y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)  # 1..10, 10 standing for 0
    scipy.io.savemat(path, {"X": x, "y": y})
    return x, y


def test_svhn_layout_and_label_ten_is_zero(datasets, tmp_path):
    x, y = write_svhn(tmp_path / "train_32x32.mat", 12)
    x[3, 5, 2, 9] = 250  # a known pixel: row 3, column 5, blue, image 9
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"X": x, "y": y})
    ds = load(datasets, "svhn", tmp_path)
    assert ds.data.shape == (12, 3, 32, 32) and ds.data.dtype == torch.uint8 and ds.image_shape == (3, 32, 32)
    assert ds.data[9, 2, 3, 5] == 250
    assert (ds.data == 250).sum() == 1
    assert torch.equal(ds.data[4], torch.from_numpy(x[:, :, :, 4]).permute(2, 0, 1))
    assert ds.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    assert ds.labels.dtype == torch.int64


def test_svhn_missing_and_corrupt_files(datasets, tmp_path):
    (tmp_path / "SVHN").mkdir()
    write_svhn(tmp_path / "SVHN" / "train_32x32.mat", 3)
    assert len(load(datasets, "svhn", tmp_path)) == 3  # ROOT/SVHN is accepted too
    with pytest.raises(DataError, match="test_32x32.mat not found"):
        load(datasets, "svhn", tmp_path, split="test")
    broken = tmp_path / "test_32x32.mat"
    broken.write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 40)
    with pytest.raises(DataError) as err:
        load(datasets, "svhn", tmp_path, split="test")
    assert str(broken) in str(err.value)
    scipy.io.savemat(broken, {"images": np.zeros((2, 2))})
    with pytest.raises(DataError, match="no 'X' and 'y'"):
        load(datasets, "svhn", tmp_path, split="test")


# ---------------------------------------------------------------------------------------------- CelebA
ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()
CELEBA_SIZES = [(90, 30), (41, 57), (33, 70), (64, 64), (50, 37), (73, 29)]  # (width, height), all odd crops
CELEBA_COLORS = [(240, 240, 240), (200, 30, 30), (30, 200, 30), (30, 30, 200), (120, 60, 200), (10, 10, 10)]
CELEBA_PARTITION = [0, 0, 0, 0, 1, 2]


def celeba_flags(i: int) -> list[int]:
    return [1 if (i + k) % 3 == 0 else -1 for k in range(len(ATTRIBUTES))]


def write_celeba(base: Path) -> None:
    images = base / "img_align_celeba"
    images.mkdir(parents=True)
    for i, ((w, h), color) in enumerate(zip(CELEBA_SIZES, CELEBA_COLORS)):
        img = Image.new("RGB", (w, h), color)
        if i == 0:  # wide: green outer thirds that the centre crop must cut away
            img.paste((0, 255, 0), (0, 0, 30, 30))
            img.paste((0, 255, 0), (60, 0, 90, 30))
        img.save(images / f"{i + 1:06d}.jpg", quality=95)
    # The real files' spacing: values right-aligned in 3 columns ("-1" and " 1").
    lines = [str(len(CELEBA_SIZES)), " ".join(ATTRIBUTES)]
    lines += [f"{i + 1:06d}.jpg " + "".join(f"{v:3d}" for v in celeba_flags(i)) for i in range(len(CELEBA_SIZES))]
    (base / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (base / "list_eval_partition.txt").write_text(
        "".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate(CELEBA_PARTITION))
    )


def test_celeba_splits_resize_and_attributes(datasets, tmp_path):
    write_celeba(tmp_path)
    train = load(datasets, "celeba", tmp_path)
    assert train.data.shape == (4, 3, 32, 32) and train.data.dtype == torch.uint8
    assert train.labels is None
    assert train.factor_names == tuple(ATTRIBUTES) and train.factor_sizes == (2,) * 40
    assert train.factors.shape == (4, 40) and train.factors.dtype == torch.int64
    for i in range(4):
        assert train.factors[i].tolist() == [1 if v == 1 else 0 for v in celeba_flags(i)]
        mean = train.data[i].float().mean(dim=(1, 2))
        assert torch.allclose(mean, torch.tensor(CELEBA_COLORS[i], dtype=torch.float32), atol=8)
    # the centre crop of the wide image keeps only its white middle third (JPEG blurs the edge columns a bit)
    assert train.data[0, :, :, 2:-2].min() > 200
    test = load(datasets, "celeba", tmp_path, split="test")
    assert len(test) == 1 and test.factors[0].tolist() == [1 if v == 1 else 0 for v in celeba_flags(5)]
    assert len(load(datasets, "celeba", tmp_path, split="valid")) == 1
    gray = load(datasets, "celeba", tmp_path, image_shape=(1, 16, 12), options={"limit": 2, "crop": 0, "workers": 2})
    assert gray.data.shape == (2, 1, 16, 12)
    assert abs(gray.data[1].float().mean().item() - (0.299 * 200 + 0.587 * 30 + 0.114 * 30)) < 8


def test_celeba_torchvision_layout_and_errors(datasets, tmp_path):
    write_celeba(tmp_path / "celeba")
    assert len(load(datasets, "celeba", tmp_path)) == 4
    base = tmp_path / "celeba"
    (base / "img_align_celeba" / "000002.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError) as err:
        load(datasets, "celeba", tmp_path)
    assert "000002.jpg" in str(err.value) and "\n" not in str(err.value)
    (base / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(DataError, match="000002.jpg is missing"):
        load(datasets, "celeba", tmp_path)
    attr = base / "list_attr_celeba.txt"
    lines = attr.read_text().splitlines()
    lines[4] = lines[4].replace("-1", " 0", 1)
    attr.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 5 has a value other than 1 or -1"):
        load(datasets, "celeba", tmp_path)
    lines[4] = lines[4].rsplit(" ", 1)[0]
    attr.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 5 has 40 fields, expected 41"):
        load(datasets, "celeba", tmp_path)
    attr.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DataError, match="announces 6 images but lists 5"):
        load(datasets, "celeba", tmp_path)
    with pytest.raises(DataError, match="list_eval_partition.txt"):
        load(datasets, "celeba", tmp_path / "celeba" / "img_align_celeba")
    with pytest.raises(ConfigError, match="no split 'validation'"):
        load(datasets, "celeba", tmp_path, split="validation")


# ---------------------------------------------------------------------------------------------- image-folder
def write_folder(root: Path) -> dict[str, tuple[int, int, int]]:
    """Two classes, mixed formats and sizes, one nested deeper; solid colours to check conversion."""
    files = {
        "cats/a.png": (250, 10, 10),
        "cats/deeper/b.jpg": (240, 20, 20),
        "dogs/c.bmp": (10, 10, 250),
        "dogs/d.PNG": (20, 20, 240),
        "dogs/e.jpeg": (10, 250, 10),
    }
    for i, (name, color) in enumerate(files.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20 + 7 * i, 31 - 3 * i), color).save(path)
    (root / "dogs" / "notes.txt").write_text("not an image")
    return files


def test_image_folder_color_and_subfolder_labels(datasets, tmp_path):
    files = write_folder(tmp_path)
    ds = load(datasets, "image-folder", tmp_path, image_shape=(3, 8, 8))
    assert ds.data.shape == (5, 3, 8, 8) and ds.data.dtype == torch.uint8
    assert ds.class_names == ("cats", "dogs")
    assert ds.labels.tolist() == [0, 0, 1, 1, 1]
    expected = [files[k] for k in sorted(files, key=lambda name: str(tmp_path / name))]
    for i, color in enumerate(expected):
        assert torch.allclose(ds.data[i].float().mean(dim=(1, 2)), torch.tensor(color, dtype=torch.float32), atol=8)


def test_image_folder_gray_option_shape_and_loose_files(datasets, tmp_path):
    Image.new("RGB", (40, 20), (255, 0, 0)).save(tmp_path / "red.png")
    Image.new("L", (13, 17), 77).save(tmp_path / "gray.bmp")
    ds = load(datasets, "image-folder", tmp_path, options={"image_shape": "1x6x10"})
    assert ds.data.shape == (2, 1, 6, 10)
    assert ds.labels is None  # images loose in the root: no classes
    assert abs(ds.data[0].float().mean().item() - 77) < 2  # gray.bmp sorts first
    assert abs(ds.data[1].float().mean().item() - 0.299 * 255) < 3
    with pytest.raises(ConfigError, match="needs an image shape"):
        load(datasets, "image-folder", tmp_path)
    with pytest.raises(ConfigError, match="differs from the backbone"):
        load(datasets, "image-folder", tmp_path, image_shape=(1, 6, 6), options={"image_shape": "1x6x10"})
    with pytest.raises(ConfigError, match="image shape"):
        load(datasets, "image-folder", tmp_path, options={"image_shape": "2x6x10"})


def test_image_folder_train_test_and_errors(datasets, tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            (tmp_path / split / "only").mkdir(parents=True, exist_ok=True)
            Image.new("L", (9, 9), 10 * i).save(tmp_path / split / "only" / f"{i}.png")
    assert len(load(datasets, "image-folder", tmp_path, image_shape=(1, 4, 4))) == 3
    assert len(load(datasets, "image-folder", tmp_path, split="test", image_shape=(1, 4, 4))) == 2
    corrupt = tmp_path / "test" / "only" / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    with pytest.raises(DataError) as err:
        load(datasets, "image-folder", tmp_path, split="test", image_shape=(1, 4, 4), options={"workers": 1})
    assert str(corrupt) in str(err.value) and "\n" not in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no png/jpg/bmp images"):
        load(datasets, "image-folder", empty, image_shape=(1, 4, 4))
    with pytest.raises(ConfigError, match="nothing to download"):
        load(datasets, "image-folder", empty, image_shape=(1, 4, 4), download=True)


def test_image_folder_many_files_across_threads(datasets, tmp_path):
    # More than one decoding chunk, so the thread pool path runs; order must follow the sorted paths.
    for i in range(600):
        Image.new("L", (5, 5), i % 251).save(tmp_path / f"{i:04d}.png")
    ds = load(datasets, "image-folder", tmp_path, image_shape=(1, 2, 2), options={"workers": 2})
    assert ds.data[:, 0, 0, 0].tolist() == [i % 251 for i in range(600)]


# ---------------------------------------------------------------------------------------------- shapes
@pytest.fixture(scope="module")
def shapes(datasets):
    return load(datasets, "shapes", None)


def frames(shapes, rows: list[list[int]]) -> torch.Tensor:
    """Render factor rows through the public path: factor_index, then images."""
    return shapes.images(shapes.factor_index(torch.tensor(rows)))[:, 0].float() / 255


def centre_of_mass(img: torch.Tensor) -> tuple[float, float]:
    ys, xs = torch.nonzero(img, as_tuple=True)
    return xs.float().mean().item(), ys.float().mean().item()


def test_shapes_grid_and_factors(shapes):
    assert len(shapes) == 737280 == 3 * 6 * 40 * 32 * 32
    assert shapes.image_shape == (1, 64, 64)
    assert shapes.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert shapes.factor_sizes == (3, 6, 40, 32, 32)
    assert shapes.factor_grid is True
    factors = shapes.factors
    assert factors.shape == (737280, 5) and factors.dtype == torch.int64
    assert factors[0].tolist() == [0, 0, 0, 0, 0] and factors[-1].tolist() == [2, 5, 39, 31, 31]
    assert factors[1].tolist() == [0, 0, 0, 0, 1]  # pos_y varies fastest, as in dSprites
    assert torch.equal(shapes.labels, factors[:, 0])
    # the round trip, over the whole grid
    assert torch.equal(shapes.factor_index(factors), torch.arange(737280))
    with pytest.raises(ValueError):
        shapes.factor_index(torch.tensor([[3, 0, 0, 0, 0]]))
    with pytest.raises(IndexError):
        shapes.images(torch.tensor([737280]))
    values = shapes.factor_values(torch.tensor([[2, 5, 39, 31, 0]]))[0]
    assert values.tolist() == pytest.approx([2.0, 1.0, 2 * math.pi, 1.0, 0.0])


def test_shapes_deterministic_binary_and_device_local(datasets, shapes):
    index = torch.randint(0, len(shapes), (64,), generator=torch.Generator().manual_seed(3))
    first = shapes.images(index)
    assert first.shape == (64, 1, 64, 64) and first.dtype == torch.uint8
    assert set(first.unique().tolist()) <= {0, 255}
    assert (first.flatten(1).sum(1) > 0).all()  # every image shows a shape
    again = load(datasets, "shapes", None, split="test").to("cpu").images(index)  # a new instance, the test split
    assert torch.equal(first, again)
    assert shapes.to("cpu") is shapes
    assert not any(
        isinstance(v, torch.Tensor) and v.numel() > 1000 for v in vars(shapes).values() if v is not shapes._factors
    )


def test_shapes_position_moves_the_centre_of_mass(shapes):
    for shape in range(3):
        xs = frames(shapes, [[shape, 3, 7, x, 12] for x in range(32)])
        centres = [centre_of_mass(img) for img in xs]
        cx = [c[0] for c in centres]
        assert all(b > a for a, b in zip(cx, cx[1:])), cx
        assert max(c[1] for c in centres) - min(c[1] for c in centres) < 0.6  # y stays put
        ys = frames(shapes, [[shape, 3, 7, 20, y] for y in range(32)])
        cy = [centre_of_mass(img)[1] for img in ys]
        assert all(b > a for a, b in zip(cy, cy[1:])), cy  # pos_y grows downwards (image rows)


def test_shapes_scale_orientation_and_shape(shapes):
    for shape in range(3):
        areas = frames(shapes, [[shape, s, 0, 16, 16] for s in range(6)]).sum(dim=(1, 2)).tolist()
        assert all(b > a for a, b in zip(areas, areas[1:])), areas
        assert 3.0 < areas[-1] / areas[0] < 5.0  # area grows like scale^2 = 4
    squares = frames(shapes, [[0, 5, o, 16, 16] for o in range(40)])
    area = squares.sum(dim=(1, 2))
    assert (area.max() - area.min()) / area.mean() < 0.1  # turning keeps the area
    assert (squares[0] != squares[5]).sum() > 20  # but moves the pixels
    assert torch.equal(squares[0], squares[39])  # 0 and 2*pi, both included as in dSprites
    three = frames(shapes, [[k, 5, 3, 16, 16] for k in range(3)])
    for a in range(3):
        for b in range(a + 1, 3):
            assert (three[a] != three[b]).sum() > 20


def test_shapes_stay_inside_the_frame(shapes):
    rows = [[k, 5, o, x, y] for k in range(3) for o in range(40) for x in (0, 31) for y in (0, 31)]
    imgs = frames(shapes, rows)
    border = imgs[:, 0, :].sum() + imgs[:, -1, :].sum() + imgs[:, :, 0].sum() + imgs[:, :, -1].sum()
    assert border == 0
    centred = frames(shapes, [[k, 5, o, 16, 16] for k, o, _, _ in ((r[0], r[2], 0, 0) for r in rows)])
    ratio = imgs.sum(dim=(1, 2)) / centred.sum(dim=(1, 2))
    assert ((ratio - 1).abs() < 0.1).all()  # nothing cut off at the edges


def reference_render(factors: np.ndarray, size: int = 64) -> np.ndarray:
    """An independent float64, full-frame rendering of the documented geometry."""
    from infogan_tk_datasets.shapes import MARGIN, RADIUS

    out = np.zeros((len(factors), size, size), dtype=bool)
    centres = (np.arange(size) + 0.5) / size
    px, py = np.meshgrid(centres, centres)
    for i, (kind, s, o, x, y) in enumerate(factors):
        scale, angle = np.linspace(0.5, 1, 6)[s], np.linspace(0, 2 * np.pi, 40)[o]
        cx = MARGIN + np.linspace(0, 1, 32)[x] * (1 - 2 * MARGIN)
        cy = MARGIN + np.linspace(0, 1, 32)[y] * (1 - 2 * MARGIN)
        dx, up = px - cx, cy - py
        u = (np.cos(angle) * dx + np.sin(angle) * up) / (RADIUS * scale)
        v = (np.cos(angle) * up - np.sin(angle) * dx) / (RADIUS * scale)
        if kind == 0:
            out[i] = np.maximum(abs(u), abs(v)) <= 1 / np.sqrt(2)
        elif kind == 1:
            out[i] = u**2 + (v / 0.5) ** 2 <= 1
        else:
            hx, hy = 1.26 * u, 1.26 * v + 0.25
            out[i] = (hx**2 + hy**2 - 1) ** 3 <= hx**2 * hy**3
    return out


def test_shapes_match_an_independent_full_frame_rendering(shapes):
    index = torch.randint(0, len(shapes), (200,), generator=torch.Generator().manual_seed(7))
    ours = shapes.images(index)[:, 0] == 255
    theirs = torch.from_numpy(reference_render(shapes.decode(index).numpy()))
    assert (ours != theirs).sum() <= 10  # float32 vs float64 may flip a pixel centre lying on an edge


def test_shapes_other_sizes_and_channels(datasets):
    small = load(datasets, "shapes", None, image_shape=(3, 32, 32))
    imgs = small.images(torch.tensor([0, 737279]))
    assert imgs.shape == (2, 3, 32, 32)
    assert torch.equal(imgs[:, 0], imgs[:, 2])
    assert imgs[:, :, 0].sum() == 0 and imgs[:, :, -1].sum() == 0
    with pytest.raises(ConfigError, match="square images"):
        load(datasets, "shapes", None, image_shape=(1, 32, 48))


# -- glyphs -------------------------------------------------------------------------------------------
def test_glyphs_grid_labels_and_round_trip(datasets):
    glyphs = load(datasets, "glyphs", None)
    assert len(glyphs) == 1452 == 3 * 4 * 11 * 11
    assert glyphs.image_shape == (1, 32, 32) and glyphs.factor_grid is True
    assert glyphs.factor_names == ("glyph", "size", "pos_x", "pos_y") and glyphs.factor_sizes == (3, 4, 11, 11)
    assert glyphs.factors[1].tolist() == [0, 0, 0, 1] and torch.equal(glyphs.labels, glyphs.factors[:, 0])
    assert torch.equal(glyphs.factor_index(glyphs.factors), torch.arange(1452))
    with pytest.raises(ValueError):
        glyphs.factor_index(torch.tensor([[3, 0, 0, 0]]))
    again = load(datasets, "glyphs", None, split="test")
    assert torch.equal(glyphs.data, again.data)  # generated, the same on every load
    with pytest.raises(ConfigError):
        load(datasets, "glyphs", None, options={"size": 1})


def test_glyphs_size_axis_options(datasets):
    wide = load(datasets, "glyphs", None, options={"sizes": 11, "min_radius": 5, "max_radius": 10.0})
    assert len(wide) == 3 * 11 * 11 * 11 and wide.factor_sizes == (3, 11, 11, 11)
    assert wide.radii[0] == 5.0 and wide.radii[-1] == 10.0 and wide.radii[1] == pytest.approx(5.5)
    assert torch.equal(wide.factor_index(wide.factors), torch.arange(len(wide)))
    ink = [wide.images(wide.factor_index(torch.tensor([[0, s, 5, 5]])))[0].float().sum().item() for s in range(11)]
    assert ink == sorted(ink) and len(set(ink)) == 11  # every radius draws a larger square
    largest = wide.images(wide.factor_index(torch.tensor([[1, 10, 0, 0], [1, 10, 10, 10]])))
    assert largest[:, :, 0].sum() == 0 and largest[:, :, :, 0].sum() == 0  # inside the frame at the extremes
    assert largest[:, :, -1].sum() == 0 and largest[:, :, :, -1].sum() == 0
    same = load(datasets, "glyphs", None, options={"sizes": 4, "min_radius": 6, "max_radius": 9})
    assert torch.equal(same.data, load(datasets, "glyphs", None).data)  # the options' defaults


def test_glyphs_brightness_axis_replaces_a_one_value_size_axis(datasets):
    bright = load(datasets, "glyphs", None, options={"sizes": 1, "intensities": 6})
    assert len(bright) == 3 * 6 * 11 * 11
    # An axis of one value is no factor; the brightness axis takes its place in the grid.
    assert bright.factor_names == ("glyph", "intensity", "pos_x", "pos_y") and bright.factor_sizes == (3, 6, 11, 11)
    assert bright.radii == (7.5,) and bright.intensities[0] == pytest.approx(0.35) and bright.intensities[-1] == 1.0
    assert torch.equal(bright.factor_index(bright.factors), torch.arange(len(bright)))
    peaks = [bright.images(bright.factor_index(torch.tensor([[0, level, 5, 5]])))[0].max().item() for level in range(6)]
    assert peaks == [round(255 * v) for v in bright.intensities]  # the square's inside is the level itself
    first, last = bright.images(bright.factor_index(torch.tensor([[2, 0, 3, 7], [2, 5, 3, 7]]))).float()
    assert torch.equal(first > 0, last > 0)  # brightness changes no outline
    assert torch.allclose(first, last * 0.35, atol=1.0)
    both = load(datasets, "glyphs", None, options={"intensities": 2, "min_intensity": 0.5})
    assert both.factor_names == ("glyph", "size", "intensity", "pos_x", "pos_y") and len(both) == 3 * 4 * 2 * 11 * 11
    full = both.images(both.factor_index(torch.tensor([[1, 2, 1, 4, 6]])))
    default = load(datasets, "glyphs", None)
    assert torch.equal(full, default.images(default.factor_index(torch.tensor([[1, 2, 4, 6]]))))


def test_glyphs_positions_option_spreads_more_centres_over_the_same_span(datasets):
    fine = load(datasets, "glyphs", None, options={"sizes": 1, "positions": 21})
    assert fine.factor_names == ("glyph", "pos_x", "pos_y") and fine.factor_sizes == (3, 21, 21) and len(fine) == 1323
    assert fine.centres[0] == 11.0 and fine.centres[-1] == 21.0 and fine.centres[1] == pytest.approx(11.5)
    assert torch.equal(fine.factor_index(fine.factors), torch.arange(1323))
    left, next_one, right = fine.images(fine.factor_index(torch.tensor([[0, 0, 10], [0, 1, 10], [0, 20, 10]]))).float()
    columns = lambda img: (img[0].sum(0) * torch.arange(32)).sum().item() / img.sum().item()  # noqa: E731
    assert columns(next_one) - columns(left) == pytest.approx(0.5, abs=0.1)  # half a pixel a step
    assert columns(right) - columns(left) == pytest.approx(10.0, abs=0.2)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"sizes": 0}, "'sizes' must be at least 1"),
        ({"intensities": 0}, "'intensities' must be at least 1"),
        ({"intensities": 40}, "'intensities' must be at most 32"),
        ({"min_intensity": 0.0}, "'min_intensity' must be between 0.05 and 0.95"),
        ({"min_intensity": "dim"}, "'min_intensity' must be a number"),
        ({"positions": 1}, "'positions' must be at least 2"),
        ({"positions": 42}, "'positions' must be at most 41"),
        ({"sizes": 100}, "'sizes' must be at most 32"),
        ({"sizes": "many"}, "'sizes' must be a whole number"),
        ({"max_radius": 12}, "'max_radius' must be between 2 and 10"),
        ({"min_radius": "big"}, "'min_radius' must be a number"),
        ({"min_radius": 9, "max_radius": 6}, "min_radius \\(9\\) must be below max_radius \\(6\\)"),
        ({"radius": 6}, "no option 'radius'"),
    ],
)
def test_glyphs_bad_options_are_refused_in_one_line(datasets, options, message):
    with pytest.raises(ConfigError, match=message) as caught:
        load(datasets, "glyphs", None, options=options)
    assert "\n" not in str(caught.value)


def test_glyphs_factors_change_what_they_name(datasets):
    glyphs = load(datasets, "glyphs", None)

    def image(glyph: int, size: int, x: int, y: int) -> torch.Tensor:
        return glyphs.images(glyphs.factor_index(torch.tensor([[glyph, size, x, y]])))[0, 0].float() / 255

    base = image(0, 1, 5, 5)
    curved = image(1, 1, 5, 5)
    assert curved.max() == 1.0 and ((curved > 0) & (curved < 1)).any()  # the ring's edges are anti-aliased
    ink = lambda img: img.sum().item()  # noqa: E731
    assert ink(image(0, 3, 5, 5)) > ink(image(0, 0, 5, 5))  # size grows the glyph
    columns = lambda img: (img.sum(0) * torch.arange(32)).sum().item() / img.sum().item()  # noqa: E731
    rows = lambda img: (img.sum(1) * torch.arange(32)).sum().item() / img.sum().item()  # noqa: E731
    assert columns(image(0, 1, 10, 5)) - columns(base) == pytest.approx(5.0, abs=0.2)  # pos_x: 1 pixel a step
    assert rows(image(0, 1, 5, 10)) - rows(base) == pytest.approx(5.0, abs=0.2)  # pos_y, downwards
    # The three glyphs of one size and place differ in ink and in shape: the ring is hollow.
    square, ring, triangle = (image(g, 3, 5, 5) for g in range(3))
    assert ring[16, 16] == 0 and square[16, 16] == 1 and triangle[16, 16] == 1
    assert len({round(ink(g)) for g in (square, ring, triangle)}) == 3
