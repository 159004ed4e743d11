"""Run under torchrun by tests/test_distributed.py: train a few steps, then save this rank's weights."""

from __future__ import annotations

import sys
from pathlib import Path

import torch.distributed as dist

from infogan_toolkit import build_config
from infogan_toolkit.checkpoint import atomic_save, model_tensors
from infogan_toolkit.engine.trainer import Trainer
from infogan_toolkit.plugins import PluginHost


def main(out: str) -> None:
    host = PluginHost()
    # With the contrastive regulariser on, so that its pair classifier's gradients are averaged too.
    flags = {
        "model": {"backbone": "shapes", "options": {"width": 8}},
        "loss": {"contrastive": {"weight": 1.0}},
        "train": {
            "steps": 3,
            "batch_size": 4,
            "device": "cpu",
            "checkpoint_every": 3,
            "log_every": 1,
            "figures": False,
        },
    }
    cfg = build_config(host, None, flags)
    trainer = Trainer(cfg, Path(out) / "run", host=host, progress=False)
    trainer.run()
    atomic_save(
        model_tensors(trainer.G, trainer.D, trainer.objective.networks()),
        Path(out) / f"rank{dist.get_rank()}.safetensors",
        {},
    )
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
