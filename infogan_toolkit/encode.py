"""Q as an encoder of real images: what it says about each image of a data set, as a table.

Every code contributes its head's :meth:`~infogan_toolkit.codes.QHead.describe` outputs (a class
and its probabilities, a mean and a std), one column per number, named ``CODE.OUTPUT`` (one number) or
``CODE.OUTPUT[j]``. The same numbers are kept as tensors, one per ``CODE.OUTPUT``, for a
safetensors file; the CSV is for reading and for joining with other tables by row.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import attrs
import torch
from torch import Tensor

from .datasets import ImageDataset


@attrs.frozen
class Encoding:
    """Q's outputs for every image of a data set, in the data set's order."""

    #: ``CODE.OUTPUT`` -> a CPU tensor ``(n,)`` or ``(n, d)``.
    tensors: dict[str, Tensor]
    #: Each image's source (a file path relative to the data root), or None: rows are then named by index.
    sources: tuple[str, ...] | None
    #: Each image's ground-truth label, or None.
    labels: Tensor | None

    @property
    def rows(self) -> int:
        """Number of images."""
        return next(iter(self.tensors.values())).shape[0] if self.tensors else 0

    def columns(self) -> list[tuple[str, Tensor]]:
        """``(column name, (n,) values)`` for every number, in code and output order."""
        out = []
        for key, value in self.tensors.items():
            if value.dim() == 1 or value.shape[1] == 1:  # a one-dimensional code's column is just CODE.OUTPUT
                out.append((key, value.reshape(-1)))
            else:
                out += [(f"{key}[{j}]", value[:, j]) for j in range(value.shape[1])]
        return out

    def to_csv(self) -> str:
        """One row per image: ``index``, ``source`` when known, ``label`` when known, then the columns."""
        columns = self.columns()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        head = (
            ["index"]
            + (["source"] if self.sources is not None else [])
            + (["label"] if self.labels is not None else [])
        )
        writer.writerow(head + [name for name, _ in columns])
        lists = [values.tolist() for _, values in columns]
        labels = self.labels.tolist() if self.labels is not None else None
        for i in range(self.rows):
            row: list[Any] = [i]
            if self.sources is not None:
                row.append(self.sources[i])
            if labels is not None:
                row.append(labels[i])
            writer.writerow(row + [_number(values[i]) for values in lists])
        return buffer.getvalue()

    def to_tensors(self) -> tuple[dict[str, Tensor], dict[str, str]]:
        """The tensors (``label`` too, when known) and metadata (``sources`` as JSON) for a safetensors file."""
        tensors = {k: v.contiguous() for k, v in self.tensors.items()}
        if self.labels is not None:
            tensors["label"] = self.labels.to(torch.int64).contiguous()
        meta = {"rows": str(self.rows)}
        if self.sources is not None:
            meta["sources"] = json.dumps(list(self.sources))
        return tensors, meta


def _number(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


@torch.no_grad()
def encode_dataset(model: Any, dataset: ImageDataset, batch: int = 512) -> Encoding:
    """Run Q over every image of ``dataset`` (``batch`` at a time, on the model's device) and
    collect each code's :meth:`~infogan_toolkit.codes.QHead.describe` outputs."""
    parts: dict[str, list[Tensor]] = {}
    for start in range(0, len(dataset), batch):
        index = torch.arange(start, min(start + batch, len(dataset)))
        params = model.infer(dataset.images(index), batch_size=batch)
        for code in model.codes:
            for name, value in code.head.describe(params[:, code.param_slice]).items():
                parts.setdefault(f"{code.name}.{name}", []).append(value.detach().cpu())
    tensors = {key: torch.cat(chunks) for key, chunks in parts.items()}
    labels = dataset.labels.cpu() if dataset.labels is not None else None
    return Encoding(tensors, tuple(dataset.sources) if dataset.sources is not None else None, labels)
