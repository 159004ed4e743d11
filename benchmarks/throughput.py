"""Training throughput of the toolkit's engine, against the hardware and against a plain PyTorch loop.

For every backbone, batch size and variant it builds the real engine pieces (configuration,
``resolve`` and the trainer's ``build_objective``) on the device, draws batches by index from
an on-device uint8 image pool as the trainer does, and reports the median images per second over
repeated timed regions, the FLOPs per step (``FlopCounterMode``), the achieved FLOP/s as a
fraction of the device's measured matmul peak, and the peak memory. ``--plain`` measures, in the
same process, the deliberately plain loop of :mod:`plain_loop` on the same networks. Method and
caveats: ``docs/performance.md``.

    python benchmarks/throughput.py --device cpu --backbones mnist --batch-sizes 64 128 \\
        --steps 20 --warmup 3 --variants default,channels_last,bf16,compile --plain --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import resource
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import torch
from provenance import commit  # a sibling module
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from infogan_toolkit import build_config
from infogan_toolkit.assembly import Assembly, resolve
from infogan_toolkit.config import Config
from infogan_toolkit.datasets import TensorImageDataset
from infogan_toolkit.engine.devices import cpu_model, pick_device
from infogan_toolkit.engine.linear_kernels import onednn_linear_available, onednn_matmul
from infogan_toolkit.engine.objective import InfoGANObjective
from infogan_toolkit.engine.trainer import build_objective, make_train_step
from infogan_toolkit.errors import ConfigError, ToolkitError
from infogan_toolkit.plugins import PluginHost

#: Each variant is a set of configuration overrides on top of the defaults (fp32; layout and Adam kernel "auto").
#: `contiguous+foreach` is the step as it ran before those were chosen per device.
#: Variants combine with "+", e.g. ``channels_last+bf16``.
VARIANTS: dict[str, tuple[str, ...]] = {
    "default": (),
    "channels_last": ("train.channels_last=true",),
    "contiguous": ("train.channels_last=false",),
    "foreach": ("optim.implementation=foreach",),
    "bf16": ("train.bf16=true",),
    "tf32": ("train.tf32=true",),
    "compile": ("train.compile=true",),
    # torch.compile's CUDA graphs for G and D (the rest of the step stays eager).
    "compile_cudagraphs": ("train.compile=true", 'train.compile_mode="reduce-overhead"'),
    # The whole step captured as one CUDA graph by the engine (CUDA only).
    "cuda_graph": ("train.cuda_graph=true",),
    "fused": ("optim.implementation=fused",),
    # fp32 linear layers all in torch's BLAS (MKL) or all in oneDNN; "auto" (default) puts the
    # large ones in oneDNN on an AVX-512 CPU.
    "torch_linear": ('train.linear_kernel="torch"',),
    "onednn_linear": ('train.linear_kernel="onednn"',),
    "separate": ('train.d_batch="separate"',),
    # InfoGAN-CR's regulariser, paid from step 0, and idle (its start never reached: H still learns).
    "contrastive": ("loss.contrastive.weight=2.0",),
    "contrastive_idle": ("loss.contrastive.weight=2.0", "loss.contrastive.start=1000000000"),
}
DEFAULT_VARIANTS = "default,channels_last,bf16,compile,fused"
#: The backbones the plain loop is written for (it hard-codes the MNIST latent layout and dataset).
PLAIN_BACKBONES = ("mnist",)
#: A timed matmul repeat lasts about this long, so one measurement is neither noise nor a wait.
PEAK_REPEAT_SECONDS = 0.2
MIB = 2.0**20
ISA_LIMIT_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
REPO = Path(__file__).resolve().parents[1]


# -- command line ------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options (see ``benchmarks/README.md``)."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default: auto)")
    p.add_argument("--backbones", nargs="+", default=None, help="registered backbone names (default: all)")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[128], help="batch sizes to measure (default: 128)")
    p.add_argument("--steps", type=int, default=20, help="training steps per timed region (default: 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before timing (default: 3)")
    p.add_argument(
        "--repeats", type=int, default=3, help="timed regions per measurement; the median is reported (default: 3)"
    )
    p.add_argument(
        "--variants",
        default=DEFAULT_VARIANTS,
        help=f"comma-separated, parts joined by '+' (default: {DEFAULT_VARIANTS})",
    )
    p.add_argument("--plain", action="store_true", help="also measure the plain PyTorch loop (MNIST) in this process")
    p.add_argument("--mnist-root", type=Path, default=None, help="folder with the MNIST IDX files, for --plain")
    p.add_argument("--pool", type=int, default=4096, help="random uint8 images held on the device (default: 4096)")
    p.add_argument(
        "--peak-size", type=int, default=2048, help="matrix size of the peak matmul measurement (default: 2048)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="extra configuration override for every variant (repeatable)",
    )
    p.add_argument("--json", type=Path, default=None, help="write every number to this JSON file")
    args = p.parse_args(argv)
    for name in ("steps", "warmup", "repeats", "pool", "peak_size"):
        minimum = 0 if name == "warmup" else 1
        if getattr(args, name) < minimum:
            p.error(f"--{name.replace('_', '-')} must be >= {minimum}")
    if any(b < 1 for b in args.batch_sizes):
        p.error("--batch-sizes must all be >= 1")
    return args


def parse_variants(text: str) -> list[str]:
    """Split and check ``--variants``; an unknown part is a ConfigError naming the known ones."""
    variants = [v.strip() for v in text.split(",") if v.strip()]
    if not variants:
        raise ConfigError("--variants is empty; pass e.g. --variants default,bf16")
    for variant in variants:
        for part in variant.split("+"):
            if part not in VARIANTS:
                raise ConfigError(
                    f"unknown variant '{part}' in --variants; known: {', '.join(VARIANTS)} (join with '+')"
                )
    return variants


def variant_sets(variant: str) -> list[str]:
    """The ``--set``-style overrides a variant stands for."""
    return [s for part in variant.split("+") for s in VARIANTS[part]]


# -- the machine ---------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    """Wait for queued device work (only around timed regions)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_name(device: torch.device) -> str:
    """A human name for the device."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()})"
    return cpu_model()


def machine_info(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "device": str(device),
        "device_type": device.type,
        "device_name": device_name(device),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "commit": commit(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        # Variables that cap the instruction set torch, oneDNN or MKL use (a CPU measured as a lesser one).
        "isa_limits": {name: os.environ[name] for name in ISA_LIMIT_VARIABLES if name in os.environ},
    }
    if device.type == "cuda":
        info["cuda_version"] = torch.version.cuda
        info["cudnn_version"] = torch.backends.cudnn.version()
    return info


def one_line(exc: BaseException) -> str:
    """An exception as one short line for the report."""
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text[:300]}"


def free_memory(device: torch.device) -> None:
    """Return what the last measurement held, so the next starts clean."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


