"""What the explore page asks of a trained model, without the web: a picture for a point (the
noise's seed and a number per code) and Q's reading of that very picture, a traversal strip per
code, and Q's codes for an uploaded or a data-set image with the picture regenerated from them.

Every answer is JSON-ready. Model calls hold one lock: the networks are shared, and one forward
pass at a time keeps each short instead of many slow ones competing for the same cores.
"""

from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..errors import ConfigError, ToolkitError
from ..images import from_uint8, to_unit
from .imaging import image_uri, strip

if TYPE_CHECKING:
    from ..datasets import ImageDataset
    from ..model import TrainedModel
    from ..plugins import PluginHost

#: Seeds the page may pick: what a torch.Generator takes.
MAX_SEED = 2**63 - 1
#: A number a control may send, in absolute value; Q's reading of a strange image can leave the slider's range.
MAX_NUMBER = 1e4
#: Categories a traversal strip shows at most (a code of 4096 categories gets that many evenly spaced).
MAX_STRIP_CATEGORIES = 32
#: Points of a continuous code's traversal strip.
STRIP_STEPS = 9


class PointError(ToolkitError):
    """A request names a point the model does not have (a wrong count of codes, a category out of range)."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PointError(f"{what} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise PointError(f"{what} must be a finite number within +-{MAX_NUMBER:g}, got {value}")
    return value


class Explorer:
    """A :class:`~infogan_toolkit.model.TrainedModel` as the page uses it."""

    def __init__(
        self,
        model: TrainedModel,
        source: str,
        evaluation: dict | None = None,
        evaluation_note: str | None = None,
        host: PluginHost | None = None,
        data_root: str | None = None,
    ) -> None:
        self.model = model
        self.source = source
        self.evaluation = evaluation
        self.evaluation_note = evaluation_note
        self.host = host
        self.data_root = data_root
        self.controls = [c.code.control() for c in model.codes]
        self._lock = threading.Lock()
        self._noise: OrderedDict[int, Tensor] = OrderedDict()
        self._data: ImageDataset | None = None
        self._data_error: str | None = None
        self._data_lock = threading.Lock()

    # ------------------------------------------------------------------------------- describing
    def describe(self) -> dict[str, Any]:
        """The model, its codes and their controls, and a starting point, as the page reads them."""
        model = self.model
        codes = []
        for code, control in zip(model.codes, self.controls):
            reach = getattr(code, "information_reach", None)
            codes.append(
                {
                    "name": code.name,
                    "kind": code.kind,
                    "prior": code.code.describe(),
                    "head": code.head_name,
                    "discrete": bool(code.code.discrete),
                    "entropy": float(code.code.entropy()),
                    "reach": reach() if callable(reach) else None,
                    "control": control.as_dict(),
                }
            )
        cfg = model.config
        return {
            "source": self.source,
            "step": model.step,
            "generator": model.generator_name,
            "generators": list(model.generator_names),
            "backbone": cfg.model.backbone,
            "dataset": cfg.data.dataset,
            "spec": model.codes.spec,
            "image_shape": list(model.assembly.backbone.image_shape),
            "noise_dim": model.noise_dim,
            "codes": codes,
            "start": {"seed": 0, "values": self.start_values()},
            "max_seed": MAX_SEED,
        }

    def start_values(self) -> list[float]:
        """A point to start from: the first category, the middle of the prior's usual range."""
        out: list[float] = []
        for control in self.controls:
            if control.kind == "choice":
                out.append(0)
            else:
                low, high = control.prior or (control.low, control.high)
                out.append((low + high) / 2)
        return out

    # ---------------------------------------------------------------------------------- parsing
    def parse_point(self, payload: Any) -> tuple[int, list[float]]:
        """``{"seed": int, "values": [number per code]}`` checked -> (seed, numbers)."""
        if not isinstance(payload, dict):
            raise PointError("the request must be a JSON object with 'seed' and 'values'")
        seed = payload.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise PointError(f"'seed' must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
        values = payload.get("values")
        if not isinstance(values, list) or len(values) != len(self.controls):
            raise PointError(f"'values' must be a list of {len(self.controls)} numbers, one per code")
        numbers = []
        for code, control, value in zip(self.model.codes, self.controls, values):
            number = _number(value, f"the value of {code.name}")
            if control.kind == "choice" and (number != int(number) or not 0 <= number < len(control.labels)):
                raise PointError(f"{code.name} takes a category from 0 to {len(control.labels) - 1}, got {value}")
            numbers.append(int(number) if control.kind == "choice" else number)
        return seed, numbers

    # ----------------------------------------------------------------------------- model calls
    def noise(self, seed: int) -> Tensor:
        """z for a seed, one row; the same seed always gives the same noise."""
        z = self._noise.get(seed)
        if z is None:
            z = self.model.noise(1, torch.Generator(device=self.model.device).manual_seed(seed))
            self._noise[seed] = z
            if len(self._noise) > 256:
                self._noise.popitem(last=False)
        else:
            self._noise.move_to_end(seed)
        return z

    def _values(self, rows: list[list[float]]) -> list[Tensor]:
        """One tensor per code for rows of numbers (one number per code in each row)."""
        device = self.model.device
        return [
            torch.cat([code.code.value_from_control(row[i]) for row in rows]).to(device)
            for i, code in enumerate(self.model.codes)
        ]

    def _generate(self, z: Tensor, rows: list[list[float]]) -> Tensor:
        """G's pictures for ``rows`` as uint8, exactly the pixels the page shows."""
        model = self.model
        x = model.generator(torch.cat([z, model.codes.encode(self._values(rows))], dim=1))
        return (to_unit(x, model.assembly.backbone.output_range) * 255 + 0.5).to(torch.uint8)

    def _read(self, pictures: Tensor) -> list[list[dict[str, Any]]]:
        """Q's reading of uint8 pictures: per picture, per code, its estimate and its head's outputs."""
        model = self.model
        q = model.discriminator(from_uint8(pictures, model.assembly.backbone.output_range))[1].float()
        out: list[list[dict[str, Any]]] = [[] for _ in range(q.shape[0])]
        for code in model.codes:
            params = q[:, code.param_slice]
            estimate = code.head.point_estimate(params).reshape(q.shape[0], -1)[:, 0]
            described = {
                k: v.detach().float().reshape(q.shape[0], -1).cpu() for k, v in code.head.describe(params).items()
            }
            for r in range(q.shape[0]):
                value = estimate[r].item()
                out[r].append(
                    {
                        "name": code.name,
                        "estimate": int(value) if code.code.discrete else float(value),
                        "outputs": {k: [round(float(x), 6) for x in v[r].tolist()] for k, v in described.items()},
                    }
                )
        return out

    def render(self, seed: int, numbers: list[float]) -> dict[str, Any]:
        """The picture at a point and what Q reads back from it."""
        with self._lock, torch.inference_mode():
            pictures = self._generate(self.noise(seed), [numbers])
            readback = self._read(pictures)[0]
        return {"image": image_uri(pictures[0].float() / 255), "readback": readback}

    def strip_values(self, index: int) -> list[float]:
        """The numbers a code's traversal strip shows."""
        control = self.controls[index]
        if control.kind == "choice":
            k = len(control.labels)
            if k <= MAX_STRIP_CATEGORIES:
                return list(range(k))
            return sorted({round(i * (k - 1) / (MAX_STRIP_CATEGORIES - 1)) for i in range(MAX_STRIP_CATEGORIES)})
        steps = STRIP_STEPS
        if control.wraps:  # both ends are one point: show it once
            return [control.low + (control.high - control.low) * i / steps for i in range(steps)]
        return [control.low + (control.high - control.low) * i / (steps - 1) for i in range(steps)]

    def traversals(self, seed: int, numbers: list[float]) -> list[dict[str, Any]]:
        """For every code, a strip of pictures from the current point with that code varied."""
        rows, spans = [], []
        for i in range(len(self.controls)):
            values = self.strip_values(i)
            spans.append(values)
            rows += [[v if j == i else numbers[j] for j in range(len(numbers))] for v in values]
        with self._lock, torch.inference_mode():
            pictures = self._generate(self.noise(seed).expand(len(rows), -1), rows).float() / 255
        out, at = [], 0
        for code, values in zip(self.model.codes, spans):
            out.append(
                {"name": code.name, "values": values, "image": image_uri(strip(pictures[at : at + len(values)]))}
            )
            at += len(values)
        return out

    def encode(self, picture: Tensor, seed: int) -> dict[str, Any]:
        """Q's codes for a uint8 ``(C, H, W)`` picture of the model's shape, and the picture G makes
        from them with the noise of ``seed``: the point the page's controls move to."""
        shape = tuple(self.model.assembly.backbone.image_shape)
        if tuple(picture.shape) != shape:
            raise PointError(f"the picture is {tuple(picture.shape)}, the model takes {shape}")
        with self._lock, torch.inference_mode():
            readback = self._read(picture[None].to(self.model.device))[0]
        values: list[float] = []
        for control, read in zip(self.controls, readback):
            if control.kind == "choice":
                values.append(int(min(max(read["estimate"], 0), len(control.labels) - 1)))
            else:
                values.append(float(min(max(read["estimate"], -MAX_NUMBER), MAX_NUMBER)))
        regenerated = self.render(seed, values)
        return {
            "input": image_uri(picture.float() / 255),
            "readback": readback,
            "values": values,
            "seed": seed,
            "regenerated": regenerated["image"],
            "regenerated_readback": regenerated["readback"],
        }

    # -------------------------------------------------------------------------------- data set
    def dataset(self) -> ImageDataset:
        """The run's data set (test split), loaded on first use; a one-line error when it cannot be."""
        with self._data_lock:
            if self._data is None and self._data_error is None:
                self._data, self._data_error = self._load_dataset()
            if self._data is None:
                raise ToolkitError(self._data_error or "the data set could not be loaded")
            return self._data

    def _load_dataset(self) -> tuple[ImageDataset | None, str | None]:
        from ..assembly import load_dataset
        from ..evaluate.report import dataset_assembly
        from ..plugins import PluginHost

        name = self.model.config.data.dataset
        if name is None:
            return None, "the model names no data set; upload an image instead"
        try:
            _, assembly = dataset_assembly(self.model, name, self.data_root)
            return load_dataset(assembly, self.host or PluginHost(), split="test", name=name), None
        except ToolkitError as exc:
            return (
                None,
                f"the data set '{name}' could not be loaded ({exc}); start explore with --data-root DIR, or upload an "
                "image",
            )

    def dataset_image(self, index: int | None, seed: int) -> dict[str, Any]:
        """:meth:`encode` of one test image of the run's data set (a random one for None)."""
        data = self.dataset()
        if index is None:
            index = random.randrange(len(data))
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(data):
            raise PointError(f"the data set's test split has images 0 to {len(data) - 1}; got {index!r}")
        picture = data.images(torch.tensor([index]))[0].cpu()
        label = int(data.labels[index].item()) if data.labels is not None else None
        return {
            **self.encode(picture, seed),
            "index": index,
            "of": len(data),
            "label": label,
            "dataset": self.model.config.data.dataset,
        }


def check_port(port: int) -> int:
    """A TCP port number, 0 for any free one."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be from 0 to 65535 (0: any free port), got {port}")
    return port


__all__ = ["MAX_SEED", "Explorer", "PointError", "check_port"]
