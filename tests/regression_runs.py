"""The runs behind tests/test_regression.py: a few fp32 CPU steps of two configs, summarised compactly.

``python tests/regression_runs.py --record`` trains them and writes ``tests/data/regression.json``:
the machine, the resolved config of each run, and after the last step the SHA-256 of all saved
weights and buffers, a few statistics per tensor and the losses of every step. The test replays the
recorded configs: bit for bit where the machine matches the record, within ``TOLERANCE`` elsewhere.

``python tests/regression_runs.py --compare`` replays them and prints the largest differences from
the record, the measurement behind ``TOLERANCE`` (run it under other kernel paths: see the test).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch

from infogan_toolkit import build_config
from infogan_toolkit.checkpoint import list_steps, load_tensors, model_path
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.devices import cpu_model
from infogan_toolkit.engine.trainer import Trainer
from infogan_toolkit.plugins import PluginHost

RECORD = Path(__file__).parent / "data" / "regression.json"

#: Steps per run. The checkpoint of the middle step lets the test resume from it.
STEPS = 4

#: Settings that put every machine on the same code path: fp32, torch's linear kernels, the layout
#: and Adam kernel "auto" picks on a CPU (channels_last, fused), one fixed seed, no figures or
#: other callbacks (what happens to be installed must not change the run).
PINNED = [
    f"train.steps={STEPS}",
    "train.batch_size=16",
    "train.seed=0",
    "train.device='cpu'",
    "train.bf16=false",
    "train.linear_kernel='torch'",
    "train.channels_last=true",
    "optim.implementation='fused'",
    "train.compile=false",
    "train.log_every=1",
    f"train.checkpoint_every={STEPS // 2}",
    "train.figures=false",
    "train.callbacks=[]",
]

#: Run name -> (shipped config, settings over it). mnist-fast: the MNIST networks on the shipped
#: MNIST copy, the invariance and real-consistency terms and the linear rate decay (from step 3 of
#: 4); the consistency term keeps every real digit (confidence 0: an untrained Q is confident of
#: none, and a threshold could flip between machines). shapes-contrastive: the shapes networks, a
#: term that owns a network (the pair classifier H, with its own Adam) paid to G from step 0, the
#: real-information term (these two are what the weight hashes recorded before the regulariser move
#: checked) and the EMA generator.
RUNS: dict[str, tuple[str, list[str]]] = {
    "mnist-fast": ("mnist-fast", ["loss.real_consistency.confidence=0.0"]),
    "shapes-contrastive": (
        "shapes",
        [
            "loss.contrastive.weight=1.0",
            "loss.contrastive.start=0",
            "loss.real_information.weight=0.5",
            "train.ema=0.9",
            "train.callbacks=['ema']",
        ],
    ),
}

#: Fraction of the way through a flattened tensor of the elements recorded as they are.
ELEMENTS = (0.0, 0.37, 0.71, 1.0)

#: Environment variables that cap the instruction sets torch's, oneDNN's and MKL's kernels use.
ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def default_threads() -> int:
    """The thread count the test suite runs with (tests/conftest.py), and so the records are made with."""
    return min(2, os.cpu_count() or 1)


def machine() -> dict[str, Any]:
    """What decides the float results of the pinned runs: CPU model, torch's kernel capability,
    torch version, threads and any instruction-set cap in the environment."""
    return {
        "cpu": cpu_model(),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "isa_caps": {name: os.environ[name] for name in ISA_VARIABLES if name in os.environ},
    }


def run_config(name: str, host: PluginHost, recorded: dict[str, Any] | None = None) -> Config:
    """The config of run ``name``: the recorded one when given (so an edit of a shipped config file
    is not mistaken for a change of the engine), else the shipped config with ``PINNED`` settings."""
    if recorded is not None:
        return apply_dict(Config(), recorded, f"{RECORD.name}: {name}")
    config, sets = RUNS[name]
    return build_config(host, config, sets=[*PINNED, *sets])


def train(config: Config, out: Path, host: PluginHost, resume: bool = False) -> Trainer:
    """Train ``config`` into ``out`` (from its last checkpoint with ``resume``); the finished trainer."""
    trainer = Trainer(config, out, host=host, resume=resume, progress=False)
    trainer.run()
    return trainer


def _stats(tensor: torch.Tensor) -> list[float]:
    """Size, sum, sum of squares and the elements at ``ELEMENTS`` of a tensor, in float64."""
    flat = tensor.detach().reshape(-1).to(torch.float64)
    if flat.numel() == 0:
        return [0, 0.0, 0.0]
    picks = sorted({round(f * (flat.numel() - 1)) for f in ELEMENTS})
    return [flat.numel(), float(flat.sum()), float((flat * flat).sum()), *(float(flat[i]) for i in picks)]


def weights_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's key, dtype, shape and bytes, in key order."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def losses(run_dir: Path) -> dict[int, dict[str, float]]:
    """Step -> the logged losses and term statistics of that step (``metrics.jsonl``), without the
    timings and rates, which are no result."""
    out: dict[int, dict[str, float]] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        out[int(record["step"])] = {
            k: float(v)
            for k, v in sorted(record.items())
            if k.startswith(("loss", "info", "contrastive", "real_", "invariance")) and isinstance(v, (int, float))
        }
    return out


def summarise(run_dir: Path, step: int | None = None) -> dict[str, Any]:
    """The checkpoint of ``step`` (the last one by default) of ``run_dir``: its weights' SHA-256,
    ``_stats`` per floating-point tensor, and every logged step's losses."""
    step = list_steps(run_dir)[-1] if step is None else step
    tensors = load_tensors(model_path(run_dir, step))
    return {
        "step": step,
        "sha256": weights_digest(tensors),
        "tensors": {k: _stats(t) for k, t in sorted(tensors.items()) if t.is_floating_point()},
        "losses": {str(s): v for s, v in losses(run_dir).items()},
    }


