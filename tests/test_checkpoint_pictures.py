"""Pictures at checkpoints: the figures callback writes a traversal sheet and a sample grid, drawn
by the checkpoint's default generator, and publishes them as an image event that every other
callback receives; TensorBoard's event file holds them, read back with TensorBoard's own reader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from infogan_toolkit import hookimpl, load_checkpoint
from infogan_toolkit.callbacks import Callback
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.trainer import Trainer
from infogan_toolkit.evaluate.figures import write_sample_grid
from infogan_toolkit.rundir import samples_figure, traversal_figure


class PictureWatcher(Callback):
    """A third-party callback: it only records what reaches it."""

    def __init__(self, seen):
        self.seen = seen

    def on_images(self, event):
        self.seen.append((event.step, {tag: tuple(image.shape) for tag, image in event.images.items()}))


class WatcherPlugin:
    def __init__(self):
        self.seen = []

    @hookimpl
    def register_callbacks(self, register):
        register("watcher", lambda info: PictureWatcher(self.seen))


def _png_shape(path) -> tuple[int, int]:
    with Image.open(path) as picture:
        return picture.height, picture.width


def test_checkpoint_pictures_reach_tensorboard_and_other_callbacks(host, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    plugin = WatcherPlugin()
    host.register(plugin, "watcher-plugin")
    try:
        config = apply_dict(
            Config(),
            {
                "model": {"backbone": "tiny"},
                "train": {
                    "batch_size": 8,
                    "steps": 4,
                    "log_every": 2,
                    "checkpoint_every": 2,
                    "device": "cpu",
                    "ema": 0.9,
                    "callbacks": ["ema", "figures", "tensorboard", "watcher"],
                },
            },
            "test",
        )
        run = tmp_path / "run"
        Trainer(config, run, host=host, progress=False).run()
    finally:
        host.unregister("watcher-plugin")

    for step in (2, 4):
        assert traversal_figure(run, step).is_file() and samples_figure(run, step).is_file()
    assert [(step, sorted(images)) for step, images in plugin.seen] == [
        (2, ["samples", "traversal"]),
        (4, ["samples", "traversal"]),
    ]
    height, width = _png_shape(samples_figure(run, 4))
    last = plugin.seen[-1][1]
    assert last["samples"] == (3, height, width) and last["traversal"][0] == 3  # make_grid gives RGB

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert {"traversal", "samples"} <= set(events.Tags()["images"])
    for tag, figure in (("traversal", traversal_figure), ("samples", samples_figure)):
        written = events.Images(tag)
        assert [e.step for e in written] == [2, 4]
        assert (written[-1].height, written[-1].width) == _png_shape(figure(run, 4))
    assert "loss_d" in events.Tags()["scalars"]  # the scalars still go there too

    # Drawn by the default generator: the moving average, named in the sheet's title.
    with Image.open(traversal_figure(run, 4)) as sheet:
        assert sheet.info["Title"] == "run, step 4, ema generator"
    averaged = load_checkpoint(run, host=host)
    again = write_sample_grid(averaged.generator, averaged.assembly, torch.device("cpu"), tmp_path / "again.png")
    with Image.open(samples_figure(run, 4)) as during, Image.open(tmp_path / "again.png") as after:
        assert np.array_equal(np.asarray(during), np.asarray(after))
    assert again.shape == (3, height, width)
