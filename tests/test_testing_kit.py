"""The conformance kit: it passes the built-in plugins and catches broken ones with a clear message."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from infogan_toolkit.backbones import Backbone, BuildRequest, InfoDiscriminator, Networks
from infogan_toolkit.codes import LatentCode, QHead
from infogan_toolkit.datasets import DatasetPlugin, DatasetRequest, TensorImageDataset
from infogan_toolkit.plugins import PluginHost
from infogan_toolkit.testing import check_backbone, check_code_kind, check_code_with_head, check_dataset, check_head


@pytest.fixture(scope="module")
def host():
    return PluginHost()


@pytest.fixture(scope="module")
def regs(host):
    return host.registries


# -- built-in codes and heads pass -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "args", "count"), [("cat", "10", 1), ("cat", "2", 1), ("unif", "3", 3), ("gauss", "2", 2)]
)
def test_builtin_code_kinds_conform(regs, kind, args, count):
    codes = check_code_kind(regs.codes.get(kind), args, heads=regs.heads)
    assert len(codes) == count and all(isinstance(c, LatentCode) for c in codes)


def test_heads_default_to_the_installed_plugins(regs):
    assert len(check_code_kind(regs.codes.get("cat"), "4")) == 1


def test_builtin_heads_conform(regs):
    gen = torch.Generator().manual_seed(0)
    check_head(regs.heads.get("softmax"), 10, torch.randint(0, 10, (32,), generator=gen))
    for name in ("gaussian", "gaussian-fixed"):
        check_head(regs.heads.get(name), 3, torch.randn(32, 3, generator=gen))


def test_builtin_codes_with_their_heads(regs):
    check_code_with_head(regs.codes.get("cat")("7")[0], regs.heads.get("softmax"))
    check_code_with_head(regs.codes.get("unif")("1")[0], regs.heads.get("gaussian"))
    check_code_with_head(regs.codes.get("gauss")("1")[0], regs.heads.get("gaussian-fixed"))
    with pytest.raises(AssertionError, match=r"models 'real' codes but the code needs a 'categorical' head"):
        check_code_with_head(regs.codes.get("cat")("3")[0], regs.heads.get("gaussian"))


# -- broken codes and heads are caught ---------------------------------------------------------


class _Code(LatentCode):
    """A correct 3-way code whose methods the tests break one at a time."""

    discrete = True
    head_family = "categorical"
    default_head = "softmax"
    width = 3
    target_size = 3

    def sample(self, n, generator=None, device="cpu"):
        return torch.randint(0, 3, (n,), generator=generator, device=device)

    def encode(self, value):
        return nn.functional.one_hot(value.long(), 3).float()

    def target(self, value):
        return value.long()

    def entropy(self):
        return 1.0986

    def traversal(self, steps, low=-1.0, high=1.0):
        return torch.arange(3)

    def describe(self):
        return "Test(3)"


class _WrongWidth(_Code):
    def encode(self, value):
        return nn.functional.one_hot(value.long(), 4).float()


class _Unseeded(_Code):
    def sample(self, n, generator=None, device="cpu"):
        return torch.randint(0, 3, (n,), device=device)  # ignores the generator


class _NanEntropy(_Code):
    def entropy(self):
        return float("nan")


class _ShortTraversal(_Code):
    def traversal(self, steps, low=-1.0, high=1.0):
        return torch.arange(2)


class _WrongHead(_Code):
    default_head = "no-such-head"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (_Code(), None),
        (_WrongWidth(), r"encode gives shape \(16, 4\); expected \(n, width\) = \(16, 3\)"),
        (_Unseeded(), r"sample is not reproducible"),
        (_NanEntropy(), r"entropy\(\) must be a finite float"),
        (_ShortTraversal(), r"the traversal lists 2 values \(2 distinct\) but categories is 3; they must agree"),
        (_WrongHead(), r"default_head 'no-such-head' is not available; pass heads="),
    ],
    ids=["ok", "width", "seed", "entropy", "traversal", "head"],
)
def test_code_kind_faults_are_named(regs, code, message):
    def factory(args):
        return [code]

    if message is None:
        assert check_code_kind(factory, "", heads=regs.heads) == [code]
        return
    with pytest.raises(AssertionError, match=message) as err:
        check_code_kind(factory, "", heads=regs.heads)
    assert "Test(3)" in str(err.value) or "head" in message  # the message says which code


def test_factory_must_return_codes():
    with pytest.raises(AssertionError, match="returned no codes"):
        check_code_kind(lambda args: [], "1", heads={})
    with pytest.raises(AssertionError, match="must return a list of LatentCode"):
        check_code_kind(lambda args: _Code(), "1", heads={})


class _Softmax(QHead):
    family = "categorical"

    def param_width(self, target_size):
        return target_size

    def log_prob(self, params, target):
        return torch.log_softmax(params, 1).gather(1, target.long().reshape(-1, 1)).squeeze(1)

    def point_estimate(self, params):
        return params.argmax(1)


class _Unnormalised(_Softmax):
    def log_prob(self, params, target):
        return super().log_prob(params, target) - 0.5


class _Detached(_Softmax):
    def log_prob(self, params, target):
        return super().log_prob(params.detach(), target)


class _Column(_Softmax):
    def log_prob(self, params, target):
        return super().log_prob(params, target).reshape(-1, 1)


class _BatchMixing(_Softmax):
    def log_prob(self, params, target):
        return super().log_prob(params - params.mean(0), target)


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (_Softmax(), None),
        (_Unnormalised(), r"summed over the 3 categories is .*, not 1"),
        (_Detached(), r"log_prob does not depend on the parameters"),
        (_Column(), r"log_prob gives shape \(64, 1\); expected \(n,\)"),
        (_BatchMixing(), r"changed other rows' log_prob"),
    ],
    ids=["ok", "unnormalised", "detached", "shape", "batch-mixing"],
)
def test_head_faults_are_named(head, message):
    if message is None:
        check_code_with_head(_Code(), head)
        return
    with pytest.raises(AssertionError, match=message):
        check_code_with_head(_Code(), head)


def test_check_head_rejects_a_bad_param_width():
    class NoWidth(_Softmax):
        def param_width(self, target_size):
            return 0

    with pytest.raises(AssertionError, match=r"param_width\(3\) must be a positive int"):
        check_head(NoWidth(), 3, torch.tensor([0, 1, 2]))


# -- backbones ---------------------------------------------------------------------------------


class _TinyBackbone(Backbone):
    """8x8 gray networks, enough to exercise every check in milliseconds."""

    image_shape = (1, 8, 8)
    output_range = "symmetric"
    default_noise_dim = 6
    default_codes = "cat3,unif1"

    def last(self) -> nn.Module:
        return nn.Tanh()

    def build(self, request: BuildRequest) -> Networks:
        g = nn.Sequential(nn.Linear(request.input_dim, 64), nn.BatchNorm1d(64), self.last(), nn.Unflatten(1, (1, 8, 8)))
        trunk = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.LeakyReLU(0.1))
        return Networks(g, InfoDiscriminator(trunk, nn.Linear(16, 1), nn.Linear(16, request.q_width)))


class _Unbounded(_TinyBackbone):
    def last(self):
        return nn.Identity()


class _WrongRange(_TinyBackbone):
    output_range = "unit"


class _DetachInput(nn.Module):
    """``inner`` applied to a detached input: nothing reaches whatever made the input."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.detach())


