"""How fast `infogan-tk explore` answers a moved control: a new image and Q's reading of it.

Starts the real server (Starlette on uvicorn, in a subprocess, on 127.0.0.1) over a randomly
initialised model of a backbone (speed does not depend on training), then:

1. one client sends ``--requests`` renders one after the other, each with a new value of a
   continuous code, as a slider being dragged does, and reports p50 and p95 of the round trip;
2. ``--clients`` clients at once each send ``--per-client`` renders (a bounded load test) and the
   same percentiles are reported over all of them, with the count of failed answers.

    python benchmarks/explore_latency.py --backbone mnist --json explore-latency.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch
from throughput import cpu_model


def serve_random(backbone: str, codes: str | None, seed: int) -> None:
    """The server side: a random model of ``backbone`` served on a free port; prints its address."""
    from infogan_toolkit.assembly import build_networks, resolve
    from infogan_toolkit.config import Config, apply_dict
    from infogan_toolkit.explore.server import bind, serve, url_of
    from infogan_toolkit.explore.session import Explorer
    from infogan_toolkit.model import TrainedModel
    from infogan_toolkit.plugins import PluginHost

    host = PluginHost()
    model_section = {"backbone": backbone, **({"codes": codes} if codes else {})}
    assembly = resolve(apply_dict(Config(), {"model": model_section}, "the benchmark"), host)
    nets = build_networks(assembly, seed=seed)
    model = TrainedModel(assembly, nets.generator.eval(), nets.discriminator.eval(), {}, torch.device("cpu"))
    sock = bind("127.0.0.1", 0)
    print(url_of(sock), flush=True)
    serve(Explorer(model, f"random {backbone}", host=host), sock)


def percentiles(times: list[float]) -> dict[str, float]:
    """p50, p95 and the largest, in milliseconds."""
    ordered = sorted(times)

    def at(q: float) -> float:  # nearest rank
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {
        "p50_ms": round(at(0.50) * 1000, 2),
        "p95_ms": round(at(0.95) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


class Client:
    """One keep-alive connection sending render requests for a drifting point."""

    def __init__(self, port: int, info: dict[str, Any], seed: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.info = info
        self.rng = random.Random(seed)
        self.values = list(info["start"]["values"])
        self.moving = [i for i, c in enumerate(info["codes"]) if c["control"]["kind"] == "range"] or [0]

    def render(self) -> tuple[float, int]:
        """Move one slider and ask for the picture; (seconds, HTTP status)."""
        i = self.rng.choice(self.moving)
        control = self.info["codes"][i]["control"]
        if control["kind"] == "range":
            self.values[i] = self.rng.uniform(control["low"], control["high"])
        else:
            self.values[i] = self.rng.randrange(len(control["labels"]))
        body = json.dumps({"seed": 0, "values": self.values})
        started = time.perf_counter()
        self.conn.request("POST", "/api/render", body, {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - started
        if response.status == 200:
            answer = json.loads(payload)
            assert answer["image"].startswith("data:image/png") and len(answer["readback"]) == len(self.values)
        return elapsed, response.status


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print and optionally write the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="mnist")
    parser.add_argument("--codes", default=None, help="Code spec (default: the backbone's).")
    parser.add_argument("--requests", type=int, default=200, help="Sequential renders.")
    parser.add_argument("--clients", type=int, default=10, help="Concurrent clients in the load test.")
    parser.add_argument("--per-client", type=int, default=30, help="Renders per client in the load test.")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None, help="Write the record here.")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_random(args.backbone, args.codes, 0)
        return 0
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--backbone", args.backbone]
        + (["--codes", args.codes] if args.codes else []),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        address = server.stdout.readline().strip()
        if not address.startswith("http://127.0.0.1:"):
            raise SystemExit(f"error: the server did not start (it printed {address!r})")
        port = int(address.rsplit(":", 1)[1].rstrip("/"))
        probe = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        probe.request("GET", "/api/model")
        info = json.loads(probe.getresponse().read())

        client = Client(port, info, 0)
        for _ in range(args.warmup):
            client.render()
        sequential = [client.render() for _ in range(args.requests)]
        failed = sum(status != 200 for _, status in sequential)

        results: list[tuple[float, int]] = []
        lock = threading.Lock()

        def worker(k: int) -> None:
            mine = Client(port, info, 100 + k)
            got = [mine.render() for _ in range(args.per_client)]
            with lock:
                results.extend(got)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    record = {
        "backbone": args.backbone,
        "codes": info["spec"],
        "image_shape": info["image_shape"],
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "sequential": {"requests": args.requests, "failed": failed, **percentiles([t for t, _ in sequential])},
        "concurrent": {
            "clients": args.clients,
            "requests": len(results),
            "failed": sum(s != 200 for _, s in results),
            "requests_per_s": round(len(results) / wall, 1),
            **percentiles([t for t, _ in results]),
        },
    }
    print(json.dumps(record, indent=2))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
