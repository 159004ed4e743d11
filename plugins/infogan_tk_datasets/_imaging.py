"""Decoding image files into one preallocated uint8 array: centre crop, resize, gray or colour.

Many files are decoded by a thread pool (Pillow releases the GIL while it decodes and resizes) and
written straight into the ``(N, C, H, W)`` result, so that peak memory is the result plus one image
per worker. JPEGs are decoded at a reduced scale (``Image.draft``) when the target is much smaller
than the file, which halves the time per CelebA image.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
from PIL import Image

from infogan_toolkit.api import DataError, fit_picture, open_regular

#: Suffixes treated as images (compared lower-case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: The largest image file decoded (Pillow bounds the pixel count on its own).
MAX_IMAGE_FILE_BYTES = 256 << 20

_CHUNK = 256  # images per pool task: big enough to amortise scheduling, small enough to stop early on an error


def decode_image(path: Path, shape: tuple[int, int, int], crop: int | None = None) -> np.ndarray:
    """Read one image file as uint8 ``(C, H, W)``: centre crop, resize, convert to gray (C=1) or RGB (C=3)."""
    try:
        # A regular file only: a FIFO named like an image would block the reader forever.
        with open_regular(path, "image file", DataError, MAX_IMAGE_FILE_BYTES) as fh, Image.open(fh) as img:
            return fit_picture(img, shape, crop)
    except FileNotFoundError:
        raise DataError(f"image file {path} is missing; restore it or download the dataset again") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image file {path} ({type(exc).__name__}: {exc}); replace or delete it") from None


def default_workers() -> int:
    """Threads used for decoding: the CPU count, capped at 16."""
    return max(1, min(16, os.cpu_count() or 1))


def decode_images(
    paths: Sequence[Path],
    shape: tuple[int, int, int],
    crop: int | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Decode every file in ``paths`` into one uint8 ``(N, C, H, W)`` array (see :func:`decode_image`).

    The first unreadable file raises :class:`DataError` naming it; the remaining work is cancelled.
    """
    try:
        out = np.empty((len(paths), *shape), dtype=np.uint8)
    except MemoryError:
        need = len(paths) * math.prod(shape)
        raise DataError(
            f"{len(paths):,} images of shape {'x'.join(map(str, shape))} need {need / 2**30:.1f} GiB of memory, more "
            "than "
            "this machine can give; use fewer images or a smaller image shape"
        ) from None

    def fill(start: int) -> None:
        for i in range(start, min(start + _CHUNK, len(paths))):
            out[i] = decode_image(paths[i], shape, crop)

    starts = range(0, len(paths), _CHUNK)
    workers = workers or default_workers()
    if workers == 1 or len(starts) <= 1:
        for s in starts:
            fill(s)
        return out
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        futures = [pool.submit(fill, s) for s in starts]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        for f in futures:
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
    return out


def list_images(root: Path) -> list[Path]:
    """Every image file under ``root`` (recursive; hidden entries and symlinked folders skipped), sorted by path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES):
                found.append(Path(dirpath) / name)
    return sorted(found)