class _DetachedTrunk(_TinyBackbone):
    def build(self, request):
        nets = super().build(request)  # G never learns from D or Q
        d = nets.discriminator
        return Networks(nets.generator, InfoDiscriminator(_DetachInput(d.trunk), d.d_head, d.q_head))


class _UnusedParam(_TinyBackbone):
    def build(self, request):
        nets = super().build(request)
        nets.discriminator.q_head.spare = nn.Linear(2, 2)
        return nets


class _ShortQ(_TinyBackbone):
    def build(self, request):
        return super().build(BuildRequest(request.noise_dim, request.code_width, request.q_width - 1))


class _WithPairs(_TinyBackbone):
    def build_pair_classifier(self, request, classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(128, classes))


class _PairsWrongWidth(_TinyBackbone):
    def build_pair_classifier(self, request, classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(128, classes + 1))


class _ViewFlatten(nn.Module):
    def forward(self, x):
        return x.view(x.shape[0], -1)  # fails on a channels_last tensor with more than one channel


class _ViewsFeatures(_TinyBackbone):
    def build(self, request):
        nets = super().build(request)
        trunk = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), _ViewFlatten(), nn.Linear(256, 16), nn.LeakyReLU(0.1))
        return Networks(nets.generator, InfoDiscriminator(trunk, nets.discriminator.d_head, nets.discriminator.q_head))


class _PairsDetached(_TinyBackbone):
    def build_pair_classifier(self, request, classes):  # G could not learn from the regulariser
        return _DetachInput(nn.Sequential(nn.Flatten(), nn.Linear(128, classes)))


