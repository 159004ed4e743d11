"""Can a pair classifier tell a trained generator's codes apart? Train a fresh one on a frozen G.

    python research/pair_probe.py RUN_OR_CHECKPOINT [--steps 300] [--batch 64] [--lr 2e-3] [--seed 0]

The contrastive regulariser (``[loss.contrastive]``) only helps once its classifier H can name the
code two fakes share. This script builds the backbone's pair classifier afresh, trains it for
``--steps`` steps on pairs from the checkpoint's generator (in eval mode, never updated; a pair
shares its noise z and one code, as the regulariser's pairs do), then scores
it on held-out pairs: chance is 1 / number of codes. It prints one JSON line per ``--log-every``
steps and a final line with the held-out accuracy and, per code, how often H names that code when
it is the shared one. Nothing is written to the run.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
import torch.nn.functional as F

from infogan_toolkit.assembly import build_request
from infogan_toolkit.errors import ToolkitError
from infogan_toolkit.model import TrainedModel


def pairs(model: TrainedModel, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pairs stacked on the channel axis, and the index of the code each pair shares."""
    values = model.codes.sample(n, gen, model.device)
    partner, which = model.codes.partners(values, gen, model.device)
    z = model.noise(n, gen)  # shared, as the regulariser's pairs share it
    first = model.generate(z, values)
    second = model.generate(z, partner)
    return torch.cat([first, second], dim=1), which


def probe(model: TrainedModel, steps: int, batch: int, lr: float, seed: int, log_every: int, held_out: int) -> dict:
    """Train a fresh pair classifier on ``model``'s frozen generator; return the held-out scores."""
    builder = getattr(model.assembly.backbone, "build_pair_classifier", None)
    if builder is None:
        raise ToolkitError(f"backbone '{model.config.model.backbone}' has no pair classifier to probe with")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = builder(build_request(model.assembly), len(model.codes)).to(model.device).train()
    beta1, beta2 = model.config.optim.beta1, model.config.optim.beta2
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr, betas=(beta1, beta2))
    gen = torch.Generator(device=model.device).manual_seed(seed)
    for step in range(1, steps + 1):
        x, which = pairs(model, batch, gen)
        logits = classifier(x)
        loss = F.cross_entropy(logits, which)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % log_every == 0 or step == steps:
            accuracy = (logits.argmax(dim=1) == which).float().mean().item()
            print(json.dumps({"step": step, "loss": round(loss.item(), 4), "accuracy": round(accuracy, 4)}), flush=True)
    classifier.eval()
    held = torch.Generator(device=model.device).manual_seed(seed + 1)
    hits = torch.zeros(len(model.codes))
    counts = torch.zeros(len(model.codes))
    with torch.no_grad():
        for start in range(0, held_out, 512):
            x, which = pairs(model, min(512, held_out - start), held)
            right = classifier(x).argmax(dim=1) == which
            hits += torch.bincount(which[right].cpu(), minlength=len(model.codes)).float()
            counts += torch.bincount(which.cpu(), minlength=len(model.codes)).float()
    return {
        "checkpoint_step": model.step,
        "steps": steps,
        "held_out_pairs": held_out,
        "chance": round(1 / len(model.codes), 4),
        "held_out_accuracy": round(float(hits.sum() / counts.sum()), 4),
        "recall_per_code": {c.name: round(float(h / max(k, 1)), 4) for c, h, k in zip(model.codes, hits, counts)},
    }


def main() -> None:
    """Parse the arguments, run the probe, print the final JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a run directory (its latest checkpoint) or a .safetensors file")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--lr", type=float, default=2e-3, help="Adam learning rate (the default of loss.contrastive.lr)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--held-out", type=int, default=2048, help="pairs scored after training")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.steps < 1 or args.batch < 1 or args.held_out < 1 or args.log_every < 1:
        raise SystemExit("error: --steps, --batch, --held-out and --log-every must be at least 1")
    try:
        model = TrainedModel.load(args.checkpoint, device=args.device)
        if len(model.codes) < 2:
            raise SystemExit(f"error: the model has {len(model.codes)} code; a pair classifier needs at least two")
        print(json.dumps(probe(model, args.steps, args.batch, args.lr, args.seed, args.log_every, args.held_out)))
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