class MatmulProbe:
    """Times ``size x size`` matmuls in one precision on the device; its matrices are made once, so a
    probe between timed regions allocates nothing (and so does not show in the memory figures)."""

    def __init__(
        self, device: torch.device, dtype: torch.dtype, size: int, tf32: bool = False, kernel: str = "torch"
    ) -> None:
        gen = torch.Generator().manual_seed(0)
        self.device, self.size, self.tf32 = device, size, tf32
        self.a = torch.randn(size, size, generator=gen).to(device, dtype)
        self.b = torch.randn(size, size, generator=gen).to(device, dtype)
        # oneDNN's linear takes the (out, in) weight: b transposed, made once like the rest.
        self.b_t = self.b.t().contiguous() if kernel == "onednn" else None
        self.out = torch.empty(size, size, device=device, dtype=dtype)
        with self._precision():
            self._matmul()  # warm-up: kernel selection, allocator
            sync(device)
            t0 = time.perf_counter()
            self._matmul()
            sync(device)
        self.inner = max(1, min(1000, int(PEAK_REPEAT_SECONDS / max(time.perf_counter() - t0, 1e-9))))

    def _matmul(self) -> None:
        if self.b_t is not None:
            onednn_matmul(self.a, self.b_t)
        else:
            torch.mm(self.a, self.b, out=self.out)

    def _precision(self):
        """TF32 on for a TF32 probe, for its matmuls only."""
        if not self.tf32:
            return contextlib.nullcontext()
        return _tf32_matmuls()

    def rate(self) -> float:
        """FLOP/s of one timed burst of matmuls (about PEAK_REPEAT_SECONDS long)."""
        with self._precision():
            sync(self.device)
            t0 = time.perf_counter()
            for _ in range(self.inner):
                self._matmul()
            sync(self.device)
        return 2.0 * self.size**3 * self.inner / (time.perf_counter() - t0)

    def median_rate(self, repeats: int) -> float:
        """The median FLOP/s of ``repeats`` bursts."""
        return statistics.median(self.rate() for _ in range(repeats))


