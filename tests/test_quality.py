"""FID and KID: known answers of the distances, the MNIST classifier extractor on real digits, the
offline Inception path, and `infogan-tk eval --metrics fid,kid` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch.nn import functional as F
from typer.testing import CliRunner

from infogan_tk_quality.classifier import ClassifierExtractor
from infogan_tk_quality.inception import WEIGHTS_FILE, WEIGHTS_URL, InceptionExtractor
from infogan_tk_quality.metrics import frechet_distance, kernel_distance
from infogan_toolkit.cli.app import app
from infogan_toolkit.datasets import TensorImageDataset
from infogan_toolkit.extractors import ExtractorRequest

runner = CliRunner()


def _gaussian(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_fid_of_a_set_against_itself_is_zero_and_a_shift_adds_its_squared_length():
    x = _gaussian(400, 6, 0) @ _gaussian(6, 6, 1)  # correlated features
    assert abs(frechet_distance(x, x)) < 1e-6
    shift = torch.tensor([0.5, -1.0, 0.0, 2.0, 0.0, 0.25], dtype=torch.float64)
    assert frechet_distance(x, x + shift) == pytest.approx(float(shift @ shift), rel=1e-6)
    # Doubling: |mu|^2 from the means, trace(S + 4S - 2 sqrt(4 S^2)) = trace(S) from the covariances.
    mu, sigma = x.mean(0), torch.cov(x.T)
    assert frechet_distance(x, 2 * x) == pytest.approx(float(mu @ mu + torch.trace(sigma)), rel=1e-5)


def test_kid_is_unbiased_on_small_sets_and_positive_for_different_ones():
    same, shifted = [], []
    for seed in range(200):
        a, b = _gaussian(12, 4, 2 * seed), _gaussian(12, 4, 2 * seed + 1)
        same.append(kernel_distance(a, b, subsets=1, subset_size=12, seed=seed)[0])
        shifted.append(kernel_distance(a, b + 1.0, subsets=1, subset_size=12, seed=seed)[0])
    same_t, shifted_t = torch.tensor(same), torch.tensor(shifted)
    sem = same_t.std() / len(same) ** 0.5
    assert abs(float(same_t.mean())) < 3 * float(sem)  # a biased (V-statistic) estimate sits well above 0
    assert (same_t < 0).any()  # unbiased: single estimates fall on both sides of 0
    assert float(shifted_t.mean()) > 10 * float(same_t.std())


def test_kid_is_seeded():
    a, b = _gaussian(300, 5, 3), _gaussian(300, 5, 4)
    assert kernel_distance(a, b, 20, 50, seed=7) == kernel_distance(a, b, 20, 50, seed=7)
    assert kernel_distance(a, b, 20, 50, seed=7) != kernel_distance(a, b, 20, 50, seed=8)


def _request(dataset: TensorImageDataset, cache: Path, name: str = "mnist", say=lambda _line: None) -> ExtractorRequest:
    return ExtractorRequest(
        image_shape=dataset.image_shape,
        device=torch.device("cpu"),
        cache=cache,
        dataset_name=name,
        train_split=lambda: dataset,
        say=say,
    )


@pytest.mark.slow
def test_the_mnist_classifier_tells_real_digits_from_blurred_and_shifted_ones(mnist_root, tmp_path):
    from infogan_tk_datasets.mnist import read_idx  # the built-in reader of the real files

    images = torch.from_numpy(read_idx(mnist_root / "train-images-idx3-ubyte.gz")[:12000].copy()).unsqueeze(1)
    labels = torch.from_numpy(read_idx(mnist_root / "train-labels-idx1-ubyte.gz")[:12000].copy()).long()
    train = TensorImageDataset(images[:10000], labels[:10000])
    lines = []
    extractor = ClassifierExtractor("mnist", epochs=1, holdout=1000)
    net = extractor.build(_request(train, tmp_path, say=lines.append))
    assert any("training the mnist classifier" in line for line in lines)
    identity = extractor.identity(_request(train, tmp_path))
    assert identity["holdout_accuracy"] > 0.9 and len(identity["sha256"]) == 64

    held = images[10000:].float() / 255  # digits the classifier never saw
    with torch.no_grad():
        feats = lambda x: net(x).double()  # noqa: E731
        half_a, half_b = feats(held[:1000]), feats(held[1000:])
        blurred = feats(F.avg_pool2d(held[1000:], 3, stride=1, padding=1))
        moved = feats(torch.roll(held[1000:], shifts=(4, 4), dims=(2, 3)))
    same = frechet_distance(half_a, half_b)
    assert frechet_distance(half_a, half_a) < 1e-6 * max(same, 1.0)
    assert frechet_distance(half_a, blurred) > 3 * same
    assert frechet_distance(half_a, moved) > 3 * same

    # The kept file is reused, not retrained, and is plain safetensors.
    lines.clear()
    again = ClassifierExtractor("mnist", epochs=1, holdout=1000).build(_request(train, tmp_path, say=lines.append))
    assert not lines
    assert torch.equal(again(held[:8]), net(held[:8]))
    with safe_open(str(extractor.weights_path(_request(train, tmp_path))), framework="pt") as fh:
        assert json.loads(fh.metadata()["trained_on"])["images"] == 9000


def test_the_classifier_refuses_other_datasets_and_unlabelled_data(tmp_path):
    data = TensorImageDataset(torch.zeros(20, 1, 28, 28, dtype=torch.uint8))
    extractor = ClassifierExtractor("mnist")
    assert "made for dataset 'mnist'" in extractor.not_applicable(_request(data, tmp_path, name="glyphs"))
    with pytest.raises(Exception, match="has no labels"):
        extractor.build(_request(data, tmp_path))


def test_inception_without_its_weights_names_the_file_and_where_it_comes_from(tmp_path, monkeypatch):
    monkeypatch.setenv("INFOGAN_TK_CACHE", str(tmp_path / "cache"))
    data = TensorImageDataset(torch.zeros(4, 1, 28, 28, dtype=torch.uint8))
    reason = InceptionExtractor().not_applicable(_request(data, tmp_path))
    assert str(tmp_path / "cache" / "extractors" / WEIGHTS_FILE) in reason and WEIGHTS_URL in reason
    with pytest.raises(Exception, match="cannot run: its weights are not at .*convert .* to safetensors once"):
        InceptionExtractor().build(_request(data, tmp_path))


def test_inception_weights_of_another_network_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("INFOGAN_TK_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "cache" / "extractors" / WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    save_file({"conv.weight": torch.zeros(2, 2)}, str(path))
    data = TensorImageDataset(torch.zeros(4, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(Exception, match="does not hold the Inception weights"):
        InceptionExtractor().build(_request(data, tmp_path))
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(Exception, match="does not hold the Inception weights"):
        InceptionExtractor().build(_request(data, tmp_path))


SMALL = ["--option", "images=48", "--option", "kid_subsets=5", "--option", "kid_subset_size=16", "--samples", "32"]


def test_eval_gives_fid_and_kid_with_the_mnist_extractor_and_records_how(bars_mnist_run, tmp_path):
    run, _root = bars_mnist_run
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["eval", str(run), "--metrics", "fid,kid", *SMALL, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    report = json.loads(out.read_text())
    fid, kid = report["fid"], report["kid"]
    assert fid["value"] > 0 and fid["extractor"]["name"] == "mnist-classifier"
    assert fid["real"] == {"split": "test", "images": 48, "of": 64, "seed": 0} and fid["generated"] == {
        "images": 48,
        "seed": 0,
    }
    assert Path(fid["extractor"]["weights"]).is_file() and fid["extractor"]["trained_on"]["dataset"] == "mnist"
    assert kid["subsets"] == 5 and kid["subset_size"] == 16 and kid["std"] >= 0
    assert kid["extractor"] == fid["extractor"]
    assert report["options"] == {"images": "48", "kid_subsets": "5", "kid_subset_size": "16"}
    assert "fid" in result.stdout and "mnist-classifier" in result.stdout  # the table has their rows
    again = runner.invoke(
        app, ["eval", str(run), "--metrics", "fid", *SMALL[:2], "--out", str(tmp_path / "again.json")]
    )
    assert again.exit_code == 0, again.stderr
    assert "training the mnist classifier" not in again.stderr
    assert json.loads((tmp_path / "again.json").read_text())["fid"]["value"] == fid["value"]  # seeded, same file


def test_fid_runs_only_on_request(bars_mnist_run, tmp_path):
    run, _root = bars_mnist_run
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["eval", str(run), "--metrics", "mi", "--samples", "32", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "fid" not in json.loads(out.read_text())
    listing = runner.invoke(app, ["list", "metrics"])
    assert "on request only" in listing.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--metrics", "fid", "--option", "extractr=inception"],
            "no chosen metric takes --option extractr. Did you mean 'extractor'",
        ),
        (
            ["--metrics", "mi", "--option", "extractor=inception"],
            "--option extractor belongs to fid, kid, which --metrics does not choose; add it, e.g. --metrics mi,fid",
        ),
        (
            ["--metrics", "fid", "--option", "extractor=inceptoin"],
            "unknown feature extractor 'inceptoin'. Did you mean 'inception'",
        ),
        (
            ["--metrics", "fid", "--option", "extractor=inception"],
            "feature extractor 'inception' cannot run: its weights are not at",
        ),
        (["--metrics", "fid", "--option", "images=ten"], "--option images='ten' must be a whole number >= 2"),
        (["--metrics", "fid", "--option", "images"], "--option 'images' is not KEY=VALUE"),
    ],
)
def test_bad_options_are_one_line_errors(bars_mnist_run, tmp_path, monkeypatch, args, message):
    run, _root = bars_mnist_run
    result = runner.invoke(app, ["eval", str(run), *args, "--out", str(tmp_path / "e.json")])
    assert result.exit_code == 2, result.stdout
    lines = result.stderr.strip().splitlines()  # progress lines may come first
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [lines[-1]] and message in errors[0] and "Traceback" not in result.stderr, result.stderr


def test_the_kit_passes_a_classifier_extractor_and_skips_one_made_for_other_data():
    from infogan_toolkit.testing import KIT_DATASET, NotApplicable, check_feature_extractor

    module = check_feature_extractor(ClassifierExtractor(KIT_DATASET, epochs=1, holdout=2))
    assert module.num_features == 128
    with pytest.raises(NotApplicable, match="made for dataset 'mnist'"):
        check_feature_extractor(ClassifierExtractor("mnist"))


def test_the_kit_catches_features_that_depend_on_the_batch():
    from infogan_toolkit.extractors import FeatureExtractor
    from infogan_toolkit.testing import check_feature_extractor

    class BatchNormed(torch.nn.Module):
        num_features = 64

        def __init__(self):
            super().__init__()
            self.norm = torch.nn.BatchNorm1d(64)

        def forward(self, x):
            return self.norm(x.flatten(1))

    class TrainMode(FeatureExtractor):
        description = "batch statistics by mistake"

        def build(self, request):
            return BatchNormed().train()  # the mistake: not eval mode

    with pytest.raises(AssertionError, match="depend on the rest of its batch"):
        check_feature_extractor(TrainMode())


def test_check_lists_the_built_in_extractors(monkeypatch):
    result = runner.invoke(app, ["check", "infogan-toolkit", "--json"])
    rows = {(r["name"], r["kind"]): r for r in json.loads(result.stdout)}
    assert rows[("mnist-classifier", "feature extractor")]["result"] == "skipped"
    assert rows[("inception", "feature extractor")]["result"] == "skipped"  # no weights file in the test cache
    assert rows[("fid", "metric")]["result"] in ("passed", "skipped")
