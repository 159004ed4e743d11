"""Where one training step of the engine spends its time: every aten op timed as it runs.

Builds the same step as ``throughput.py`` (the real configuration, ``resolve`` and the trainer's
step on an on-device image pool), runs a few untimed steps, then times each aten call of
``--steps`` steps with a dispatch mode and prints the ops with the largest share, matmuls split by
their shapes with the FLOP rate each reached (every op FlopCounterMode has a formula for). A profiler adds its own cost
to every call; this
times only the calls, so their sum stays close to the step's wall time (both are printed). It runs
on the CPU only: on a GPU each call's time would be its launch, not its work.

    python benchmarks/op_times.py --backbone mnist --batch-size 64
    python benchmarks/op_times.py --backbone mnist --batch-size 64 --set train.channels_last=false
"""

from __future__ import annotations

import argparse
import collections
import time
from typing import Any

import torch
from throughput import Bench, engine_config, engine_step
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from infogan_toolkit.assembly import resolve
from infogan_toolkit.errors import ConfigError, ToolkitError
from infogan_toolkit.plugins import PluginHost


class OpTimer(TorchDispatchMode):
    """Adds up the wall time of each aten op (matmuls keyed by their operand shapes)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.calls: collections.Counter[str] = collections.Counter()
        self.flops: dict[str, float] = collections.defaultdict(float)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        elapsed = time.perf_counter() - start
        key = str(func.overloadpacket.__name__)
        formula = flop_registry.get(func.overloadpacket)
        if func is torch.ops.aten.mm.default:
            (m, k), (_, n) = args[0].shape, args[1].shape
            key = f"mm {m}x{k} @ {k}x{n}"
        elif formula is not None:  # convolutions, oneDNN's linear: named by their operands' shapes
            shapes = " ".join("x".join(map(str, a.shape)) for a in args if isinstance(a, torch.Tensor))
            key = f"{key} {shapes}"
        if formula is not None:
            self.flops[key] += formula(*args, **(kwargs or {}), out_val=out)
        self.seconds[key] += elapsed
        self.calls[key] += 1
        return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="mnist", help="a registered backbone (default: mnist)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=10, help="timed steps (default: 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: 3)")
    p.add_argument("--top", type=int, default=20, help="ops to print (default: 20)")
    p.add_argument("--pool", type=int, default=1024, help="random uint8 images in the pool (default: 1024)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="configuration override (repeatable)",
    )
    p.set_defaults(device="cpu")  # what the shared engine_config reads; this script times the CPU only
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Time one configuration's step op by op and print the table."""
    args = parse_args(argv)
    host = PluginHost()
    try:
        assembly = resolve(engine_config(host, args.backbone, args.batch_size, args, args.sets), host)
    except (ConfigError, ToolkitError) as err:
        raise SystemExit(f"error: {err}") from None
    step, _ = engine_step(assembly, Bench(host, torch.device(args.device), args, {}, {}))
    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    plain = (time.perf_counter() - start) / args.steps
    timer = OpTimer()
    start = time.perf_counter()
    with timer:
        for _ in range(args.steps):
            step()
    timed = (time.perf_counter() - start) / args.steps
    total = sum(timer.seconds.values()) / args.steps
    print(
        f"{args.backbone}, batch {args.batch_size}, {torch.backends.cpu.get_cpu_capability()}, "
        f"{torch.get_num_threads()} threads: step {plain * 1e3:.1f} ms ({args.batch_size / plain:.0f} img/s); "
        f"with op timing {timed * 1e3:.1f} ms, of which ops {total * 1e3:.1f} ms"
    )
    print(f"{'ms/step':>8} {'share':>6} {'calls':>5}  {'GFLOP/s':>7}  op")
    for key, seconds in sorted(timer.seconds.items(), key=lambda kv: -kv[1])[: args.top]:
        per_step = seconds / args.steps
        rate = f"{timer.flops[key] / seconds / 1e9:7.0f}" if key in timer.flops else " " * 7
        print(f"{per_step * 1e3:8.2f} {per_step / total:6.1%} {timer.calls[key] // args.steps:5d}  {rate}  {key}")


if __name__ == "__main__":
    main()
