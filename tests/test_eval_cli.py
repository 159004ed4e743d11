"""`infogan-tk eval` on real checkpoints made by the train CLI, and report.py on an oracle model.

The checkpoints come from two-step trainings (one on the real MNIST files, one on the procedural
shapes), so their numbers are near chance; the tests check what must hold for any model (bounds,
shapes, sizes, sums, stdout/stderr discipline). The oracle model, whose Q reads the code straight
off the pixels, checks the wiring against known answers: perfect accuracy, L_I = H(c), FactorVAE 1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from infogan_tk_metrics.disentanglement import mig
from infogan_tk_mnist_data import verified_dir
from infogan_toolkit import hookimpl
from infogan_toolkit.assembly import resolve
from infogan_toolkit.backbones import InfoDiscriminator
from infogan_toolkit.cli.app import app
from infogan_toolkit.config import Config, DataConfig, ModelConfig
from infogan_toolkit.datasets import DatasetPlugin, DatasetRequest, ImageDataset
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.evaluate.report import (
    EvalSizes,
    Metric,
    evaluate,
    factor_represent,
    factor_representation,
    point_estimates,
)
from infogan_toolkit.model import TrainedModel

# Tiny test sizes leave many-valued factors with few rows per class; sklearn says so, rightly, every fit.
pytestmark = pytest.mark.filterwarnings("ignore:The number of unique classes is greater than 50%:UserWarning")

MNIST_RAW = verified_dir()  # the MNIST copy the toolkit ships
TRAIN = [
    "--steps",
    "2",
    "--batch-size",
    "8",
    "--quiet",
    "--set",
    "train.checkpoint_every=2",
    "--set",
    "train.figures=false",
]
# Small sizes so the whole file stays fast; every one of them must show up in the JSON.
SHAPES_SIZES = {
    "accuracy_samples": 90,
    "factor_samples": 60,
    "factor_test_samples": 30,
    "dci_trees": 2,
    "dci_train": 40,
    "factorvae_batch": 4,
    "factorvae_train": 10,
    "factorvae_eval": 10,
    "factorvae_variance": 32,
}


def size_args(sizes: dict[str, int]) -> list[str]:
    return [arg for k, v in sizes.items() for arg in ("--size", f"{k}={v}")]


def one_line_error(result) -> str:
    """The CLI's contract for a user mistake: exit code 2, nothing on stdout, the error as stderr's one last line.

    Progress lines printed before the mistake was found may precede it; no traceback may.
    """
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def mnist_run(runner, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("eval") / "mnist-run"
    result = runner.invoke(
        app, ["train", "--backbone", "mnist", "--data-root", str(MNIST_RAW), "--out", str(run), *TRAIN]
    )
    assert result.exit_code == 0, result.stderr
    return run


@pytest.fixture(scope="module")
def shapes_run(runner, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("eval") / "shapes-run"
    result = runner.invoke(app, ["train", "--backbone", "shapes", "--out", str(run), *TRAIN])
    assert result.exit_code == 0, result.stderr
    return run


@pytest.fixture(scope="module")
def mnist_eval(runner, mnist_run):
    args = ["eval", str(mnist_run), "--json", "--samples", "400", "--seed", "3", "--device", "cpu"]
    result = runner.invoke(app, args + size_args({"accuracy_samples": 500, "batch": 128}))
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def shapes_eval(runner, shapes_run):
    args = ["eval", str(shapes_run), "--json", "--samples", "100", "--device", "cpu"]
    result = runner.invoke(app, args + size_args(SHAPES_SIZES))
    assert result.exit_code == 0, result.stderr
    return result


# ------------------------------------------------------------------------------------------ MNIST
def test_json_flag_keeps_stdout_pure_json_and_writes_run_dir_file(mnist_eval, mnist_run):
    report = json.loads(mnist_eval.stdout)  # fails on any stray text
    assert json.loads((mnist_run / "eval.json").read_text()) == report
    # The table and the messages went to stderr.
    assert "L_I" in mnist_eval.stderr and "Hungarian" in mnist_eval.stderr
    assert f"wrote {mnist_run / 'eval.json'}" in " ".join(mnist_eval.stderr.split())
    assert report["checkpoint"].endswith("step-0000002.safetensors") and report["step"] == 2


def test_mnist_information_bound_per_code(mnist_eval):
    report = json.loads(mnist_eval.stdout)
    mi = report["mi"]
    assert mi["samples"] == 400 and mi["seed"] == 3 and report["seed"] == 3
    assert set(mi["codes"]) == {"c1", "c2", "c3"}
    c1 = mi["codes"]["c1"]
    assert c1["discrete"] and c1["prior"] == "Cat(10)"
    assert c1["entropy"] == pytest.approx(math.log(10))
    # log Q(c|x) <= 0 for a discrete code, so the bound can never pass H(c).
    assert c1["L_I"] <= c1["entropy"] + 1e-9
    assert c1["fraction_of_entropy"] == pytest.approx(c1["L_I"] / c1["entropy"])
    for name in ("c2", "c3"):
        c = mi["codes"][name]
        assert not c["discrete"] and c["entropy"] == pytest.approx(math.log(2)) and c["fraction_of_entropy"] is None
        assert math.isfinite(c["L_I"]) and c["stderr"] > 0


def test_mnist_accuracy_on_test_split_with_confusion_matrix(mnist_eval):
    report = json.loads(mnist_eval.stdout)
    acc = report["accuracy"]
    assert acc["split"] == "test" and acc["samples"] == 500 and acc["of"] == 10000
    assert set(acc["codes"]) == {"c1"}  # only the discrete code is matched to labels
    c1 = acc["codes"]["c1"]
    confusion = np.array(c1["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 500
    assert 0.0 <= c1["accuracy"] <= 1.0
    matched = sum(confusion[label, cat] for cat, label in enumerate(c1["mapping"]) if label is not None)
    assert c1["accuracy"] == pytest.approx(matched / 500)
    # Hungarian matching never does worse than the largest class alone.
    assert c1["accuracy"] >= confusion.sum(axis=1).max() / 500 - 1e-12


def test_mnist_skips_factor_metrics_with_a_note_and_records_sizes(mnist_eval):
    report = json.loads(mnist_eval.stdout)
    assert report["dataset"]["name"] == "mnist" and report["dataset"]["labels"] is True
    assert set(report["skipped"]) == {"mig", "sap", "dci", "factorvae"}
    assert all("no ground-truth factors" in note for note in report["skipped"].values())
    for key in ("mig", "sap", "dci", "factorvae"):
        assert key not in report
    assert report["sizes"]["accuracy_samples"] == 500 and report["sizes"]["batch"] == 128
    assert report["sizes"]["mi_samples"] == 400
    assert report["metrics_requested"] == "the defaults that apply"
    assert set(report["seconds"]) >= {"mi", "accuracy"} and all(v >= 0 for v in report["seconds"].values())


def test_explicit_metric_the_dataset_cannot_serve_is_one_line_error(runner, mnist_run, tmp_path):
    out = ["--out", str(tmp_path / "e.json")]  # beside the run's eval.json, which holds other metrics
    line = one_line_error(runner.invoke(app, ["eval", str(mnist_run), "--metrics", "mig", "--device", "cpu", *out]))
    assert "'mig'" in line and "no ground-truth factors" in line


def test_data_root_flag_overrides_the_checkpoint(runner, mnist_run, tmp_path):
    missing = tmp_path / "no-such-dir"
    line = one_line_error(
        runner.invoke(
            app,
            [
                "eval",
                str(mnist_run),
                "--metrics",
                "accuracy",
                "--data-root",
                str(missing),
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "e.json"),
            ],
        )
    )
    assert str(missing) in line


def test_split_val_reads_the_validation_split_for_choices(runner, mnist_run, tmp_path):
    out = tmp_path / "val.json"
    done = runner.invoke(
        app,
        [
            "eval",
            str(mnist_run),
            "--metrics",
            "accuracy",
            "--split",
            "val",
            "--device",
            "cpu",
            "--size",
            "accuracy_samples=500",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert done.exit_code == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["dataset"]["split"] == "val" and report["dataset"]["size"] == 10000
    assert report["accuracy"]["split"] == "val" and report["accuracy"]["samples"] == 500
    line = one_line_error(
        runner.invoke(
            app,
            ["eval", str(mnist_run), "--metrics", "accuracy", "--split", "vall", "--device", "cpu", "--out", str(out)],
        )
    )
    assert "no split 'vall'" in line and "val" in line


# ------------------------------------------------------------------------------------------ shapes
def test_shapes_gives_every_disentanglement_metric(shapes_eval, shapes_run):
    report = json.loads(shapes_eval.stdout)
    assert report["skipped"] == {}
    assert report["dataset"]["factor_sizes"] == [3, 6, 40, 32, 32] and report["dataset"]["factor_grid"] is True
    rep = report["representation"]
    assert rep["columns"] == ["c1", "c2", "c3", "c4", "c5"]  # cat3 -> class index, unif4 -> four means
    assert rep["train_rows"] == 60 and rep["test_rows"] == 30
    assert 0.0 <= report["mig"]["mig"] <= 1.0 and report["mig"]["num_bins"] == 20
    assert np.array(report["mig"]["mutual_information"]).shape == (5, 5)
    assert 0.0 <= report["sap"]["sap"] <= 1.0 and report["sap"]["test_rows"] == 30
    dci = report["dci"]
    assert dci["n_estimators"] == 2 and dci["num_train"] == 40
    assert -1e-9 <= dci["disentanglement"] <= 1 + 1e-9 and 0 <= dci["informativeness_test"] <= 1
    assert 0.0 <= report["factorvae"]["factor_vae"] <= 1.0
    for key, value in SHAPES_SIZES.items():
        assert report["sizes"][key] == value
    assert set(report["seconds"]) >= {"mi", "accuracy", "mig", "sap", "dci", "factorvae"}
    # The shape index is the dataset's label: a 3-way confusion matrix over the images used.
    confusion = np.array(report["accuracy"]["codes"]["c1"]["confusion"])
    assert confusion.shape == (3, 3) and confusion.sum() == 90


def test_table_on_stdout_without_json_and_file_beside_checkpoint(runner, shapes_run):
    file = shapes_run / "checkpoints" / "step-0000002.safetensors"
    result = runner.invoke(app, ["eval", str(file), "--metrics", "mi", "--samples", "50", "--device", "cpu"])
    assert result.exit_code == 0, result.stderr
    assert "L_I" in result.stdout and "Cat(3)" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)
    written = file.with_name("step-0000002.eval.json")
    report = json.loads(written.read_text())
    assert report["metrics_requested"] == ["mi"] and report["mi"]["samples"] == 50
    assert report["dataset"] is None and report["skipped"] == {}  # L_I needs no dataset
    assert "wrote" in result.stderr


def test_same_seed_same_numbers(runner, shapes_run, tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"e{i}.json"
        args = [
            "eval",
            str(shapes_run),
            "--metrics",
            "mi,accuracy",
            "--samples",
            "64",
            "--seed",
            "5",
            "--out",
            str(out),
        ]
        result = runner.invoke(app, args + ["--size", "accuracy_samples=40", "--device", "cpu"])
        assert result.exit_code == 0, result.stderr
        outs.append(json.loads(out.read_text()))
    assert outs[0]["mi"] == outs[1]["mi"] and outs[0]["accuracy"] == outs[1]["accuracy"]


# ------------------------------------------------------------------------------------------ errors
def test_bad_metric_name_suggests(runner, shapes_run):
    line = one_line_error(runner.invoke(app, ["eval", str(shapes_run), "--metrics", "mi,acuracy"]))
    assert "unknown metric 'acuracy'" in line and "Did you mean 'accuracy'?" in line


def test_bad_size_key_suggests(runner, shapes_run):
    line = one_line_error(runner.invoke(app, ["eval", str(shapes_run), "--size", "dci_tres=3"]))
    assert "Did you mean 'dci_trees'?" in line
    line = one_line_error(runner.invoke(app, ["eval", str(shapes_run), "--size", "factorvae_batch=1"]))
    assert "factorvae_batch" in line and "[2, " in line


def test_negative_seed_is_one_line(runner, shapes_run):
    line = one_line_error(
        runner.invoke(app, ["eval", str(shapes_run), "--metrics", "mi", "--seed", "-1", "--device", "cpu"])
    )
    assert "--seed" in line


def test_missing_checkpoint_is_one_line(runner, tmp_path):
    line = one_line_error(runner.invoke(app, ["eval", str(tmp_path / "nope.safetensors")]))
    assert "nope.safetensors" in line and "does not exist" in line


# ---------------------------------------------------------------------- report.py, without the CLI
def test_point_estimates_are_class_index_and_mean(host):
    codes = resolve(Config(model=ModelConfig(backbone="tiny", codes="cat3,unif2")), host).codes
    # Q outputs: 3 logits, then (mean, log_std) for each of the two scalar codes.
    q = torch.tensor(
        [
            [0.1, 2.0, -1.0, 0.25, -3.0, -0.5, 0.0],
            [5.0, 0.0, 0.0, -0.75, 1.0, 0.9, -2.0],
        ]
    )
    rep, columns = point_estimates(codes, q)
    assert columns == ["c1", "c2", "c3"]
    np.testing.assert_allclose(rep, [[1, 0.25, -0.5], [0, -0.75, 0.9]])


# The oracle world: 1x8x8 images whose pixel (0,0) holds a class and pixel (0,1) a level.
SIZES = (3, 5)
CLASS_STEP, LEVEL_STEP = 50, 40  # uint8 units per class, per level


class OracleGrid(ImageDataset):
    """Every combination of two factors once; the class factor is also the label."""

    factor_names = ("class", "level")
    factor_sizes = SIZES
    factor_grid = True
    image_shape = (1, 8, 8)

    def __init__(self) -> None:
        grid = torch.cartesian_prod(torch.arange(SIZES[0]), torch.arange(SIZES[1]))
        self.factors = grid
        self.labels = grid[:, 0].clone()
        self.data = torch.zeros(len(grid), 1, 8, 8, dtype=torch.uint8)
        self.data[:, 0, 0, 0] = (grid[:, 0] * CLASS_STEP).to(torch.uint8)
        self.data[:, 0, 0, 1] = (grid[:, 1] * LEVEL_STEP).to(torch.uint8)

    def __len__(self) -> int:
        return self.data.shape[0]

    def images(self, index):
        return self.data[index.cpu()].to(index.device)

    def factor_index(self, factors):
        return factors[:, 0] * SIZES[1] + factors[:, 1]


class OracleGridPlugin:
    @hookimpl
    def register_datasets(self, register):
        class Loader(DatasetPlugin):
            needs_root = False

            def load(self, request: DatasetRequest) -> ImageDataset:
                return OracleGrid()

        register("oracle-grid", Loader())


class OracleGenerator(nn.Module):
    """Writes the categorical code's class and the scalar code into the two pixels, as the dataset does."""

    def __init__(self, noise_dim: int) -> None:
        super().__init__()
        self.noise_dim = noise_dim

    def forward(self, x):
        onehot, value = x[:, self.noise_dim : self.noise_dim + 3], x[:, self.noise_dim + 3]
        img = torch.zeros(x.shape[0], 1, 8, 8)
        img[:, 0, 0, 0] = onehot.argmax(1).float() * CLASS_STEP / 255
        img[:, 0, 0, 1] = (value + 1) / 2 * (SIZES[1] - 1) * LEVEL_STEP / 255
        return img


