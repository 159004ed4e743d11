"""Which style cue sorts a digit over several categories of c1? (research/results/HISTORY.md)

When two digits share categories (the 4/9 merge of the MNIST runs), Q must read the category from
something other than digit identity. This script loads a trained run, lets Q categorise the test
images of the chosen digits, and for every category holding at least ``--min-share`` of a digit
prints simple ink statistics of those real images: slant (the ink's column-on-row regression
slope, dx/dy: positive leans right, negative left), width (the ink's column spread, in pixels) and
ink (the summed intensity, in full pixels). A cue that differs between the categories is what Q reads.
With ``--sheets DIR`` it also saves up to 64 of each row's images as ``DIR/digitD-categoryK.png``,
to see the cue rather than only measure it.

    python3 research/merge_cues.py runs/results/mnist-real-information-seed0 --digits 4 9 \
        --data-root ../shared/data/MNIST/raw
    python3 research/merge_cues.py runs/fast-w2/seed4 --digits 7 --min-share 0.02 --sheets figures/sevens
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torchvision
from torch import Tensor

from infogan_toolkit.assembly import load_dataset
from infogan_toolkit.errors import ToolkitError
from infogan_toolkit.evaluate.report import EVAL_SPLIT, dataset_assembly, q_outputs
from infogan_toolkit.model import TrainedModel
from infogan_toolkit.plugins import PluginHost


def ink_statistics(images: Tensor) -> dict[str, Tensor]:
    """Per image slant (dx/dy), width (column std, pixels) and ink (sum / 255) of uint8 images (n, 1, h, w)."""
    w = images[:, 0].double() / 255.0
    h, wd = w.shape[-2:]
    rows = torch.arange(h, dtype=torch.float64).reshape(1, h, 1)
    cols = torch.arange(wd, dtype=torch.float64).reshape(1, 1, wd)
    mass = w.sum(dim=(1, 2)).clamp_min(1e-9)
    r0 = (w * rows).sum(dim=(1, 2)) / mass
    c0 = (w * cols).sum(dim=(1, 2)) / mass
    dr = rows - r0.reshape(-1, 1, 1)
    dc = cols - c0.reshape(-1, 1, 1)
    var_r = (w * dr * dr).sum(dim=(1, 2)) / mass
    # Rows grow downwards, so ink whose column falls as the row grows leans right: negate the slope.
    slant = -(w * dr * dc).sum(dim=(1, 2)) / mass / var_r.clamp_min(1e-9)
    width = ((w * dc * dc).sum(dim=(1, 2)) / mass).sqrt()
    return {"slant": slant, "width": width, "ink": mass}


SHEET_IMAGES = 64


def categories_by_digit(
    run: str, digits: list[int], data_root: str | None, min_share: float, sheets: Path | None = None
) -> list[dict]:
    """For each digit, every c1 category holding at least ``min_share`` of its test images, with the
    mean ink statistics of those images; with ``sheets``, the first ``SHEET_IMAGES`` of each such
    row's images saved there as ``digitD-categoryK.png``."""
    host = PluginHost()
    model = TrainedModel.load(run, host=host)
    code = next((c for c in model.codes if c.code.discrete), None)
    if code is None:
        raise ToolkitError(f"the run '{run}' has no discrete code to sort images by; train with one (e.g. cat10)")
    name, assembly = dataset_assembly(model, None, data_root)
    dataset = load_dataset(assembly, host, split=EVAL_SPLIT)
    if dataset.labels is None:
        raise ToolkitError(
            f"the {EVAL_SPLIT} split of '{name}' has no labels; pick a labelled dataset with --data-root"
        )
    labels = dataset.labels.cpu()
    rows = []
    for digit in digits:
        index = torch.nonzero(labels == digit).flatten()
        if index.numel() == 0:
            raise ToolkitError(f"no test image has label {digit}; pick labels the dataset has (0-{int(labels.max())})")
        images = dataset.images(index).cpu()
        q = q_outputs(model, dataset, index, batch=512)
        category = code.head.point_estimate(q[:, code.param_slice]).cpu()
        stats = ink_statistics(images)
        for k in torch.unique(category).tolist():
            chosen = category == k
            share = float(chosen.double().mean())
            if share < min_share:
                continue
            rows.append(
                {
                    "digit": digit,
                    "category": int(k),
                    "images": int(chosen.sum()),
                    "share": share,
                    **{name: float(v[chosen].mean()) for name, v in stats.items()},
                }
            )
            if sheets is not None:
                sheets.mkdir(parents=True, exist_ok=True)
                torchvision.utils.save_image(
                    images[chosen][:SHEET_IMAGES].float() / 255.0, sheets / f"digit{digit}-category{int(k)}.png", nrow=8
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run directory or .safetensors checkpoint")
    parser.add_argument("--digits", type=int, nargs="+", default=[4, 9], help="labels to look at (default 4 9)")
    parser.add_argument("--data-root", help="the dataset's folder, if not the one the run was trained on")
    parser.add_argument("--min-share", type=float, default=0.1, help="smallest share of a digit a category must hold")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    parser.add_argument(
        "--sheets", type=Path, help=f"save up to {SHEET_IMAGES} of each row's images here as digitD-categoryK.png"
    )
    args = parser.parse_args(argv)
    try:
        rows = categories_by_digit(args.run, args.digits, args.data_root, args.min_share, args.sheets)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"Categories of c1 in {Path(args.run)} for test digits {' '.join(map(str, args.digits))}:\n")
    print("| digit | category | images | share | slant (dx/dy) | width (px) | ink |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['digit']} | {r['category']} | {r['images']} | {r['share']:.2f} | {r['slant']:+.3f} | "
            f"{r['width']:.2f} | {r['ink']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
