"""Figures written during training: the L_I curve per code with H(c) marked (the paper's Fig. 1),
and per checkpoint a traversal sheet and a grid of samples."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import attrs
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..files import make_dirs, open_for_write, real_directory
from ..images import to_unit
from ..noise import sample_noise
from ..rundir import figures_dir, information_figure, read_metrics, samples_figure, traversal_figure
from .traverse import columns_for, traversal_grid, traversal_images

#: Samples in each checkpoint's grid (8 x 8), from this seed, so the grids of a run compare.
SAMPLE_GRID = 64
SAMPLE_SEED = 0


def plot_information_curve(run_dir: Path, out: Path | None = None) -> Path | None:
    """Plot L_I per code against the step, with each H(c) as a dashed line; None without metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(run_dir)
    if not records:
        return None
    codes = sorted(
        {k[3:] for r in records for k in r if k.startswith("li_")}, key=lambda s: int(s[1:]) if s[1:].isdigit() else 0
    )
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    for i, name in enumerate(codes):
        steps = [r["step"] for r in records if isinstance(r.get(f"li_{name}"), (int, float))]
        vals = [r[f"li_{name}"] for r in records if isinstance(r.get(f"li_{name}"), (int, float))]
        (line,) = ax.plot(steps, vals, label=f"L_I({name})")
        h = records[-1].get(f"entropy_{name}")
        if isinstance(h, (int, float)):
            ax.axhline(h, color=line.get_color(), linestyle="--", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("L_I (nats); dashed: H(c)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = out or information_figure(run_dir)
    make_dirs(out.parent)
    with open_for_write(out, binary=True) as fh:  # never through a link planted at the figure's name
        fig.savefig(fh, format="png")
    plt.close(fig)
    return out


@attrs.frozen
class TraversalPanel:
    """One code's traversal: the image grid and what to write beside it."""

    code: str
    prior: str
    discrete: bool
    grid: Tensor  # (C, H, W) in [0, 1], as traverse.traversal_grid makes it
    cell: tuple[int, int]  # one image's (height, width) in the grid
    values: list[float]  # the code's value in each column


@torch.no_grad()
def traversal_panels(
    generate,
    codes,
    noise_dim: int,
    indices: list[int],
    rows: int = 5,
    steps: int = 10,
    value_range: tuple[float, float] = (-1.0, 1.0),
    seed: int = 0,
    device: torch.device | str = "cpu",
    noise_kind: str = "normal",
) -> list[TraversalPanel]:
    """A panel per code in ``indices``; every panel has the same noise and other codes in a row
    (``traversal_images`` draws them from ``seed`` afresh for each)."""
    panels = []
    for i in indices:
        images = traversal_images(
            generate, codes, noise_dim, i, rows, steps, value_range, seed=seed, device=device, noise_kind=noise_kind
        )
        code = codes.codes[i]
        values = code.code.traversal(steps, *value_range)
        panels.append(
            TraversalPanel(
                code=code.name,
                prior=code.code.describe(),
                discrete=bool(code.code.discrete),
                grid=traversal_grid(images, columns_for(codes, i, steps)),
                cell=cast("tuple[int, int]", tuple(images.shape[-2:])),
                values=[float(v) for v in values.reshape(values.shape[0], -1)[:, 0]],
            )
        )
    return panels


def draw_traversal_sheet(panels: list[TraversalPanel], title: str, out: Path) -> Path:
    """Draw the panels one above the other, each titled with its code and prior and with the code's
    value under every column; ``title`` (run and step) on top. Written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = 2.0 if max(p.cell[1] for p in panels) <= 40 else 1.0  # small images drawn at twice their size
    dpi = 100
    widest = max(p.grid.shape[2] for p in panels) * scale / dpi
    heights = [p.grid.shape[1] * scale / dpi for p in panels]
    # Constrained layout makes room for the titles and value labels around each image.
    fig = plt.figure(figsize=(widest + 0.4, sum(heights) + 0.55 * len(panels) + 0.4), dpi=dpi, layout="constrained")
    fig.suptitle(title, fontsize=10)
    grid_spec = fig.add_gridspec(len(panels), 1, height_ratios=heights)
    captions = []
    for k, panel in enumerate(panels):
        ax = fig.add_subplot(grid_spec[k])
        picture = panel.grid.permute(1, 2, 0).numpy()
        ax.imshow(
            picture[:, :, 0] if picture.shape[2] == 1 else picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest"
        )
        height, width = panel.cell
        pad = 2  # traversal_grid's padding
        ax.set_xticks([pad + c * (width + pad) + width / 2 for c in range(len(panel.values))])
        labels = [f"{v:.0f}" for v in panel.values] if panel.discrete else [f"{v:+.2f}" for v in panel.values]
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_yticks([])
        axis = "category" if panel.discrete else "value"
        caption = (
            f"{panel.code} {panel.prior}: {axis} {labels[0]} to {labels[-1]} along each row; "
            "a row keeps its noise and other codes"
        )
        ax.set_title(caption, fontsize=8, loc="left")
        captions.append(caption)
        for side in ax.spines.values():
            side.set_visible(False)
    make_dirs(out.parent)
    # The labels also go into the PNG's text chunks, for tools (and tests) that read them.
    with open_for_write(out, binary=True) as fh:
        fig.savefig(fh, format="png", metadata={"Title": title, "Description": "\n".join(captions)})
    plt.close(fig)
    return out


def _generate_with(generator, assembly):
    """``generate(z, values)`` -> [0, 1] images from ``generator`` in evaluation mode."""
    codes = assembly.codes
    out_range = assembly.backbone.output_range

    def generate(z, values):
        return to_unit(generator(torch.cat([z, codes.encode(values)], dim=1)).float(), out_range)

    return generate


#: The continuous codes' range in the training sheets and ``infogan-tk traverse``: the paper's
#: Figure 2 range, twice a Unif(-1, 1) prior's, to show what a code does beyond what it was trained on.
SHEET_RANGE = (-2.0, 2.0)


def write_traversal_sheet(
    generator,
    assembly,
    device,
    out: Path,
    title: str,
    rows: int = 5,
    steps: int = 10,
    seed: int = 0,
    value_range: tuple[float, float] = SHEET_RANGE,
) -> Path:
    """One labelled sheet with a traversal panel per code, continuous codes over ``value_range``."""
    was_training = generator.training
    generator.eval()
    codes = assembly.codes
    panels = traversal_panels(
        _generate_with(generator, assembly),
        codes,
        assembly.config.model.noise_dim,
        list(range(len(codes))),
        rows,
        steps,
        value_range,
        seed=seed,
        device=device,
        noise_kind=assembly.config.model.noise,
    )
    generator.train(was_training)
    return draw_traversal_sheet(panels, title, out)


@torch.no_grad()
def write_sample_grid(generator, assembly, device, out: Path, n: int = SAMPLE_GRID, seed: int = SAMPLE_SEED) -> Tensor:
    """``n`` samples from the prior (noise and codes drawn from ``seed``) as one PNG grid; returns
    the grid ``(C, H, W)`` in [0, 1] as written."""
    was_training = generator.training
    generator.eval()
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    config = assembly.config.model
    z = sample_noise(config.noise, n, config.noise_dim, gen, device)
    values = assembly.codes.sample(n, gen, device)
    images = _generate_with(generator, assembly)(z, values).cpu()
    generator.train(was_training)
    from torchvision.utils import save_image  # torchvision loads in about a second; only a figure needs it

    grid = traversal_grid(images, max(1, int(n**0.5)))
    make_dirs(out.parent)
    with open_for_write(out, binary=True) as fh:  # never through a link planted at the figure's name
        save_image(grid, fh, format="png")
    return grid


def read_picture(path: Path) -> Tensor:
    """A PNG as a ``(3, H, W)`` float image in [0, 1] (transparency dropped)."""
    with Image.open(path) as picture:
        array = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def write_training_figures(
    run_dir: Path, step: int, generator, assembly, device, generator_name: str | None = None
) -> dict[str, Tensor]:
    """Called at every checkpoint: update the L_I curve, write this step's traversal sheet and
    sample grid (drawn by ``generator``, named in the sheet's title when ``generator_name`` is
    given). Returns the two pictures, ``traversal`` and ``samples``, as written."""
    real_directory(figures_dir(run_dir))  # refuses a figures/ that is a symbolic link
    plot_information_curve(run_dir)
    which = f", {generator_name} generator" if generator_name else ""
    sheet = write_traversal_sheet(
        generator, assembly, device, traversal_figure(run_dir, step), title=f"{Path(run_dir).name}, step {step}{which}"
    )
    samples = write_sample_grid(generator, assembly, device, samples_figure(run_dir, step))
    return {"traversal": read_picture(sheet), "samples": samples}