class OracleQ(nn.Module):
    """Reads both pixels back: confident logits for the class, mean in [-1, 1] with the smallest std."""

    def forward(self, feats):
        cls = torch.round(feats[:, 0] * 255 / CLASS_STEP).long()
        logits = 20.0 * nn.functional.one_hot(cls, 3).float()
        mean = feats[:, 1] * 255 / LEVEL_STEP / (SIZES[1] - 1) * 2 - 1
        return torch.cat([logits, mean[:, None], torch.full_like(mean[:, None], -5.0)], dim=1)


@pytest.fixture
def oracle(host):
    host.register(OracleGridPlugin(), "oracle-grid-plugin")
    try:
        assembly = resolve(
            Config(model=ModelConfig(backbone="tiny", codes="cat3,unif1"), data=DataConfig(dataset="oracle-grid")), host
        )
        disc = InfoDiscriminator(nn.Flatten(), nn.Linear(64, 1), OracleQ())
        model = TrainedModel(
            assembly, OracleGenerator(assembly.config.model.noise_dim), disc.eval(), {"step": "7"}, torch.device("cpu")
        )
        yield model, host
    finally:
        host.unregister("oracle-grid-plugin")


def test_oracle_model_gets_the_known_answers(oracle):
    model, host = oracle
    sizes = EvalSizes(
        factor_samples=150,
        factor_test_samples=60,
        dci_trees=5,
        factorvae_batch=12,
        factorvae_train=40,
        factorvae_eval=40,
        factorvae_variance=100,
        batch=32,
    )
    report = evaluate(model, host, samples=300, seed=1, sizes=sizes)
    json.dumps(report)  # JSON-ready, without a default= hook
    assert report["step"] == 7 and report["skipped"] == {}
    c1, c2 = report["mi"]["codes"]["c1"], report["mi"]["codes"]["c2"]
    assert c1["L_I"] == pytest.approx(math.log(3), abs=1e-6)  # Q recovers the class: the bound is tight
    assert c2["L_I"] > c2["entropy"] + 3  # a sharp Gaussian around the true value
    acc = report["accuracy"]["codes"]["c1"]
    assert acc["accuracy"] == 1.0 and acc["mapping"] == [0, 1, 2] and report["accuracy"]["samples"] == 15
    assert report["representation"]["with_replacement"] is True  # 210 rows from 15 images
    assert report["mig"]["mig"] > 0.8
    assert report["factorvae"]["factor_vae"] == 1.0 and report["factorvae"]["dim_to_factor"] == [0, 1]
    assert report["dci"]["disentanglement"] > 0.8


