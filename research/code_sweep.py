"""Where each continuous code moves the generator's ink, category by category.

    python research/code_sweep.py RUN [--steps 9] [--samples 64] [--json]

For each value of the categorical code (the first one, if there are several) and each continuous
code, the code is swept over its traversal range (the code's own, as `infogan-tk traverse` draws it) while the other
codes keep random values drawn once; the
generated images' centre of mass (x right, y down, pixels), spread (root mean squared distance of
the ink from that centre, pixels: it grows with a glyph's size) and ink (sum of pixel values in
[0, 1]) are averaged at each value. Printed: per category and code, the change of x, y, spread and ink from the
bottom to the top of the range; then per category, over ``--samples`` fakes from the prior, the
median ink and the share of fakes with less ink than ``--blank-ink`` (pixel units; 30 is about half
the smallest glyph of the glyphs data set), i.e. drawn (almost) empty. A code that means the same for every glyph moves
the ink the same
way in every category; one whose sign flips between categories, or whose sweep covers a small part
of the data's range, shows here even when the evaluation's information numbers look fine
(research/results/HISTORY.md, glyphs, trial 58). ``picture_check`` turns that into a verdict, which
`first_run.py` adds to its bar. For gray single-channel images; the run is only read.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
from torch import Tensor

from infogan_toolkit import load_checkpoint

#: Which change of the sweep shows a factor of the glyphs data set (the others are not measured).
MEASURE_OF_FACTOR = {"pos_x": "dx", "pos_y": "dy", "size": "dspread"}
#: The picture check: at most this share of a category's fakes drawn empty ...
MAX_BLANK_SHARE = 0.05
#: ... and a code moves its factor the same way in every category, in none by less than this
#: fraction of its largest move ...
MIN_MOVE_FRACTION = 0.25
#: ... and a code that moves the glyph along x (y) moves it along y (x) by less than this fraction
#: of that move, in every category: it moves one factor, not a diagonal.
MAX_CROSS_FRACTION = 0.5
CROSS_MEASURE = {"dx": "dy", "dy": "dx"}


def ink_geometry(images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Centre of mass x, y (pixels), spread (root mean squared distance of the ink from that
    centre, pixels) and ink of ``(n, 1, H, W)`` images in [0, 1]."""
    ink = images[:, 0].clamp(min=0)
    total = ink.sum(dim=(1, 2))
    weight = total.clamp_min(1e-6)
    columns = torch.arange(ink.shape[2], dtype=ink.dtype)
    rows = torch.arange(ink.shape[1], dtype=ink.dtype)
    x = (ink.sum(1) * columns).sum(1) / weight
    y = (ink.sum(2) * rows).sum(1) / weight
    squared = (columns[None, None, :] - x[:, None, None]) ** 2 + (rows[None, :, None] - y[:, None, None]) ** 2
    spread = ((ink * squared).sum(dim=(1, 2)) / weight).sqrt()
    return x, y, spread, total


def sweep(model, steps: int = 9, samples: int = 64, seed: int = 0) -> list[dict]:
    """One row per (category, continuous code): its values, mean x, y and ink at each, and the changes."""
    codes = list(model.codes)
    discrete = [i for i, c in enumerate(codes) if c.code.discrete]
    continuous = [i for i, c in enumerate(codes) if not c.code.discrete]
    if not continuous:
        raise SystemExit("error: the run has no continuous code to sweep; train with one (e.g. --codes cat3,unif2)")
    gen = torch.Generator().manual_seed(seed)
    z = model.noise(samples, gen)
    base = model.codes.sample(samples, gen, model.device)
    categories = range(codes[discrete[0]].code.categories) if discrete else [None]
    rows = []
    for category in categories:
        for i in continuous:
            values = codes[i].code.traversal(steps).float()
            x_means, y_means, spreads, inks = [], [], [], []
            for v in values:
                current = [b.clone() for b in base]
                if category is not None:
                    current[discrete[0]] = torch.full_like(current[discrete[0]], category)
                current[i] = torch.full_like(current[i], float(v))
                with torch.no_grad():
                    x, y, spread, ink = ink_geometry(model.generate(z, current).float().cpu())
                x_means.append(x.mean().item())
                y_means.append(y.mean().item())
                spreads.append(spread.mean().item())
                inks.append(ink.mean().item())
            rows.append(
                {
                    "category": category,
                    "code": codes[i].name,
                    "values": values.tolist(),
                    "x": x_means,
                    "y": y_means,
                    "spread": spreads,
                    "ink": inks,
                    "dx": x_means[-1] - x_means[0],
                    "dy": y_means[-1] - y_means[0],
                    "dspread": spreads[-1] - spreads[0],
                    "dink": inks[-1] - inks[0],
                }
            )
    return rows