@pytest.mark.parametrize(
    ("backbone", "message"),
    [
        (_TinyBackbone(), None),
        (_WithPairs(), None),
        (_PairsWrongWidth(), r"pair classifier output has shape \(4, 4\) for 3 codes; expected \(4, 3\)"),
        (_PairsDetached(), r"no gradient from the pair classifier's logits reaches G parameter"),
        (_Unbounded(), r"outside output_range 'symmetric' \[-1.0, 1.0\]"),
        (_WrongRange(), r"outside output_range 'unit' \[0.0, 1.0\]"),
        (_DetachedTrunk(), r"no gradient from the D logit reaches G parameter"),
        (_UnusedParam(), r"no gradient from the Q output reaches q_head parameter 'spare.weight'"),
        (_ShortQ(), r"Q output has shape \(4, 11\); expected \(4, 12\)"),
        (_ViewsFeatures(), r"fails in the channels_last layout, the default on a CPU .*use .reshape or .flatten"),
    ],
    ids=[
        "ok",
        "ok-with-pairs",
        "pairs-width",
        "pairs-detached",
        "unbounded",
        "range",
        "detached",
        "unused",
        "q-width",
        "view",
    ],
)
def test_backbone_faults_are_named(backbone, message):
    if message is None:
        nets = check_backbone(backbone, code_width=4, q_width=5)
        assert isinstance(nets, Networks)
        return
    with pytest.raises(AssertionError, match=message):
        check_backbone(backbone)


def _registered(attr: str) -> list[str]:
    """Names registered at collection time, so each gets its own test id."""
    try:
        return getattr(PluginHost().registries, attr).names()
    except Exception:  # a broken plugin must not stop collection; test_plugin_host reports it
        return []


@pytest.mark.parametrize("name", _registered("backbones") or ["<none registered>"])
def test_registered_backbones_conform(regs, name):
    if name not in regs.backbones:
        pytest.skip("no backbone plugin is registered yet")
    backbone = regs.backbones.get(name)
    nets = check_backbone(backbone, code_width=12, q_width=14)
    assert nets.generator is not None


# -- datasets ----------------------------------------------------------------------------------


class _Stripes(DatasetPlugin):
    description = "vertical stripes, generated"
    needs_root = False

    def load(self, request: DatasetRequest) -> TensorImageDataset:
        pos = torch.arange(8)
        images = torch.zeros(8, 1, 8, 8, dtype=torch.uint8)
        images[pos, 0, :, pos] = 255
        return TensorImageDataset(
            images, labels=pos, factors=pos.reshape(-1, 1), factor_names=("x",), factor_sizes=(8,)
        )


class _FloatImages(_Stripes):
    def load(self, request):
        ds = super().load(request)

        class Floats(TensorImageDataset):
            def images(self, index):
                return super().images(index).float() / 255

        return Floats(ds.data, ds.labels)


class _ShortLabels(_Stripes):
    def load(self, request):
        ds = super().load(request)
        return TensorImageDataset(ds.data, labels=ds.labels[:5])


class _BadFactors(_Stripes):
    def load(self, request):
        ds = super().load(request)
        return TensorImageDataset(ds.data, factors=ds.factors, factor_names=("x",), factor_sizes=(4,))


class _WrongDevice(_Stripes):
    def load(self, request):
        ds = super().load(request)

        class Meta(TensorImageDataset):
            def images(self, index):
                return super().images(index).to("meta")

        return Meta(ds.data)


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (_Stripes(), None),
        (_FloatImages(), r"images\(\) must return uint8, got torch.float32"),
        (_ShortLabels(), r"labels have shape \(5,\); expected one per image \(8,\)"),
        (_BadFactors(), r"a factor value lies outside"),
        (_WrongDevice(), r"returned a tensor on meta for an index on cpu"),
    ],
    ids=["ok", "float", "labels", "factors", "device"],
)
def test_dataset_faults_are_named(plugin, message):
    request = DatasetRequest(root=None)
    if message is None:
        assert len(check_dataset(plugin, request)) == 8
        return
    with pytest.raises(AssertionError, match=message):
        check_dataset(plugin, request)


def test_dataset_shape_must_match_the_request():
    with pytest.raises(AssertionError, match=r"image_shape \(1, 8, 8\) differs from the requested \(1, 28, 28\)"):
        check_dataset(_Stripes(), DatasetRequest(root=None, image_shape=(1, 28, 28)))


@pytest.mark.parametrize("name", _registered("datasets") or ["<none registered>"])
def test_registered_generated_datasets_conform(regs, name):
    if name not in regs.datasets:
        pytest.skip("no dataset plugin is registered yet")
    plugin = regs.datasets.get(name)
    if plugin.needs_root:
        pytest.skip(f"dataset '{name}' needs files on disk; its own plugin tests cover it")
    ds = check_dataset(plugin, DatasetRequest(root=None))
    assert len(ds) > 0