@contextlib.contextmanager
def _tf32_matmuls():
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def measure_peak(
    device: torch.device, size: int, repeats: int, want_bf16: bool, want_tf32: bool = False
) -> tuple[dict[str, Any], dict[str, MatmulProbe]]:
    """The device's measured matmul peak in fp32 (on a CPU, the faster of torch's and oneDNN's
    matmul) and, where asked and supported, bf16 and (CUDA) TF32; and the probes by precision
    name, kept to measure the peak again beside each timed region."""
    probes = {"fp32": MatmulProbe(device, torch.float32, size)}
    if want_tf32 and device.type == "cuda":
        probes["tf32"] = MatmulProbe(device, torch.float32, size, tf32=True)
    peak: dict[str, Any] = {"matmul_size": size, "tf32_flops_per_s": None, "bf16_flops_per_s": None}
    if want_bf16:
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            peak["bf16_error"] = "this GPU does not support bf16"
        else:
            try:
                probes["bf16"] = MatmulProbe(device, torch.bfloat16, size)
            except Exception as exc:  # a device without bf16 matmul is a result, not a crash
                peak["bf16_error"] = one_line(exc)
    for name, probe in probes.items():
        peak[f"{name}_flops_per_s"] = probe.median_rate(repeats)
    # On a CPU, torch's fp32 matmul (its BLAS) and oneDNN's (which the engine may use for linear
    # layers, and which runs the convolutions) can differ by far; the machine's limit is the faster.
    peak["fp32_kernel"] = "torch"
    if device.type == "cpu" and onednn_linear_available():
        onednn = MatmulProbe(device, torch.float32, size, kernel="onednn")
        peak["fp32_torch_flops_per_s"] = peak["fp32_flops_per_s"]
        peak["fp32_onednn_flops_per_s"] = onednn.median_rate(repeats)
        if peak["fp32_onednn_flops_per_s"] > peak["fp32_flops_per_s"]:
            probes["fp32"], peak["fp32_flops_per_s"], peak["fp32_kernel"] = (
                onednn,
                peak["fp32_onednn_flops_per_s"],
                "onednn",
            )
    return peak, probes


class MemoryProbe:
    """Peak memory of one measurement: CUDA's max_memory_allocated, else the process's max RSS growth."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_max_memory_allocated" if device.type == "cuda" else "cpu_max_rss_growth"
        self.baseline = 0.0

    @staticmethod
    def _max_rss_mib() -> float:
        # ru_maxrss is KiB on Linux, bytes on macOS.
        scale = 1.0 if sys.platform == "darwin" else 1024.0
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / MIB

    def start(self) -> None:
        """Begin a measurement."""
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = torch.cuda.memory_allocated(self.device) / MIB  # the peak probes' matrices
            return
        # The max RSS is a process-wide high-water mark; Linux lets a process lower it to the
        # current RSS, so each measurement sees its own peak. Where it cannot, growth is a lower bound.
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.kind = "cpu_max_rss_growth_lower_bound"
        self.baseline = self._max_rss_mib()

    def peak_mib(self) -> float:
        """Peak MiB since :meth:`start`."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / MIB - self.baseline
        return max(0.0, self._max_rss_mib() - self.baseline)