#: Tensors from this many elements count as large: kernel noise flips a few elements' Adam steps,
#: which moves a small tensor's (a bias's) sum and sum of squares far more than a large one's.
LARGE = 1024

#: Logged statistics that count samples of the batch (a flipped argmax moves them by 1 / batch).
COUNTED = ("accuracy", "confident")

#: The kinds of difference ``differences`` reports.
KINDS = ("loss_first", "loss", "counted", "part", "large", "small", "element")


def _moment_change(old: tuple[float, float], new: tuple[float, float]) -> float:
    """How far (sum, sum of squares) moved: the sum's change over the root-sum-of-squares, or the
    sum of squares' relative change, whichever is larger (both scale-free)."""
    norm = math.sqrt(abs(old[1])) + 1e-12
    return max(abs(new[0] - old[0]) / norm, abs(new[1] - old[1]) / (abs(old[1]) + 1e-12))


def differences(record: dict[str, Any], now: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """The largest difference of each kind in ``KINDS`` between two summaries of one run, with where:
    ``loss_first``: a logged loss of step 1 (before any update, so only the forward kernels differ);
    ``loss``: a logged loss of any step; ``counted``: a ``COUNTED`` statistic; ``part``: the
    ``_moment_change`` of a network's tensors together (``generator``, ``discriminator``,
    ``contrastive``, ``ema``); ``large`` and ``small``: of one tensor of at least / fewer than
    ``LARGE`` elements; ``element``: of a recorded single element, absolute."""
    worst: dict[str, tuple[float, str]] = {kind: (0.0, "") for kind in KINDS}

    def note(kind: str, value: float, where: str) -> None:
        if not value <= worst[kind][0]:  # NaN counts as worst
            worst[kind] = (value, where)

    if record["tensors"].keys() != now["tensors"].keys():
        raise AssertionError(f"the tensors differ: {sorted(set(record['tensors']) ^ set(now['tensors']))}")
    parts: dict[str, list[float]] = {}
    for key, old in record["tensors"].items():
        new = now["tensors"][key]
        if old[0] != new[0]:
            raise AssertionError(f"{key} has {new[0]} elements, the record {old[0]}")
        note("large" if old[0] >= LARGE else "small", _moment_change(old[1:3], new[1:3]), key)
        for i, (a, b) in enumerate(zip(old[3:], new[3:])):
            note("element", abs(a - b), f"{key}[{i}]")
        total = parts.setdefault(key.split(".")[0], [0.0, 0.0, 0.0, 0.0])
        for i, value in enumerate((*old[1:3], *new[1:3])):
            total[i] += value
    for part, (s0, q0, s1, q1) in parts.items():
        note("part", _moment_change((s0, q0), (s1, q1)), part)
    if record["losses"].keys() != now["losses"].keys():
        raise AssertionError(f"logged steps differ: {sorted(record['losses'])} against {sorted(now['losses'])}")
    for step, old in record["losses"].items():
        new = now["losses"][step]
        if old.keys() != new.keys():
            raise AssertionError(f"step {step} logged {sorted(new)}, the record {sorted(old)}")
        for k in old:
            kind = "counted" if k.endswith(COUNTED) else "loss_first" if step == "1" else "loss"
            note(kind, abs(new[k] - old[k]), f"step {step} {k}")
            if kind == "loss_first":
                note("loss", abs(new[k] - old[k]), f"step {step} {k}")
    return worst


def record_all(out_root: Path) -> dict[str, Any]:
    """Train every run in ``RUNS`` under ``out_root`` and return the record (machine, configs, summaries)."""
    host = PluginHost()
    runs = {}
    for name in RUNS:
        config = run_config(name, host)
        train(config, out_root / name, host)
        runs[name] = {"config": Config.to_dict(config), "summary": summarise(out_root / name)}
    return {"machine": machine(), "steps": STEPS, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    """``--record``: write ``RECORD``; ``--compare``: print the largest differences from it."""
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", action="store_true", help=f"train the runs and write {RECORD}")
    mode.add_argument(
        "--compare", action="store_true", help="replay the recorded runs and print the largest differences"
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --compare: a setting over the recorded configs (to see that the check notices a change)",
    )
    parser.add_argument(
        "--threads", type=int, default=default_threads(), help="torch threads (default: the test suite's)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.record:
            data = record_all(Path(tmp))
            RECORD.parent.mkdir(parents=True, exist_ok=True)
            RECORD.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            print(f"wrote {RECORD} on {data['machine']}")
            return 0
        saved = json.loads(RECORD.read_text())
        host = PluginHost()
        print(json.dumps({"machine": machine(), "recorded_on": saved["machine"]}))
        for name, run in saved["runs"].items():
            config = run_config(name, host, run["config"])
            if args.sets:
                config = build_config(host, None, sets=args.sets, base=config)
            train(config, Path(tmp) / name, host)
            now = summarise(Path(tmp) / name)
            worst = differences(run["summary"], now)
            print(
                json.dumps(
                    {
                        "run": name,
                        "exact": now["sha256"] == run["summary"]["sha256"],
                        **{k: [v, w] for k, (v, w) in worst.items()},
                    }
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
