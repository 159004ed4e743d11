"""FactorGridDataset: a complete factor grid from names, sizes and a render function, and the
built-in shapes data set built on it (pixels and factor order pinned by hashes recorded before
shapes moved onto the helper)."""

from __future__ import annotations

import hashlib

import pytest
import torch

from infogan_toolkit.datasets import DatasetPlugin, DatasetRequest, FactorGridDataset, grid_decode, grid_encode
from infogan_toolkit.errors import PluginError
from infogan_toolkit.testing import check_dataset


def bars(factors: torch.Tensor) -> torch.Tensor:
    """(n, 2) = (x, width) -> 1x8x8 images with a vertical bar of ``width + 1`` columns at column ``x``."""
    cols = torch.arange(8, device=factors.device)
    x, w = factors[:, 0:1], factors[:, 1:2]
    on = (cols >= x) & (cols <= x + w)  # (n, 8)
    return (on[:, None, None, :].expand(-1, 1, 8, 8).to(torch.uint8) * 255).contiguous()


def sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("in_memory", [False, True])
def test_everything_evaluation_needs_is_derived(in_memory):
    ds = FactorGridDataset(("x", "width"), (6, 3), bars, label_factor="width", in_memory=in_memory)
    assert len(ds) == 18 and ds.image_shape == (1, 8, 8)  # the shape comes from one probe render
    assert ds.factor_names == ("x", "width") and ds.factor_sizes == (6, 3) and ds.factor_grid is True
    assert ds.factors.tolist()[:4] == [[0, 0], [0, 1], [0, 2], [1, 0]]  # the last factor fastest
    assert torch.equal(ds.labels, ds.factors[:, 1])
    assert torch.equal(ds.factor_index(ds.factors), torch.arange(18))
    assert torch.equal(ds.decode(torch.tensor([17])), torch.tensor([[5, 2]]))
    img = ds.images(ds.factor_index(torch.tensor([[2, 1]])))[0, 0, 0]
    assert img.tolist() == [0, 0, 255, 255, 0, 0, 0, 0]
    assert (ds.data is not None) == in_memory
    with pytest.raises(ValueError, match=r"out of range; sizes are \{'x': 6, 'width': 3\}"):
        ds.factor_index(torch.tensor([[6, 0]]))
    with pytest.raises(IndexError):
        ds.images(torch.tensor([18]))


def test_a_plugin_built_on_it_passes_the_conformance_kit():
    class Bars(DatasetPlugin):
        needs_root = False

        def load(self, request: DatasetRequest) -> FactorGridDataset:
            return FactorGridDataset(("x", "width"), (6, 3), bars)

    ds = check_dataset(Bars(), DatasetRequest(root=None))
    assert ds.labels is None  # no label_factor given


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factor_names": ("x",), "factor_sizes": (6, 3)}, "one size per factor name"),
        ({"factor_names": ("x", "x"), "factor_sizes": (6, 3)}, "distinct non-empty strings"),
        ({"factor_names": ("x", "w"), "factor_sizes": (6, 0)}, "positive ints"),
        ({"label_factor": "colour"}, "label_factor 'colour' is not a factor name; use one of x, width"),
        (
            {"render": lambda f: torch.zeros(len(f), 1, 8, 8)},
            "render must return uint8 images (n, C, H, W), got torch.float32",
        ),
        (
            {"render": lambda f: torch.zeros(2, 1, 8, 8, dtype=torch.uint8)},
            "render returned 2 images for 1 factor rows",
        ),
        ({"image_shape": (1, 16, 16)}, "render draws (1, 8, 8) images but image_shape is (1, 16, 16)"),
    ],
)
def test_author_mistakes_are_one_line_plugin_errors(kwargs, message):
    args = {"factor_names": ("x", "width"), "factor_sizes": (6, 3), "render": bars, **kwargs}
    with pytest.raises(PluginError) as err:
        FactorGridDataset(**args)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_grid_encode_inverts_decode_for_odd_sizes():
    sizes = (3, 1, 5, 2)
    index = torch.arange(30)
    assert torch.equal(grid_encode(grid_decode(index, sizes), sizes), index)


# Recorded from plugins/infogan_tk_datasets/shapes.py before it was built on FactorGridDataset.
SHAPES_FACTORS = "6729a8361effb90def2efa41f09f5d808509b785ebc740990d419c18e8d8eab1"
SHAPES_LABELS = "5eba6388982565b050dc088ba6cdf0657cc8f914572ba940908b55e8a739717a"
SHAPES_IMAGES = {
    (1, 64, 64): "62aa2bf31077942f532262354992c1b92aac393fa103751211a582c3b8667511",
    (3, 32, 32): "90640cdb976c2de57dfd7d0e7f0c1e9339ca8afa4af5e75ba15d09d08566a08b",
    (1, 16, 16): "828b4b5e6241a813b80d0bb0bb605ffe4314d727b2b72c456e92a3b7194fbc86",
}


def test_shapes_is_bit_identical_to_before_the_helper():
    from infogan_tk_datasets.shapes import ShapesDataset

    ds = ShapesDataset().load(DatasetRequest(root=None))
    assert isinstance(ds, FactorGridDataset)
    assert sha(ds.factors) == SHAPES_FACTORS and sha(ds.labels) == SHAPES_LABELS
    sample = torch.randint(0, len(ds), (20000,), generator=torch.Generator().manual_seed(22))
    index = torch.cat([torch.arange(2000), sample, torch.arange(len(ds) - 100, len(ds))])
    assert sha(ds.images(index)) == SHAPES_IMAGES[(1, 64, 64)]
    for shape in ((3, 32, 32), (1, 16, 16)):
        small = ShapesDataset().load(DatasetRequest(root=None, image_shape=shape))
        assert sha(small.images(index[:3000])) == SHAPES_IMAGES[shape], shape


def test_the_example_in_docs_plugins_md_runs_and_conforms():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
    [block] = [b.split("```", 1)[0] for b in text.split("```python")[1:] if "class Bars(DatasetPlugin)" in b]
    namespace: dict = {}
    exec(compile(block, "docs/plugins.md", "exec"), namespace)
    ds = check_dataset(namespace["Bars"](), DatasetRequest(root=None))
    assert len(ds) == 36 and ds.factor_grid and torch.equal(ds.labels, ds.factors[:, 1])