def reset_precision() -> None:
    """Put torch's process-wide TF32 switches back to their defaults, so that a ``tf32`` variant
    does not leak into the measurements after it."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = True


# -- timing ----------------------------------------------------------------------------------------
@attrs.frozen
class Timing:
    """Timed regions of one measurement."""

    step_seconds: list[float]  # seconds per step, one value per timed repeat
    warmup_seconds: float
    peak_flops_per_s: list[float] = attrs.field(factory=list)  # the matmul rate right after each repeat

    @property
    def median_step(self) -> float:
        """The median seconds per step."""
        return statistics.median(self.step_seconds)


def time_steps(
    step: Callable[[], Any],
    device: torch.device,
    steps: int,
    warmup: int,
    repeats: int,
    probe: MatmulProbe | None = None,
) -> Timing:
    """Run ``warmup`` untimed steps, then ``repeats`` timed regions of ``steps`` steps each, each
    followed by one burst of ``probe``'s matmuls: a shared machine's speed drifts between minutes,
    and the peak measured beside each region drifts with it."""
    sync(device)
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync(device)
    warmup_seconds = time.perf_counter() - t0
    per_step, peaks = [], []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        per_step.append((time.perf_counter() - t0) / steps)
        if probe is not None:
            peaks.append(probe.rate())
    return Timing(per_step, warmup_seconds, peaks)


def count_flops(step: Callable[[], Any]) -> int:
    """FLOPs of one call of ``step`` (matmuls and convolutions, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


# -- the engine --------------------------------------------------------------------------------------
@attrs.define
class Bench:
    """What every measurement shares."""

    host: PluginHost
    device: torch.device
    args: argparse.Namespace
    peak: dict[str, Any]
    probes: dict[str, MatmulProbe]


def engine_config(host: PluginHost, backbone: str, batch: int, args: argparse.Namespace, sets: list[str]) -> Config:
    """The configuration of one measurement: the backbone's defaults, then --set, then the variant."""
    base = [
        f"model.backbone={backbone}",
        f"train.batch_size={batch}",
        f"train.device={args.device}",
        f"train.seed={args.seed}",
    ]
    return build_config(host, sets=[*base, *sets])


def engine_step(assembly: Assembly, bench: Bench) -> tuple[Callable[[], None], InfoGANObjective]:
    """Build the engine pieces as the trainer does and return one training step as a closure."""
    cfg, device = assembly.config, bench.device
    objective = build_objective(assembly, device)
    objective.schedule(0)  # the weights of step 0, as the trainer sets them before its first step
    pool_gen = torch.Generator().manual_seed(cfg.train.seed)
    shape = (bench.args.pool, *assembly.backbone.image_shape)
    dataset = TensorImageDataset(torch.randint(0, 256, shape, generator=pool_gen, dtype=torch.uint8)).to(device)
    rng = torch.Generator(device=device)
    rng.manual_seed(cfg.train.seed)
    batch = cfg.train.batch_size
    acc = torch.zeros(len(objective.stat_names), device=device)

    # Exactly the trainer's per-step device work: index, gather, update (captured with cuda_graph).
    train_step = make_train_step(objective, dataset, rng, batch, cfg.train.cuda_graph)

    def step() -> None:
        """One step plus the trainer's on-device accumulation of its statistics."""
        acc.add_(train_step())

    return step, objective


def peak_for(variant: str, peak: dict[str, Any]) -> tuple[float | None, str]:
    """The matmul peak a variant is judged against: bf16 (or TF32) for such variants where measured."""
    if "bf16" in variant.split("+") and peak.get("bf16_flops_per_s"):
        return peak["bf16_flops_per_s"], "bf16"
    if "tf32" in variant.split("+") and peak.get("tf32_flops_per_s"):
        return peak["tf32_flops_per_s"], "tf32"
    return peak["fp32_flops_per_s"], "fp32"


def summarise(row: dict[str, Any], timing: Timing, flops: int, batch: int, peak: float | None) -> None:
    """Fill a result row's throughput numbers from its timing. ``peak_ratio`` is the median over the
    timed regions of each region's FLOP rate over the matmul peak measured right after it (else
    over ``peak``, the peak measured at the start)."""
    step_s = timing.median_step
    row["step_seconds_median"] = step_s
    row["step_seconds_repeats"] = timing.step_seconds
    row["img_per_s_repeats"] = [batch / s for s in timing.step_seconds]
    row["img_per_s"] = statistics.median(row["img_per_s_repeats"])
    row["warmup_seconds"] = timing.warmup_seconds
    row["flops_per_step"] = flops
    row["flops_per_image"] = flops / batch
    row["achieved_flops_per_s"] = flops / step_s
    row["peak_flops_per_s_repeats"] = timing.peak_flops_per_s
    if timing.peak_flops_per_s:
        ratios = [flops / s / p for s, p in zip(timing.step_seconds, timing.peak_flops_per_s)]
        row["peak_ratio_repeats"] = ratios
        row["peak_ratio"] = statistics.median(ratios)
    else:
        row["peak_ratio"] = flops / step_s / peak if peak else None
    # The speed the machine would allow: its matmul peak spent on this row's arithmetic.
    row["peak_img_per_s"] = row["img_per_s"] / row["peak_ratio"] if row["peak_ratio"] else None


def measure_engine(bench: Bench, backbone: str, batch: int, variant: str) -> dict[str, Any]:
    """One engine measurement; a failure on the device becomes a 'failed' row with its reason."""
    args = bench.args
    row: dict[str, Any] = {
        "kind": "engine",
        "backbone": backbone,
        "batch_size": batch,
        "variant": variant,
        "status": "ok",
    }
    probe = MemoryProbe(bench.device)
    probe.start()
    reset_precision()
    try:
        row["config_overrides"] = [*args.sets, *variant_sets(variant)]
        assembly = resolve(engine_config(bench.host, backbone, batch, args, row["config_overrides"]), bench.host)
        compiled = assembly.config.train.compile
        step, objective = engine_step(assembly, bench)
        flops = count_flops(step)  # eager, before any compile: the same maths every variant runs
        if compiled:
            objective.compile()
        # Compilation happens lazily in the first calls, so a compiled variant always gets a warm-up.
        warmup = max(args.warmup, 1) if compiled else args.warmup
        peak, peak_dtype = peak_for(variant, bench.peak)
        timing = time_steps(step, bench.device, args.steps, warmup, args.repeats, bench.probes.get(peak_dtype))
        summarise(row, timing, flops, batch, peak)
        row["peak_dtype"] = peak_dtype
        if compiled:
            # Its cost is the warm-up's excess over as many steady steps.
            row["compile_seconds"] = max(0.0, timing.warmup_seconds - timing.median_step * warmup)
        row["peak_memory_mib"] = probe.peak_mib()
        row["memory_kind"] = probe.kind
    except Exception as exc:  # a variant the device cannot run is a result, not a crash
        row.update(status="failed", reason=one_line(exc))
    finally:
        if any(part.startswith("compile") for part in variant.split("+")):
            torch._dynamo.reset()
        free_memory(bench.device)
    return row


# -- the plain loop ----------------------------------------------------------------------------------
def default_mnist_roots() -> list[Path]:
    """Where the MNIST IDX files are without --mnist-root: the copy the toolkit ships, if installed."""
    try:
        from infogan_tk_mnist_data import verified_dir
    except ImportError:
        return []
    return [verified_dir()]


def mnist_source(explicit: Path | None) -> Path:
    """The folder with the MNIST IDX files: --mnist-root, else a known location."""
    from plain_loop import find_idx_dir  # imported here: only --plain needs it (and torchvision)

    if explicit is not None:
        return find_idx_dir(explicit.expanduser())
    for root in default_mnist_roots():
        try:
            return find_idx_dir(root)
        except ToolkitError:
            continue
    raise ConfigError("--plain needs the MNIST IDX files; pass --mnist-root DIR")


def measure_plain(bench: Bench, backbone: str, batch: int, workdir: Path) -> dict[str, Any]:
    """The plain loop at one batch size; failures (missing data, device errors) become a 'failed' row."""
    row: dict[str, Any] = {
        "kind": "plain",
        "backbone": backbone,
        "batch_size": batch,
        "variant": "plain",
        "status": "ok",
    }
    if backbone not in PLAIN_BACKBONES:
        row.update(status="skipped", reason=f"the plain loop is written for {', '.join(PLAIN_BACKBONES)} only")
        return row
    args = bench.args
    reset_precision()
    probe = MemoryProbe(bench.device)
    probe.start()
    try:
        from plain_loop import PlainInfoGAN, mnist_loader, stage_mnist

        root = stage_mnist(mnist_source(args.mnist_root), workdir / "torchvision-root")
        loop = PlainInfoGAN(
            bench.host.registries.backbones.get(backbone), mnist_loader(root, batch), bench.device, args.seed
        )
        flops = count_flops(loop.step)
        timing = time_steps(loop.step, bench.device, args.steps, args.warmup, args.repeats, bench.probes["fp32"])
        summarise(row, timing, flops, batch, bench.peak["fp32_flops_per_s"])
        row["peak_dtype"] = "fp32"
        row["peak_memory_mib"] = probe.peak_mib()
        row["memory_kind"] = probe.kind
    except Exception as exc:  # reported, like a failed variant
        row.update(status="failed", reason=one_line(exc))
    finally:
        free_memory(bench.device)
    return row


def add_plain_ratios(rows: list[dict[str, Any]]) -> None:
    """Give every engine row its speed over the plain loop at the same backbone and batch size."""
    plain = {(r["backbone"], r["batch_size"]): r for r in rows if r["kind"] == "plain" and r["status"] == "ok"}
    for row in rows:
        if row["kind"] != "engine":
            continue
        base = plain.get((row["backbone"], row["batch_size"]))
        ok = base is not None and row["status"] == "ok"
        row["engine_over_plain"] = row["img_per_s"] / base["img_per_s"] if ok else None


# -- report ---------------------------------------------------------------------------------------------
def _fmt(value: float | None, spec: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value / scale, spec)


def _fp32_kernels(peak: dict[str, Any]) -> str:
    """Which library gave the fp32 peak, and the other's rate, where both were measured."""
    if "fp32_onednn_flops_per_s" not in peak:
        return ""
    names = {"torch": "torch's BLAS", "onednn": "oneDNN"}
    other = "torch" if peak["fp32_kernel"] == "onednn" else "onednn"
    return f" ({names[peak['fp32_kernel']]}; {names[other]} {_fmt(peak[f'fp32_{other}_flops_per_s'], '.3f', 1e12)})"


def results_table(report: dict[str, Any]) -> Table:
    """The results as a rich table."""
    m = report["machine"]
    table = Table(
        title=f"InfoGAN training throughput on {m['device_name']} ({m['device']}, torch {m['torch_version']}, "
        f"{m['threads']} threads)"
    )
    for name, justify in [
        ("backbone", "left"),
        ("batch", "right"),
        ("variant", "left"),
        ("img/s", "right"),
        ("limit img/s", "right"),
        ("vs plain", "right"),
        ("GFLOP/step", "right"),
        ("TFLOP/s", "right"),
        ("% peak", "right"),
        ("peak MiB", "right"),
        ("compile s", "right"),
        ("status", "left"),
    ]:
        table.add_column(name, justify=justify)
    for r in report["results"]:
        ok = r["status"] == "ok"
        ratio = r.get("engine_over_plain")
        status = "ok" if ok else f"{r['status']}: {r.get('reason', '')}"
        table.add_row(
            r["backbone"],
            str(r["batch_size"]),
            r["variant"],
            _fmt(r.get("img_per_s"), ",.0f"),
            _fmt(r.get("peak_img_per_s"), ",.0f"),
            "-" if ratio is None else f"{ratio:.2f}x",
            _fmt(r.get("flops_per_step"), ".2f", 1e9),
            _fmt(r.get("achieved_flops_per_s"), ".3f", 1e12),
            _fmt(r.get("peak_ratio"), ".1%") if r.get("peak_ratio") is not None else "-",
            _fmt(r.get("peak_memory_mib"), ",.0f"),
            _fmt(r.get("compile_seconds"), ".1f"),
            status,
        )
    peak = report["peak"]
    table.caption = (
        f"matmul peak {peak['matmul_size']}x{peak['matmul_size']}: fp32 {_fmt(peak['fp32_flops_per_s'], '.3f', 1e12)} "
        f"TFLOP/s{_fp32_kernels(peak)}, "
        f"bf16 {_fmt(peak.get('bf16_flops_per_s'), '.3f', 1e12)} TFLOP/s, tf32 "
        f"{_fmt(peak.get('tf32_flops_per_s'), '.3f', 1e12)} TFLOP/s; memory: {report['memory_kind']}"
    )
    return table


def command_line(argv: list[str] | None) -> str:
    """The exact command, as it could be pasted into a shell."""
    args = sys.argv[1:] if argv is None else argv
    return shlex.join([Path(sys.executable).name, sys.argv[0] if argv is None else "benchmarks/throughput.py", *args])


def run(args: argparse.Namespace, command: str, console: Console) -> dict[str, Any]:
    """Measure everything asked for and return the report."""
    if args.threads:
        torch.set_num_threads(args.threads)
    host = PluginHost()
    device = pick_device(args.device)
    variants = parse_variants(args.variants)
    backbones = args.backbones or host.registries.backbones.names()
    for name in backbones:  # a typo or a bad --set is a user mistake: one line, before anything is measured
        resolve(engine_config(host, name, args.batch_sizes[0], args, args.sets), host)
    if args.plain and args.mnist_root is not None:
        mnist_source(args.mnist_root)
    console.log(f"measuring the matmul peak on {device} ...")
    want_bf16 = any("bf16" in v.split("+") for v in variants)
    want_tf32 = any("tf32" in v.split("+") for v in variants)
    bench = Bench(host, device, args, *measure_peak(device, args.peak_size, args.repeats, want_bf16, want_tf32))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="infogan-tk-bench-") as tmp:
        for backbone in backbones:
            for batch in args.batch_sizes:
                for variant in variants:
                    console.log(f"{backbone} batch {batch} {variant} ...")
                    rows.append(measure_engine(bench, backbone, batch, variant))
                if args.plain:
                    console.log(f"{backbone} batch {batch} plain loop ...")
                    rows.append(measure_plain(bench, backbone, batch, Path(tmp)))
    add_plain_ratios(rows)
    return {
        "command": command,
        "machine": machine_info(device),
        "settings": {
            "backbones": backbones,
            "batch_sizes": args.batch_sizes,
            "variants": variants,
            "steps": args.steps,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "pool": args.pool,
            "seed": args.seed,
            "sets": args.sets,
            "plain": args.plain,
        },
        "peak": bench.peak,
        "memory_kind": MemoryProbe(device).kind,
        "results": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: measure, print the table, write the JSON. Returns the exit code."""
    args = parse_args(argv)
    # Benchmarks import the plain loop beside this file, also when run from elsewhere.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    err = Console(stderr=True, highlight=False)
    try:
        report = run(args, command_line(argv), err)
    except ToolkitError as exc:
        # Plain write: rich would wrap the message over several lines.
        sys.stderr.write(f"error: {' '.join(str(exc).split())}\n")
        return 2
    # A pipe or file gets a wide table rather than rich's 80 columns, which would truncate every cell.
    Console(highlight=False, width=None if sys.stdout.isatty() else 180).print(results_table(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        err.print(f"wrote {args.json}", markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
