"""Checks every dataset plugin shares: split names, option keys, the data root, the image shape."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from infogan_toolkit.api import ConfigError, DataError, DatasetRequest, did_you_mean


def check_split(request: DatasetRequest, dataset: str, allowed: Sequence[str] = ("train", "test")) -> str:
    """Return ``request.split`` if ``dataset`` has it, else raise a one-line :class:`ConfigError`."""
    if request.split in allowed:
        return request.split
    raise ConfigError(
        f"dataset '{dataset}' has no split '{request.split}'.{did_you_mean(request.split, allowed)} "
        f"Use one of: {', '.join(allowed)}."
    )


def check_options(request: DatasetRequest, dataset: str, known: Iterable[str]) -> None:
    """Refuse option keys that ``dataset`` does not read, so that a typo is never silently ignored."""
    known = tuple(known)
    for key in request.options:
        if key not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise ConfigError(
                f"dataset '{dataset}' has no option '{key}'.{did_you_mean(key, known)} Known options: {listed}."
            )


def require_root(request: DatasetRequest, dataset: str, expected: str, can_download: bool = False) -> Path:
    """Return the data root, or say which files are expected and how to point at them.

    When ``can_download`` and the request asks to download, a missing root folder is created.
    """
    fetch = ", or --data-root DIR --download to fetch them" if can_download else ""
    if request.root is None:
        raise DataError(f"dataset '{dataset}' needs its files ({expected}); pass --data-root DIR holding them{fetch}")
    root = Path(request.root).expanduser()
    if not root.is_dir():
        if can_download and request.download and not root.exists():
            try:
                root.mkdir(parents=True)
            except OSError as exc:
                raise DataError(
                    f"cannot create data root {root} to download into ({exc}); pass a writable --data-root DIR"
                ) from None
            return root
        raise DataError(
            f"data root {root} is not a directory; dataset '{dataset}' expects {expected} there "
            f"(pass --data-root DIR{fetch and ' or --download'})"
        )
    return root


def parse_shape(value: object, dataset: str) -> tuple[int, int, int]:
    """Read an image shape given as ``(C, H, W)`` or ``"CxHxW"`` and check that it is sane."""
    try:
        if isinstance(value, str):
            parts = tuple(int(p) for p in value.lower().split("x"))
        else:
            parts = tuple(int(p) for p in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        parts = ()
    if len(parts) != 3 or parts[0] not in (1, 3) or min(parts[1:]) < 1 or max(parts[1:]) > 4096:
        raise ConfigError(
            f"dataset '{dataset}' got image shape {value!r}; give (channels, height, width) with 1 or 3 channels, "
            f"e.g. 3x64x64"
        )
    return parts  # type: ignore[return-value]


def first_dir_with(candidates: Iterable[Path], names: Iterable[str]) -> Path | None:
    """The first existing directory among ``candidates`` that holds every one of ``names``."""
    names = tuple(names)
    for directory in candidates:
        if directory.is_dir() and all((directory / n).exists() for n in names):
            return directory
    return None