def test_factor_represent_follows_the_factor_rows(oracle):
    model, host = oracle
    represent = factor_represent(model, OracleGrid(), batch=4)
    factors = np.array([[2, 0], [0, 4], [1, 2], [2, 3], [0, 0]])
    np.testing.assert_allclose(represent(factors), np.c_[factors[:, 0], factors[:, 1] / 2 - 1], atol=1e-6)


def test_explicit_metrics_refused_when_not_applicable(oracle, monkeypatch):
    model, host = oracle
    monkeypatch.setattr(OracleGrid, "factor_grid", False)
    with pytest.raises(ConfigError, match="'factorvae' cannot run.*factor grid"):
        evaluate(model, host, samples=10, metrics={"factorvae"})
    report = evaluate(
        model, host, samples=10, metrics=None, sizes=EvalSizes(factor_samples=30, factor_test_samples=15, dci_trees=2)
    )
    assert "factor grid" in report["skipped"]["factorvae"] and "mig" in report


# -- metrics are plugins ------------------------------------------------------------------------------
class _SpreadMetric(Metric):
    order = 60
    description = "spread of Q's estimates"

    def not_applicable(self, ctx):
        return None if ctx.data.factors is not None else f"dataset '{ctx.dataset_name}' has no factors"

    def run(self, ctx):
        codes, columns, _factors, train, _test = factor_representation(ctx)
        return {"std": dict(zip(columns, np.std(codes[train], axis=0).tolist()))}


