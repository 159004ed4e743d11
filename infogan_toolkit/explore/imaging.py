"""Pictures in and out of the explore page: PNGs as data URIs, and a user's upload decoded safely.

An upload is untrusted bytes. Its size is capped before anything decodes it (the server stops
reading past :data:`MAX_UPLOAD_BYTES`); only a few formats are tried; the pixel count is read from
the header and refused above :data:`MAX_UPLOAD_PIXELS` before the pixels are decoded; a JPEG is
decoded at a reduced scale where that still covers the model's size; a truncated file is an error,
never padded. Every failure is an :class:`UploadError` whose message the page shows.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import ToolkitError
from ..images import fit_picture

#: Bytes of an upload read at most (a photo from a phone fits; a decompression bomb's file rarely does not).
MAX_UPLOAD_BYTES = 8 << 20
#: Pixels of an upload decoded at most (24 megapixels).
MAX_UPLOAD_PIXELS = 24_000_000
#: The formats tried; others (PSD, EPS, TIFF's many codecs) are refused unread.
UPLOAD_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")


class UploadError(ToolkitError):
    """An uploaded image that cannot be used; the message says why and what to send instead."""


def png_bytes(image: Tensor) -> bytes:
    """A ``(C, H, W)`` image in [0, 1] (C 1 or 3) as PNG bytes, compressed lightly: the page asks often."""
    array = (image.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
    array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI, for a page or a report that loads nothing else."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image_uri(image: Tensor) -> str:
    """:func:`png_bytes` as a data URI."""
    return data_uri(png_bytes(image))


def strip(images: Tensor, pad: int = 2) -> Tensor:
    """``(n, C, H, W)`` images side by side, ``pad`` white pixels between them, as one ``(C, H, W')`` image."""
    n, c, h, w = images.shape
    out = images.new_ones((c, h, n * w + (n - 1) * pad))
    for i in range(n):
        out[:, :, i * (w + pad) : i * (w + pad) + w] = images[i]
    return out


def grid(images: Tensor, columns: int, pad: int = 2) -> Tensor:
    """``(n, C, H, W)`` images in rows of ``columns``, ``pad`` white pixels between them."""
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    out = images.new_ones((c, rows * h + (rows - 1) * pad, columns * w + (columns - 1) * pad))
    for i in range(n):
        r, k = divmod(i, columns)
        out[:, r * (h + pad) : r * (h + pad) + h, k * (w + pad) : k * (w + pad) + w] = images[i]
    return out


def decode_upload(data: bytes, shape: tuple[int, int, int]) -> Tensor:
    """Untrusted image bytes as a uint8 ``(C, H, W)`` tensor of the model's ``shape``: centre crop,
    resize, gray (C 1) or RGB (C 3). Raises :class:`UploadError` with a message for the page."""
    if not data:
        raise UploadError("the upload is empty; choose a PNG, JPEG, BMP, GIF or WebP image")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"the upload is more than {MAX_UPLOAD_BYTES >> 20} MiB; send a smaller image")
    try:
        with Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as img:
            iw, ih = img.size  # from the header: nothing decoded yet
            if iw < 1 or ih < 1 or iw * ih > MAX_UPLOAD_PIXELS:
                raise UploadError(
                    f"the image is {iw} x {ih} pixels, more than the {MAX_UPLOAD_PIXELS:,} allowed; send a smaller "
                    "image"
                )
            array = fit_picture(img, shape)
    except UploadError:
        raise
    except Image.DecompressionBombError:
        raise UploadError(
            f"the image declares more than the {MAX_UPLOAD_PIXELS:,} pixels allowed; send a smaller image"
        ) from None
    # noqa: BLE001 (Pillow raises many types for a broken file: OSError, SyntaxError, struct.error, ...)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UploadError(
            f"the upload is not a readable image ({type(exc).__name__}: {first}); send a complete PNG, JPEG, BMP, GIF "
            "or WebP file"
        ) from None
    return torch.from_numpy(np.ascontiguousarray(array))


__all__ = [
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_PIXELS",
    "UploadError",
    "data_uri",
    "decode_upload",
    "grid",
    "image_uri",
    "png_bytes",
    "strip",
]
