"""Discrete codes state their categories (LatentCode.categories); a head may size itself otherwise.
A one-logit binary code passes the kit and evaluates; a code whose categories disagree with its
traversal or head is caught by the kit, and evaluation names the code and its plugin."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from infogan_toolkit import hookimpl
from infogan_toolkit.codes import LatentCode, QHead
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.datasets import TensorImageDataset
from infogan_toolkit.engine.trainer import Trainer
from infogan_toolkit.errors import ConfigError, DataError
from infogan_toolkit.evaluate.report import categorical_accuracy, evaluate
from infogan_toolkit.model import TrainedModel
from infogan_toolkit.testing import check_code_kind, check_code_with_head


class Bernoulli(LatentCode):
    """Bern(1/2): two categories, one generator input, scored by a one-logit head."""

    discrete = True
    head_family = "binary"
    default_head = "logit"
    width = 1
    target_size = 1  # the head needs one logit

    @property
    def categories(self) -> int:
        return 2

    def sample(self, n, generator=None, device="cpu") -> Tensor:
        return torch.randint(0, 2, (n,), generator=generator, device=device)

    def encode(self, value: Tensor) -> Tensor:
        return value.float().unsqueeze(1) * 2 - 1

    def target(self, value: Tensor) -> Tensor:
        return value.long()

    def entropy(self) -> float:
        return math.log(2)

    def traversal(self, steps, low=-1.0, high=1.0) -> Tensor:
        return torch.arange(2)

    def describe(self) -> str:
        return "Bern(1/2)"


class NoCategories(Bernoulli):
    """The author forgot to state the categories: the default (target_size = 1) is wrong."""

    categories = LatentCode.categories


class LogitHead(QHead):
    family = "binary"

    def param_width(self, target_size: int) -> int:
        return target_size

    def log_prob(self, params: Tensor, target: Tensor) -> Tensor:
        logit = params[:, 0]
        return -F.binary_cross_entropy_with_logits(logit, target.float(), reduction="none")

    def point_estimate(self, params: Tensor) -> Tensor:
        return (params[:, 0] > 0).long()


class BadEstimateHead(LogitHead):
    def point_estimate(self, params: Tensor) -> Tensor:
        return (params[:, 0] > 0).long() + 2  # 2 and 3, not the categories 0 and 1


class BinaryPlugin:
    def __init__(self, head: QHead) -> None:
        self.head = head

    @hookimpl
    def register_code_kinds(self, register):
        register("bern", lambda args: [Bernoulli() for _ in range(int(args or 1))])

    @hookimpl
    def register_heads(self, register):
        register("logit", self.head)


def test_a_one_logit_binary_code_passes_the_kit():
    assert Bernoulli().categories == 2 and Bernoulli().target_size == 1
    check_code_kind(lambda args: [Bernoulli()], "", heads={"logit": LogitHead()})
    check_code_with_head(Bernoulli(), LogitHead())


def test_the_kit_catches_categories_that_disagree_with_the_traversal_or_the_head():
    with pytest.raises(AssertionError, match="a discrete code's categories must be an int >= 2, got 1"):
        check_code_kind(lambda args: [NoCategories()], "", heads={"logit": LogitHead()})
    with pytest.raises(AssertionError, match="a discrete code's categories must be an int >= 2, got 1"):
        check_code_with_head(NoCategories(), LogitHead())
    with pytest.raises(AssertionError, match=r"point_estimate gives values outside range\(2\)"):
        check_code_with_head(Bernoulli(), BadEstimateHead())


def run_and_evaluate(host, tmp_path, head: QHead) -> dict:
    host.register(BinaryPlugin(head), "binary-plugin")
    try:
        cfg = apply_dict(
            Config(),
            {
                "model": {"backbone": "tiny", "codes": "bern1,unif1"},
                "data": {"dataset": "tiny-bars"},
                "train": {
                    "batch_size": 16,
                    "steps": 2,
                    "checkpoint_every": 2,
                    "device": "cpu",
                    "figures": False,
                    "callbacks": [],
                },
            },
            "t",
        )
        Trainer(cfg, tmp_path / "run", host=host, progress=False).run()
        model = TrainedModel.load(tmp_path / "run", host=host)
        return evaluate(model, host, samples=32, metrics=["mi", "accuracy"])
    finally:
        host.unregister("binary-plugin")


def test_evaluation_counts_the_stated_categories(host, tmp_path):
    report = run_and_evaluate(host, tmp_path, LogitHead())
    scores = report["accuracy"]["codes"]["c1"]
    assert scores["num_classes"] == 2 and 0.0 <= scores["accuracy"] <= 1.0


def test_accuracy_on_data_without_labels_is_one_line(host, tmp_path):
    run_and_evaluate(host, tmp_path, LogitHead())
    host.register(BinaryPlugin(LogitHead()), "binary-plugin")
    try:
        model = TrainedModel.load(tmp_path / "run", host=host)
        unlabelled = TensorImageDataset(torch.zeros(4, 1, 16, 16, dtype=torch.uint8))
        with pytest.raises(DataError, match="the test split has no labels, so no categorical accuracy"):
            categorical_accuracy(model, unlabelled, samples=4, seed=0, batch=4)
    finally:
        host.unregister("binary-plugin")


def test_an_evaluation_error_names_the_code_and_its_plugin(host, tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"code c1 \(Bern\(1/2\), kind 'bern' from plugin 'binary-plugin' .*head 'logit'\).*LatentCode.categories",
    ) as info:
        run_and_evaluate(host, tmp_path, BadEstimateHead())
    assert "\n" not in str(info.value)