def blank_shares(model, samples: int = 1000, blank_ink: float = 30.0, seed: int = 0) -> list[dict]:
    """Per value of the first categorical code (one row without one): the median ink of ``samples``
    fakes from the prior and the share of them whose ink is below ``blank_ink``."""
    codes = list(model.codes)
    discrete = [i for i, c in enumerate(codes) if c.code.discrete]
    gen = torch.Generator().manual_seed(seed)
    values = model.codes.sample(samples, gen, model.device)
    with torch.no_grad():
        *_, ink = ink_geometry(model.generate(model.noise(samples, gen), values).float().cpu())
    if not discrete:
        return [
            {
                "category": None,
                "median_ink": ink.median().item(),
                "blank_share": (ink < blank_ink).float().mean().item(),
            }
        ]
    category = values[discrete[0]].cpu()
    rows = []
    for k in range(codes[discrete[0]].code.categories):
        chosen = ink[category == k]
        rows.append(
            {
                "category": k,
                "median_ink": chosen.median().item() if len(chosen) else float("nan"),
                "blank_share": (chosen < blank_ink).float().mean().item() if len(chosen) else float("nan"),
            }
        )
    return rows


def picture_check(rows: list[dict], blanks: list[dict], factor_of_code: dict[str, str]) -> dict:
    """Whether the sweep shows each continuous code moving its factor (``factor_of_code``, e.g. from
    the evaluation's factor map) the same way in every category, visibly in each (the change's sign
    agrees and no category moves by less than ``MIN_MOVE_FRACTION`` of the largest), a position
    code along its own axis (the other axis moves less than ``MAX_CROSS_FRACTION`` as far), and no category
    drawing more than ``MAX_BLANK_SHARE`` of its fakes empty. A code whose factor has no measure here
    is listed as not measured and does not fail the check."""
    codes = {}
    for code in dict.fromkeys(r["code"] for r in rows):
        factor = factor_of_code.get(code)
        measure = MEASURE_OF_FACTOR.get(factor)
        if measure is None:
            codes[code] = {"factor": factor, "measured": False, "ok": True}
            continue
        mine = [r for r in rows if r["code"] == code]
        changes = [r[measure] for r in mine]
        largest = max(abs(c) for c in changes)
        alike = all(c > 0 for c in changes) or all(c < 0 for c in changes)
        visible = largest > 0 and min(abs(c) for c in changes) >= MIN_MOVE_FRACTION * largest
        cross = CROSS_MEASURE.get(measure)
        straight = cross is None or all(abs(r[cross]) < MAX_CROSS_FRACTION * abs(r[measure]) for r in mine)
        codes[code] = {
            "factor": factor,
            "measured": True,
            "changes": changes,
            "alike": alike,
            "visible": visible,
            "straight": straight,
            "ok": alike and visible and straight,
        }
    blank_ok = all(not b["blank_share"] > MAX_BLANK_SHARE for b in blanks)
    return {
        "codes": codes,
        "blank": blanks,
        "blank_ok": blank_ok,
        "ok": blank_ok and all(c["ok"] for c in codes.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="run directory or checkpoint")
    parser.add_argument("--steps", type=int, default=9, help="values along each code's range")
    parser.add_argument("--samples", type=int, default=64, help="random settings of the other codes, averaged")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blank-ink", type=float, default=30.0, help="less ink than this counts as an empty fake")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    if args.steps < 2 or args.samples < 1:
        sys.exit("error: --steps must be at least 2 and --samples at least 1")
    model = load_checkpoint(args.run, device="cpu")
    rows = sweep(model, args.steps, args.samples, args.seed)
    blanks = blank_shares(model, max(args.samples, 1000), args.blank_ink, args.seed)
    if args.json:
        print(json.dumps({"sweep": rows, "blank": blanks}))
        return
    print(
        "category  code  x change (px)  y change (px)  spread change (px)  ink change   (from the bottom of the "
        "code's range to the top)"
    )
    for r in rows:
        print(
            f"{'-' if r['category'] is None else r['category']:>8}  {r['code']:>4}  {r['dx']:+13.1f}  {r['dy']:+13.1f}"
            f"  {r['dspread']:+18.2f}  {r['dink']:+10.1f}"
        )
    print(f"category  median ink  share with under {args.blank_ink:g} of ink (empty), of fakes from the prior")
    for b in blanks:
        print(f"{'-' if b['category'] is None else b['category']:>8}  {b['median_ink']:10.0f}  {b['blank_share']:6.1%}")


if __name__ == "__main__":
    main()
