"""Figures written during training: the L_I curve per code with H(c) marked (the paper's Fig. 1)
and a traversal sheet per checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import save_image

from ..engine.metrics import read_metrics
from ..images import to_unit
from .traverse import columns_for, traversal_grid, traversal_images


def plot_information_curve(run_dir: Path, out: Path | None = None) -> Path | None:
    """Plot L_I per code against the step, with each H(c) as a dashed line; None without metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(run_dir)
    if not records:
        return None
    codes = sorted({k[3:] for r in records for k in r if k.startswith("li_")}, key=lambda s: int(s[1:]) if s[1:].isdigit() else 0)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    for i, name in enumerate(codes):
        steps = [r["step"] for r in records if isinstance(r.get(f"li_{name}"), (int, float))]
        vals = [r[f"li_{name}"] for r in records if isinstance(r.get(f"li_{name}"), (int, float))]
        line, = ax.plot(steps, vals, label=f"L_I({name})")
        h = records[-1].get(f"entropy_{name}")
        if isinstance(h, (int, float)):
            ax.axhline(h, color=line.get_color(), linestyle="--", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("L_I (nats); dashed: H(c)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = out or Path(run_dir) / "figures" / "information.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


@torch.no_grad()
def write_traversal_sheet(generator, assembly, device, out: Path, rows: int = 5, steps: int = 10, seed: int = 0) -> Path:
    """One image: a traversal block per code, stacked vertically."""
    was_training = generator.training
    generator.eval()
    codes = assembly.codes
    out_range = assembly.backbone.output_range

    def generate(z, values):
        return to_unit(generator(torch.cat([z, codes.encode(values)], dim=1)).float(), out_range)

    blocks = []
    width = 0
    for i in range(len(codes)):
        imgs = traversal_images(generate, codes, assembly.config.model.noise_dim, i, rows, steps, seed=seed, device=device,
                                noise_kind=assembly.config.model.noise)
        grid = traversal_grid(imgs, columns_for(codes, i, steps))
        blocks.append(grid)
        width = max(width, grid.shape[2])
    generator.train(was_training)
    padded = [torch.nn.functional.pad(b, (0, width - b.shape[2], 0, 6), value=1.0) for b in blocks]
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.cat(padded, dim=1), out)
    return out


def write_training_figures(run_dir: Path, step: int, generator, assembly, device) -> None:
    """Called at every checkpoint: update the L_I curve, write this step's traversal sheet."""
    plot_information_curve(run_dir)
    write_traversal_sheet(generator, assembly, device, Path(run_dir) / "figures" / f"traversal-{step:07d}.png")
