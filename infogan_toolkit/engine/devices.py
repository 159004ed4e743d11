"""Device selection (``auto`` picks CUDA, then MPS, then the CPU) and every performance choice a run
makes: precision, memory layout, the Adam and linear-layer kernels, graph capture (:class:`Numerics`).

Each choice comes from the configuration and from what the device declares (its type, torch's CPU
capability, the CPU's flags), never from a timing, so one config on one kind of machine always
trains with the same numerics. Why each default is what it is, with the measurements, is in
docs/performance.md."""

from __future__ import annotations

import contextlib
import functools
import platform
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn

from ..errors import ConfigError
from .linear_kernels import onednn_linear_available

DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """Turn a ``--device`` value into a torch.device, refusing one this machine lacks."""
    kind, _, index = name.partition(":")
    if kind not in DEVICE_KINDS:
        raise ConfigError(f"unknown device '{name}'; use one of {', '.join(DEVICE_KINDS)}")
    if _ and not (index.isascii() and index.isdigit() and len(index) <= 4 and kind != "auto"):
        raise ConfigError(
            f"device '{name}' is not KIND or KIND:N (e.g. cuda:0); use one of {', '.join(DEVICE_KINDS)}, with a GPU's "
            "number for cuda"
        )
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
        return torch.device(name) if ":" in name else torch.device("cuda", local_rank)
    if kind == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ConfigError("--device mps was asked for but MPS is not available; use --device cpu or auto")
    return torch.device(name)


def apply_precision_switches(train) -> None:
    """Turn on the process-wide numerics switches a run's ``train`` settings ask for (TF32 on CUDA);
    only ever turned on, never silently off, as they belong to the whole process."""
    if train.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


#: Devices where "auto" picks the NHWC layout and the fused Adam kernel (docs/performance.md);
#: elsewhere the defaults stay contiguous and foreach.
CHANNELS_LAST_DEVICES = ("cpu",)
FUSED_ADAM_DEVICES = ("cpu",)


def uses_channels_last(train, device: torch.device) -> bool:
    """Whether a run with ``train`` settings on ``device`` uses the channels_last layout."""
    if train.channels_last == "auto":
        return device.type in CHANNELS_LAST_DEVICES
    return bool(train.channels_last)


def adam_kernel(optim, device: torch.device) -> str:
    """The Adam implementation a run with ``optim`` settings uses on ``device``."""
    if optim.implementation == "auto":
        return "fused" if device.type in FUSED_ADAM_DEVICES else "foreach"
    return optim.implementation


#: CPU capabilities (``torch.backends.cpu.get_cpu_capability()``) where ``train.linear_kernel="auto"``
#: runs large fp32 linear layers in oneDNN rather than torch's BLAS (docs/performance.md).
ONEDNN_LINEAR_CAPABILITIES = ("AVX512",)

#: "auto" moves a linear layer to oneDNN only from this many weights: smaller layers gain nothing
#: and keep torch's kernels, and with them the exact runs their results were measured with
#: (another kernel sums in another order; docs/performance.md).
ONEDNN_LINEAR_AUTO_MIN_WEIGHTS = 2**20


def onednn_linear_min_weights(
    train, device: torch.device, bf16: bool = False, capability: str | None = None
) -> int | None:
    """From how many weights a run with ``train`` settings on ``device`` computes an fp32 linear
    layer in oneDNN (``engine/linear_kernels.py``); None: no layer. "onednn": every layer (0).
    "auto": ``ONEDNN_LINEAR_AUTO_MIN_WEIGHTS`` on a CPU of a capability in
    ``ONEDNN_LINEAR_CAPABILITIES`` (``capability``, else this machine's), unless the layers run in
    bf16 autocast (already oneDNN's) or torch.compile takes them. An explicit "onednn" where it
    cannot run is refused."""
    kernel = train.linear_kernel
    if kernel == "auto":
        if device.type != "cpu" or bf16 or train.compile or not onednn_linear_available():
            return None
        chosen = (capability or torch.backends.cpu.get_cpu_capability()) in ONEDNN_LINEAR_CAPABILITIES
        return ONEDNN_LINEAR_AUTO_MIN_WEIGHTS if chosen else None
    if kernel == "onednn":
        if device.type != "cpu":
            raise ConfigError(
                f'train.linear_kernel="onednn" runs on a CPU only, not on {device.type}; use "auto" or "torch"'
            )
        if not onednn_linear_available():
            raise ConfigError(
                'train.linear_kernel="onednn" needs a torch built with oneDNN (mkldnn), which this one is not; use '
                '"auto" or "torch"'
            )
        return 0
    return None