class _GeneratorOnly(Metric):
    order = 5
    needs_dataset = False

    def not_applicable(self, ctx):
        return "never today"

    def run(self, ctx):
        raise AssertionError("must not run")


class _MetricPlugin:
    @hookimpl
    def register_metrics(self, register):
        register("spread", _SpreadMetric())
        register("never", _GeneratorOnly())


def test_a_third_party_metric_runs_with_the_built_ins_and_shares_their_representation(oracle):
    model, host = oracle
    host.register(_MetricPlugin(), "metric-plugin")
    try:
        sizes = EvalSizes(
            factor_samples=40,
            factor_test_samples=20,
            dci_trees=2,
            factorvae_train=10,
            factorvae_eval=10,
            factorvae_variance=50,
            batch=16,
        )
        report = evaluate(model, host, samples=50, seed=3, sizes=sizes)
        assert [
            k for k in report if k in ("mi", "accuracy", "representation", "mig", "sap", "dci", "factorvae", "spread")
        ] == ["mi", "accuracy", "representation", "mig", "sap", "dci", "factorvae", "spread"]
        assert report["skipped"] == {"never": "never today"}
        assert set(report["spread"]["std"]) == {"c1", "c2"} and report["spread"]["std"]["c1"] > 0
        assert "representation" in report["seconds"] and "spread" in report["seconds"]
        alone = evaluate(model, host, samples=50, seed=3, sizes=sizes, metrics=["spread", "mig"])
        assert alone["spread"] == report["spread"] and alone["mig"] == report["mig"]  # choosing others changes nothing
        with pytest.raises(ConfigError, match="metric 'never' cannot run: never today"):
            evaluate(model, host, samples=50, metrics=["never"])
        with pytest.raises(ConfigError, match=r"unknown metric 'sprad'. Did you mean 'spread'\?"):
            evaluate(model, host, samples=50, metrics=["sprad"])
    finally:
        host.unregister("metric-plugin")


def test_the_built_in_mig_is_the_function_on_the_shared_representation(oracle):
    model, host = oracle
    sizes = EvalSizes(factor_samples=60, factor_test_samples=20, batch=16)
    report = evaluate(model, host, samples=20, seed=2, sizes=sizes, metrics=["mig"])
    data = OracleGrid()
    assert len(data) < 80  # so the 80 rows are drawn with replacement, from the factor-metrics stream (2)
    rows = np.random.default_rng((2, 2)).integers(0, len(data), size=80)
    rep, _ = point_estimates(model.codes, model.infer(data.images(torch.as_tensor(rows)), 16))
    factors = data.factors[torch.as_tensor(rows)].numpy()
    assert {k: v for k, v in report["mig"].items() if k not in ("num_bins", "rows")} == mig(
        rep[:60], factors[:60], num_bins=20
    )
