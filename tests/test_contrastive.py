"""The contrastive regulariser (``[loss.contrastive]``, InfoGAN-CR, a built-in regulariser plugin): pairs that share
exactly one code,
a pair classifier that learns which, G's scheduled weight, checkpoints and exact resume, refusals."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TinyBackbone
from torch import nn

from infogan_toolkit import hookimpl
from infogan_toolkit.assembly import build_request, resolve
from infogan_toolkit.backbones import BuildRequest
from infogan_toolkit.checkpoint import load_tensors, model_path
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.objective import InfoGANObjective
from infogan_toolkit.engine.trainer import Trainer, build_objective
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.model import TrainedModel


class TinyPairBackbone(TinyBackbone):
    """The tiny backbone with a pair classifier: an MLP over both 8x8 images."""

    def build_pair_classifier(self, request: BuildRequest, classes: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(128, 32), nn.LeakyReLU(0.1), nn.Linear(32, classes))


class PairPlugin:
    @hookimpl
    def register_backbones(self, register):
        register("tiny-pairs", TinyPairBackbone())


@pytest.fixture
def pair_host(host):
    host.register(PairPlugin(), "tiny-pairs-plugin")
    try:
        yield host
    finally:
        host.unregister("tiny-pairs-plugin")


def config(backbone="tiny-pairs", codes="cat4,unif1", weight=1.0, start=0) -> Config:
    return apply_dict(
        Config(),
        {
            "model": {"backbone": backbone, "codes": codes},
            "data": {"dataset": "tiny-bars"},
            "loss": {"contrastive": {"weight": weight, "start": start}},
            "train": {
                "batch_size": 32,
                "steps": 6,
                "log_every": 2,
                "checkpoint_every": 3,
                "device": "cpu",
                "figures": False,
                "callbacks": [],
            },
        },
        "test",
    )


def objective(host, cfg: Config) -> InfoGANObjective:
    return build_objective(resolve(cfg, host), torch.device("cpu"))


def test_partners_share_exactly_the_chosen_code(pair_host):
    obj = objective(pair_host, config(codes="cat10,unif3"))
    rng = torch.Generator().manual_seed(0)
    n = 400
    gin, values = obj.generator_input(n, rng)
    partner_gin, which = obj.regularisers["contrastive"].partner_input(gin, values, rng, obj.noise_dim)
    partner = obj.codes.share_one(values, obj.codes.sample(n, torch.Generator().manual_seed(9)), which)
    assert sorted(set(which.tolist())) == [0, 1, 2, 3]  # every code gets chosen
    for i, (a, b) in enumerate(zip(values, partner)):
        same = (a == b).reshape(n, -1).all(dim=1)
        assert torch.equal(same[which == i], torch.ones(int((which == i).sum()), dtype=torch.bool))
        if i > 0:  # continuous codes: drawn afresh wherever they are not the shared one
            assert not same[which != i].any()
    # the partner keeps the noise z (the first noise_dim inputs), as InfoGAN-CR's pairs do ...
    z = obj.noise_dim
    assert torch.equal(partner_gin[:, :z], gin[:, :z])
    # ... and the shared code in its slot (c1 is a one-hot of 10, then c2, c3, c4), and only that one
    for i, column in ((1, z + 10), (2, z + 11), (3, z + 12)):
        assert torch.equal(partner_gin[which == i, column], gin[which == i, column])
        assert not (partner_gin[which != i, column] == gin[which != i, column]).any()


def test_schedule_gates_g_and_the_classifier_always_learns(pair_host):
    obj = objective(pair_host, config(start=5))
    term = obj.regularisers["contrastive"]
    real = torch.randint(0, 256, (32, 1, 8, 8), dtype=torch.uint8)

    def g_grad_from_contrastive(step: int) -> tuple[float, float]:
        obj.schedule(step)
        _, loss_g, _, _, own = obj.losses(real, torch.Generator().manual_seed(1))
        [(_, loss_h)] = own
        obj.opt_g.zero_grad(set_to_none=True)
        term.optimizer.zero_grad(set_to_none=True)
        (term.generator_weight * loss_h).backward(inputs=obj.g_params, retain_graph=True)
        g = sum(float(p.grad.abs().sum()) for p in obj.g_params if p.grad is not None)
        loss_h.backward(inputs=term.params)
        h = sum(float(p.grad.abs().sum()) for p in term.params if p.grad is not None)
        return g, h

    g_before, h_before = g_grad_from_contrastive(4)
    assert float(term.generator_weight) == 0.0 and g_before == 0.0 and h_before > 0
    assert all(p.grad is None for p in obj.g_params)  # eager: before the start H sees detached pairs
    g_after, h_after = g_grad_from_contrastive(5)
    assert float(term.generator_weight) == 1.0 and g_after > 0 and h_after > 0
    assert "loss_contrastive" in obj.stat_names and "contrastive_accuracy" in obj.stat_names


def test_skipping_the_idle_term_changes_no_weight(pair_host):
    # Eager steps skip G's backward through H before the start (its weight is 0); a captured CUDA
    # graph cannot, so it always runs it. Both must train the same weights, to the last bit.
    real = torch.randint(0, 256, (32, 1, 8, 8), dtype=torch.uint8)
    skipping, full = (objective(pair_host, config(start=3)) for _ in range(2))
    full.regularisers["contrastive"].skip_idle = False
    for obj in (skipping, full):
        rng = torch.Generator().manual_seed(5)
        for step in range(6):
            obj.schedule(step)
            obj.step(real, rng)
    h_skipping, h_full = skipping.regularisers["contrastive"].H, full.regularisers["contrastive"].H
    for a, b in ((skipping.G, full.G), (skipping.D, full.D), (h_skipping, h_full)):
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(x, y), name


def test_loss_g_carries_the_weighted_contrastive_term(pair_host):
    real = torch.randint(0, 256, (32, 1, 8, 8), dtype=torch.uint8)
    obj = objective(pair_host, config(weight=2.5))
    obj.schedule(0)
    _, loss_g, _, stats, [(_, loss_h)] = obj.losses(real, torch.Generator().manual_seed(3))
    names = obj.stat_names
    assert stats.shape == (len(names),)
    assert float(stats[names.index("loss_contrastive")]) == pytest.approx(float(loss_h.detach()))
    assert 0.0 <= float(stats[names.index("contrastive_accuracy")]) <= 1.0
    gan = float(stats[names.index("loss_g")])  # the logged loss_g is the GAN part alone
    assert float(loss_g.detach()) == pytest.approx(gan + 2.5 * float(loss_h.detach()), rel=1e-5)


def test_training_teaches_the_classifier_which_code_is_shared(pair_host, tmp_path):
    cfg = apply_dict(
        config(codes="cat4,unif1"), {"train": {"steps": 800, "log_every": 50, "checkpoint_every": 800}}, "t"
    )
    Trainer(cfg, tmp_path / "r", host=pair_host, progress=False).run()
    logs = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    # two codes: chance is 0.5 and the untrained classifier's cross-entropy is about log 2
    assert logs[0]["loss_contrastive"] == pytest.approx(0.69, abs=0.1)
    assert logs[-1]["contrastive_accuracy"] > 0.75
    assert logs[-1]["loss_contrastive"] < 0.5


def test_checkpoint_holds_the_classifier_and_resume_is_bitwise_exact(pair_host, tmp_path):
    n = 4
    cfg = lambda steps: apply_dict(config(), {"train": {"steps": steps, "checkpoint_every": n}}, "t")  # noqa: E731
    Trainer(cfg(2 * n), tmp_path / "a", host=pair_host, progress=False).run()
    Trainer(cfg(n), tmp_path / "b", host=pair_host, progress=False).run()
    resumed = Trainer(cfg(2 * n), tmp_path / "b", host=pair_host, resume=True, progress=False)
    assert resumed.step == n
    resumed.run()
    a = load_tensors(model_path(tmp_path / "a", 2 * n))
    b = load_tensors(model_path(tmp_path / "b", 2 * n))
    assert any(k.startswith("contrastive.") for k in a)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # a trained model loads without the classifier, which only training needs
    model = TrainedModel.load(tmp_path / "a", host=pair_host)
    assert model.step == 2 * n and model.sample(3, seed=0)[0].shape == (3, 1, 8, 8)


def test_without_the_regulariser_nothing_changes(host, tmp_path):
    # loss.contrastive.weight = 0 builds no classifier and saves no contrastive tensors
    cfg = apply_dict(config(backbone="tiny", weight=0.0), {}, "t")
    trainer = Trainer(cfg, tmp_path / "r", host=host, progress=False)
    assert trainer.objective.regularisers == {} and set(trainer.objective.optimizers()) == {"d", "g"}
    trainer.run()
    assert not any(k.startswith("contrastive.") for k in load_tensors(model_path(tmp_path / "r", 6)))


def test_a_backbone_without_a_pair_classifier_is_refused(host, tmp_path):
    with pytest.raises(
        ConfigError, match="backbone 'tiny' has no pair classifier, which loss.contrastive needs"
    ) as info:
        Trainer(config(backbone="tiny"), tmp_path / "r", host=host, progress=False)
    assert "\n" not in str(info.value) and not (tmp_path / "r").exists()


def test_one_code_is_refused(pair_host, tmp_path):
    with pytest.raises(ConfigError, match="the run has 1; give at least two codes"):
        Trainer(config(codes="unif1"), tmp_path / "r", host=pair_host, progress=False)


@pytest.mark.parametrize("d_norm", ["batch", "spectral"])
def test_paper_shapes_backbone_builds_a_pair_classifier(host, d_norm):
    asm = resolve(
        apply_dict(
            Config(),
            {
                "model": {
                    "backbone": "shapes",
                    "codes": "cat3,unif4",
                    "options": {"width": 4, "layout": "lean", "d_norm": d_norm},
                }
            },
            "t",
        ),
        host,
    )

    def build(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return asm.backbone.build_pair_classifier(build_request(asm), len(asm.codes))

    h = build(0)
    # the same seed gives the same classifier
    again = build(0)
    assert all(torch.equal(x, y) for x, y in zip(h.state_dict().values(), again.state_dict().values()))
    logits = h(torch.rand(3, 2, 64, 64))
    assert logits.shape == (3, 5)  # one class per code
    first = next(m for m in h.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 2
    assert any(hasattr(m, "parametrizations") for m in h.modules()) == (d_norm == "spectral")