#: CPU flags (Linux's /proc/cpuinfo names) that declare bf16 matrix instructions: AVX-512 BF16
#: (AMD Zen 4 and later, Intel Cooper Lake and later) and Intel's AMX tiles for bf16.
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags the CPU declares (Linux), or an empty set where they cannot be read."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


#: torch's CPU capabilities (``torch.backends.cpu.get_cpu_capability()``) under which the flags count:
#: with AVX-512 hidden (ATEN_CPU_CAPABILITY=avx2) bf16 would be emulated, whatever the CPU has.
NATIVE_BF16_CAPABILITIES = ("AVX512",)


@functools.cache
def cpu_declares_native_bf16() -> bool:
    """Whether this CPU declares bf16 matrix instructions (``NATIVE_BF16_CPU_FLAGS``) and torch runs
    it at a capability that uses them (``NATIVE_BF16_CAPABILITIES``); read once per process."""
    capable = torch.backends.cpu.get_cpu_capability() in NATIVE_BF16_CAPABILITIES
    return capable and bool(cpu_flags() & set(NATIVE_BF16_CPU_FLAGS))


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 natively: a CPU that declares it, a CUDA GPU that supports it, MPS."""
    if device.type == "cpu":
        return cpu_declares_native_bf16()
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return True


def uses_bf16(train, device: torch.device, native: bool | None = None) -> bool:
    """Whether a run with ``train`` settings on ``device`` runs its forward passes in bf16 autocast:
    as ``train.bf16`` says, or for ``"auto"`` on a CPU that declares native bf16 (``native``; read from
    the CPU's flags if not given). A declared capability, never a timing: one config on one kind of
    machine always trains with the same numerics."""
    if train.bf16 != "auto":
        return bool(train.bf16)
    if device.type != "cpu":
        return False
    return native_bf16(device) if native is None else native


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what the platform module knows. Two CPUs of
    one capability (AVX512, say) may still differ in kernels, speed and float results."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_numerics(config, device: torch.device, native: bool | None = None) -> tuple[str, str | None]:
    """One line saying which precision, layout and optimiser kernels a run of ``config`` uses on
    ``device`` and why, and a warning when ``train.bf16`` asks for bf16 where it is emulated (else None).
    ``native``: whether the device runs bf16 natively (``native_bf16(device)`` if not given)."""
    train = config.train
    where = f"{device.type}"
    if device.type == "cpu":
        where += f" ({torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads)"
    if native is None:
        native = native_bf16(device)
    support = f"native bf16 {'declared' if native else 'not declared'} here"
    numerics = Numerics.choose(config, device, native)  # what the run will do, read once
    bf16 = numerics.bf16
    if train.bf16 == "auto":
        why = (
            "bf16 on a CPU that declares native bf16"
            if device.type == "cpu"
            else "bf16 only on a CPU with native bf16, where its accuracy was measured"
        )
        precision = f'{"bf16 autocast" if bf16 else "fp32"} (train.bf16="auto" picks {why}; {support})'
    elif bf16:
        precision = f"bf16 autocast (train.bf16=true; {support})"
    else:
        precision = f'fp32 (bf16 is opt-in, train.bf16=true or "auto", as it changes numerics; {support})'
    if device.type == "cuda":
        precision += f", TF32 {'on' if train.tf32 else 'off'}"
    layout = "channels_last" if numerics.channels_last else "contiguous"
    min_weights = numerics.onednn_linear_min_weights
    linear = (
        "torch"
        if min_weights is None
        else "oneDNN"
        if min_weights == 0
        else f"oneDNN from {min_weights:,} weights, torch below"
    )
    settings = (
        ("train.channels_last", train.channels_last),
        ("optim.implementation", config.optim.implementation),
        ("train.linear_kernel", train.linear_kernel),
    )
    chosen = [key for key, value in settings if value == "auto"]
    adam = numerics.adam
    line = f"numerics on {where}: {precision}; {layout} layout; Adam {adam}; linear layers {linear}"
    if chosen:
        keys = chosen[0] if len(chosen) == 1 else f"{', '.join(chosen[:-1])} and {chosen[-1]}"
        line += f" ({keys} chosen for {device.type}, measured fastest there)"
    warning = None
    if train.bf16 is True and not native:
        warning = (
            f"warning: train.bf16=true but this {where} has no native bf16 ({support}); the run will be "
            "that much slower; set train.bf16=false"
        )
    return line, warning


@attrs.frozen
class Numerics:
    """How a run computes on its device: every performance choice, made once by :meth:`choose`."""

    #: Forward passes in bf16 autocast (``train.bf16``; "auto": a CPU that declares native bf16).
    bf16: bool
    #: Networks and batches in the NHWC memory layout (``train.channels_last``).
    channels_last: bool
    #: The Adam kernel: foreach, fused or loop (``optim.implementation``).
    adam: str
    #: From how many weights a linear layer runs in oneDNN; None: none does (``train.linear_kernel``).
    onednn_linear_min_weights: int | None
    #: The step is captured once in a CUDA graph and replayed (``train.cuda_graph``).
    cuda_graph: bool
    #: torch.compile's mode when ``train.compile`` is on.
    compile_mode: str

    @classmethod
    def choose(cls, config: Any, device: torch.device, native: bool | None = None) -> "Numerics":
        """The choices for a run of ``config`` on ``device`` (``native``: whether it runs bf16
        natively, read from the device if not given); an explicit setting the device cannot honour
        is a one-line ConfigError."""
        train = config.train
        bf16 = uses_bf16(train, device, native)
        return cls(
            bf16=bf16,
            channels_last=uses_channels_last(train, device),
            adam=adam_kernel(config.optim, device),
            onednn_linear_min_weights=onednn_linear_min_weights(train, device, bf16),
            cuda_graph=train.cuda_graph,
            compile_mode=train.compile_mode,
        )

    @property
    def memory_format(self) -> torch.memory_format:
        """The memory format networks are placed in."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self, device: torch.device) -> Callable[[], AbstractContextManager[Any]]:
        """A factory of the context every forward pass runs in: bf16 autocast, or nothing."""
        if not self.bf16:
            return contextlib.nullcontext
        # Graph capture needs autocast's weight-cast cache off (casts must be recorded in the graph).
        cache = not self.cuda_graph
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache)

    def make_adam(
        self, params: list[nn.Parameter], lr: float, betas: tuple[float, float], device: torch.device
    ) -> torch.optim.Adam:
        """An Adam with the chosen kernel (foreach, fused or loop); capturable (step counters on the
        device) when the step is captured in a CUDA graph."""
        kwargs: dict[str, bool] = {"capturable": True} if self.cuda_graph else {}
        if self.adam == "foreach":
            kwargs["foreach"] = True
        elif self.adam == "fused":
            kwargs["fused"] = True
        elif self.adam == "loop":
            kwargs["foreach"] = False
        return torch.optim.Adam(params, lr=lr, betas=betas, **kwargs)
