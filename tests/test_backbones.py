"""The built-in backbones against the paper's tables: layers, parameter counts, shapes, ranges, options.

Everything is built through a real PluginHost, i.e. through the ``infogan_toolkit`` entry point of
the ``paper`` plugin, exactly as the engine will build it.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from infogan_toolkit.backbones import BuildRequest, InfoDiscriminator, Networks
from infogan_toolkit.codes import resolve_codes
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.plugins import PluginHost

NAMES = ["mnist", "svhn", "celeba", "faces", "chairs", "shapes", "glyphs"]

# (image_shape, output_range, noise, codes, dataset, paper's G input width; None where not from the paper)
DEFAULTS = {
    "mnist": ((1, 28, 28), "unit", 62, "cat10,unif2", "mnist", 74),
    "svhn": ((3, 32, 32), "symmetric", 124, "cat10x4,unif4", "svhn", 168),
    "celeba": ((3, 32, 32), "symmetric", 128, "cat10x10", "celeba", 228),
    "faces": ((1, 32, 32), "unit", 128, "unif5", "image-folder", 133),
    "chairs": ((1, 64, 64), "unit", 128, "unif1,cat20x3", "image-folder", 189),
    "shapes": ((1, 64, 64), "unit", 5, "cat3,unif4", "shapes", None),
    "glyphs": ((1, 32, 32), "unit", 16, "cat3,unif3", "glyphs", None),
}


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost()


@pytest.fixture(scope="module")
def registry(host):
    return host.registries.backbones


def build(registry, name: str, input_dim: int = 74, q_width: int = 14, **options) -> Networks:
    """Fresh networks for a request of the given widths."""
    torch.manual_seed(0)
    # Split the input width so both parts are exercised (noise may be 0 for a 1-wide input).
    code = min(input_dim, 12)
    return registry.get(name).build(BuildRequest(input_dim - code, code, q_width, options))


_CACHE: dict[tuple, Networks] = {}


def shared(registry, name: str, input_dim: int = 74, q_width: int = 14) -> Networks:
    """Networks built once per module run, for tests that only read them (building chairs is the slow part)."""
    key = (name, input_dim, q_width)
    if key not in _CACHE:
        _CACHE[key] = build(registry, name, input_dim, q_width)
    return _CACHE[key]


# -- a description of modules, independent of how the plugin builds them ----------------------------
def layer(m: nn.Module) -> tuple:
    """A comparable summary of one module: type, sizes, kernel/stride, bias, activation slope."""
    if isinstance(m, nn.ConvTranspose2d):
        return ("upconv", m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.bias is not None)
    if isinstance(m, nn.Conv2d):
        return ("conv", m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.bias is not None)
    if isinstance(m, nn.Linear):
        return ("fc", m.in_features, m.out_features, m.bias is not None)
    if isinstance(m, nn.BatchNorm2d):
        return ("bn2d", m.num_features)
    if isinstance(m, nn.BatchNorm1d):
        return ("bn1d", m.num_features)
    if isinstance(m, nn.LeakyReLU):
        return ("lrelu", m.negative_slope)
    if isinstance(m, nn.Unflatten):
        return ("unflatten", tuple(m.unflattened_size))
    from infogan_tk_paper.layers import Flatten  # nn.Flatten with a layout-keeping gradient

    simple = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Flatten: "flatten", Flatten: "flatten"}
    for cls, tag in simple.items():
        if type(m) is cls:
            return (tag,)
    raise AssertionError(f"unexpected module {m!r}")


def layers(seq: nn.Module) -> list[tuple]:
    if isinstance(seq, nn.Sequential):
        return [layer(m) for m in seq]
    return [layer(seq)]


# Table rows, spelled the way the paper does: "conv4/2 128 lReLU BN" -> C(64, 128, bn=True).
# With BN the layer has no bias (BN cancels it), and BN comes before the activation.
def C(cin, cout, bn, s=2, leak=0.1):
    return [("conv", cin, cout, 4, s, not bn), *([("bn2d", cout)] if bn else []), ("lrelu", leak)]


def U(cin, cout, bn, act="relu", s=2):
    return [("upconv", cin, cout, 4, s, not bn), *([("bn2d", cout)] if bn else []), (act,)]


def F(fin, fout, bn, act):
    return [("fc", fin, fout, not bn), *([("bn1d", fout)] if bn else []), act]


LR = ("lrelu", 0.1)
R = ("relu",)


def expected(name: str, i: int, q: int, leak: float = 0.1) -> dict[str, list[tuple]]:
    """The table's layer sequence for generator input width i and Q width q."""
    lr = ("lrelu", leak)
    q_mlp = [*F(1024 if name == "mnist" else 4096, 128, True, lr), ("fc", 128, q, True)]
    if name == "mnist":
        return {
            "g": [
                *F(i, 1024, True, R),
                *F(1024, 6272, True, R),
                ("unflatten", (128, 7, 7)),
                *U(128, 64, True),
                *U(64, 1, False, "sigmoid"),
            ],
            "trunk": [
                *C(1, 64, False, leak=leak),
                *C(64, 128, True, leak=leak),
                ("flatten",),
                *F(6272, 1024, True, lr),
            ],
            "d": [("fc", 1024, 1, True)],
            "q": q_mlp,
        }
    if name in ("svhn", "celeba"):
        return {
            "g": [
                *F(i, 1792, True, R),
                ("unflatten", (448, 2, 2)),
                *U(448, 256, True),
                *U(256, 128, False),
                *U(128, 64, False),
                *U(64, 3, False, "tanh"),
            ],
            "trunk": [
                *C(3, 64, False, leak=leak),
                *C(64, 128, True, leak=leak),
                *C(128, 256, True, leak=leak),
                ("flatten",),
            ],
            "d": [("fc", 4096, 1, True)],
            "q": q_mlp,
        }
    if name == "faces":
        return {
            "g": [
                *F(i, 1024, True, R),
                *F(1024, 8192, True, R),
                ("unflatten", (128, 8, 8)),
                *U(128, 64, True),
                *U(64, 1, False, "sigmoid"),
            ],
            "trunk": [
                *C(1, 64, False, leak=leak),
                *C(64, 128, True, leak=leak),
                ("flatten",),
                *F(8192, 1024, True, lr),
            ],
            "d": [("fc", 1024, 1, True)],
            "q": [("fc", 1024, q, True)],
        }
    if name == "chairs":
        return {
            "g": [
                *F(i, 1024, True, R),
                *F(1024, 16384, True, R),
                ("unflatten", (256, 8, 8)),
                *U(256, 256, True, s=1),
                *U(256, 256, True, s=1),
                *U(256, 128, True),
                *U(128, 64, True),
                *U(64, 1, False, "sigmoid"),
            ],
            "trunk": [
                *C(1, 64, False, leak=leak),
                *C(64, 128, True, leak=leak),
                *C(128, 256, True, leak=leak),
                *C(256, 256, True, s=1, leak=leak),
                *C(256, 256, True, s=1, leak=leak),
                ("flatten",),
                *F(16384, 1024, True, lr),
            ],
            "d": [("fc", 1024, 1, True)],
            "q": [("fc", 1024, q, True)],
        }
    if name == "glyphs":
        return {
            "g": [
                *F(i, 256, True, R),
                *F(256, 2048, True, R),
                ("unflatten", (128, 4, 4)),
                *U(128, 64, True),
                *U(64, 32, True),
                *U(32, 1, False, "sigmoid"),
            ],
            "trunk": [
                *C(1, 32, False, leak=leak),
                *C(32, 64, True, leak=leak),
                *C(64, 128, True, leak=leak),
                ("flatten",),
                *F(2048, 256, True, lr),
            ],
            "d": [("fc", 256, 1, True)],
            "q": [*F(256, 128, True, lr), ("fc", 128, q, True)],
        }
    assert name == "shapes"
    return {
        "g": [
            *F(i, 256, True, R),
            *F(256, 2048, True, R),
            ("unflatten", (128, 4, 4)),
            *U(128, 128, True),
            *U(128, 64, True),
            *U(64, 32, True),
            *U(32, 1, False, "sigmoid"),
        ],
        "trunk": [
            *C(1, 32, False, leak=leak),
            *C(32, 64, True, leak=leak),
            *C(64, 128, True, leak=leak),
            *C(128, 128, True, leak=leak),
            ("flatten",),
            *F(2048, 256, True, lr),
        ],
        "d": [("fc", 256, 1, True)],
        "q": [*F(256, 128, True, lr), ("fc", 128, q, True)],
    }


def table_param_count(name: str, i: int, q: int) -> dict[str, int]:
    """Parameter counts straight from the tables: weights, + bias where no BN, + 2 per BN unit."""
    conv = lambda a, b: a * b * 16  # noqa: E731 - 4x4 kernels
    q_sep = lambda f: (f * 128 + 2 * 128) + (128 * q + q)  # noqa: E731 - FC128-BN-lReLU-FC
    if name == "mnist":
        return {
            "g": (i * 1024 + 2 * 1024)
            + (1024 * 7 * 7 * 128 + 2 * 7 * 7 * 128)
            + (conv(128, 64) + 2 * 64)
            + (conv(64, 1) + 1),
            "trunk": (conv(1, 64) + 64) + (conv(64, 128) + 2 * 128) + (7 * 7 * 128 * 1024 + 2 * 1024),
            "d": 1024 + 1,
            "q": q_sep(1024),
        }
    if name in ("svhn", "celeba"):
        return {
            "g": (i * 1792 + 2 * 1792)
            + (conv(448, 256) + 2 * 256)
            + (conv(256, 128) + 128)
            + (conv(128, 64) + 64)
            + (conv(64, 3) + 3),
            "trunk": (conv(3, 64) + 64) + (conv(64, 128) + 2 * 128) + (conv(128, 256) + 2 * 256),
            "d": 4096 + 1,
            "q": q_sep(4096),
        }
    if name == "faces":
        return {
            "g": (i * 1024 + 2 * 1024) + (1024 * 8192 + 2 * 8192) + (conv(128, 64) + 2 * 64) + (conv(64, 1) + 1),
            "trunk": (conv(1, 64) + 64) + (conv(64, 128) + 2 * 128) + (8192 * 1024 + 2 * 1024),
            "d": 1024 + 1,
            "q": 1024 * q + q,
        }
    if name == "chairs":
        return {
            "g": (i * 1024 + 2 * 1024)
            + (1024 * 16384 + 2 * 16384)
            + 2 * (conv(256, 256) + 2 * 256)
            + (conv(256, 128) + 2 * 128)
            + (conv(128, 64) + 2 * 64)
            + (conv(64, 1) + 1),
            "trunk": (conv(1, 64) + 64)
            + (conv(64, 128) + 2 * 128)
            + (conv(128, 256) + 2 * 256)
            + 2 * (conv(256, 256) + 2 * 256)
            + (16384 * 1024 + 2 * 1024),
            "d": 1024 + 1,
            "q": 1024 * q + q,
        }
    if name == "glyphs":
        return {
            "g": (i * 256 + 2 * 256)
            + (256 * 2048 + 2 * 2048)
            + (conv(128, 64) + 2 * 64)
            + (conv(64, 32) + 2 * 32)
            + (conv(32, 1) + 1),
            "trunk": (conv(1, 32) + 32) + (conv(32, 64) + 2 * 64) + (conv(64, 128) + 2 * 128) + (2048 * 256 + 2 * 256),
            "d": 256 + 1,
            "q": q_sep(256),
        }
    return {
        "g": (i * 256 + 2 * 256)
        + (256 * 2048 + 2 * 2048)
        + (conv(128, 128) + 2 * 128)
        + (conv(128, 64) + 2 * 64)
        + (conv(64, 32) + 2 * 32)
        + (conv(32, 1) + 1),
        "trunk": (conv(1, 32) + 32)
        + (conv(32, 64) + 2 * 64)
        + (conv(64, 128) + 2 * 128)
        + (conv(128, 128) + 2 * 128)
        + (2048 * 256 + 2 * 256),
        "d": 256 + 1,
        "q": q_sep(256),
    }


def count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def parts(nets: Networks) -> dict[str, nn.Module]:
    d = nets.discriminator
    return {"g": nets.generator, "trunk": d.trunk, "d": d.d_head, "q": d.q_head}


# -- registration and defaults -------------------------------------------------------------------------
def test_all_registered_by_the_paper_plugin(host, registry):
    for name in NAMES:
        entry = registry.entry(name)
        assert entry.plugin == "paper"
        assert entry.distribution == "infogan-toolkit"
    assert "register_backbones" in host.plugin_info("paper").hooks


@pytest.mark.parametrize("name", NAMES)
def test_declared_defaults(host, registry, name):
    shape, rng, noise, codes, dataset, paper_input = DEFAULTS[name]
    b = registry.get(name)
    assert (b.image_shape, b.output_range, b.default_noise_dim, b.default_codes, b.default_dataset) == (
        shape,
        rng,
        noise,
        codes,
        dataset,
    )
    assert b.default_options["leak"] == 0.1
    assert b.describe().startswith(f"{shape[0]}x{shape[1]}x{shape[2]}, noise {noise}, codes {codes}")
    # The default codes resolve with the built-in kinds and heads and give the paper's G input width.
    cs = resolve_codes(codes, host.registries.codes, host.registries.heads)
    if paper_input is not None:
        assert noise + cs.width == paper_input
    nets = b.build(BuildRequest(noise, cs.width, cs.param_width))
    z = torch.randn(2, noise + cs.width)
    x = nets.generator(z)
    assert tuple(x.shape) == (2, *shape)
    logit, qp = nets.discriminator(x)
    assert logit.shape == (2,) and qp.shape == (2, cs.param_width)


# -- architecture ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_layer_sequence_matches_table(registry, name):
    nets = shared(registry, name, 74, 14)
    want = expected(name, 74, 14)
    got = {k: layers(m) for k, m in parts(nets).items()}
    for part in ("g", "trunk", "d", "q"):
        assert got[part] == want[part], f"{name} {part}"
    assert isinstance(nets.discriminator, InfoDiscriminator)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("i", "q"), [(74, 14), (133, 10)])
def test_parameter_count_matches_table_formula(registry, name, i, q):
    nets = shared(registry, name, i, q)
    want = table_param_count(name, i, q)
    got = {k: count(m) for k, m in parts(nets).items()}
    assert got == want


def test_layers_before_batch_norm_have_no_bias(registry):
    for name in NAMES:
        for part in parts(shared(registry, name)).values():
            mods = list(part.modules()) if not isinstance(part, nn.Sequential) else list(part)
            for a, b in zip(mods, mods[1:]):
                if isinstance(b, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    assert a.bias is None, f"{name}: {a} feeds BN but has a bias"


# -- shapes and ranges ---------------------------------------------------------------------------------
# Input widths of the paper's code layouts (MNIST 74, SVHN 168, CelebA 228) and a minimal one.
REQUESTS = [(62, 12, 14), (124, 44, 48), (128, 100, 100), (0, 1, 1)]


@pytest.mark.parametrize("name", NAMES)
def test_output_shapes_for_several_requests(registry, name):
    b = registry.get(name)
    for noise, code, q in REQUESTS:
        torch.manual_seed(1)
        nets = b.build(BuildRequest(noise, code, q))
        z = torch.randn(3, noise + code)
        x = nets.generator(z)
        assert tuple(x.shape) == (3, *b.image_shape)
        logit, qp = nets.discriminator(x)
        assert logit.shape == (3,)
        assert qp.shape == (3, q)
    # Eval mode (running BN statistics) gives the same shapes for a single image.
    nets.generator.eval()
    nets.discriminator.eval()
    with torch.no_grad():
        x1 = nets.generator(z[:1])
        l1, q1 = nets.discriminator(x1)
    assert x1.shape == (1, *b.image_shape) and l1.shape == (1,) and q1.shape == (1, q)


@pytest.mark.parametrize("name", NAMES)
def test_output_range(registry, name):
    b = registry.get(name)
    nets = shared(registry, name)
    last = list(nets.generator)[-1]
    # Large inputs push the output layer towards saturation, where a wrong activation would show.
    with torch.no_grad():
        x = nets.generator(50 * torch.randn(16, 74))
    if b.output_range == "unit":
        assert isinstance(last, nn.Sigmoid)
        assert x.min() >= 0 and x.max() <= 1
    else:
        assert b.output_range == "symmetric" and isinstance(last, nn.Tanh)
        assert x.min() >= -1 and x.max() <= 1
        assert x.min() < 0 < x.max()
    assert x.std() > 0.01  # not collapsed to a constant


# -- options -------------------------------------------------------------------------------------------
def _slopes(module: nn.Module) -> set[float]:
    return {m.negative_slope for m in module.modules() if isinstance(m, nn.LeakyReLU)}


@pytest.mark.parametrize("name", NAMES)
def test_leak_option_is_honoured(registry, name):
    assert _slopes(shared(registry, name).discriminator) == {0.1}
    nets = build(registry, name, leak=0.01)
    assert _slopes(nets.discriminator) == {0.01}
    assert layers(nets.discriminator.trunk) == expected(name, 74, 14, leak=0.01)["trunk"]
    # The generator uses plain ReLU regardless of the leak.
    assert _slopes(nets.generator) == set()
    assert any(isinstance(m, nn.ReLU) for m in nets.generator.modules())


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_rejected_with_a_suggestion(registry, name):
    with pytest.raises(ConfigError) as info:
        build(registry, name, laek=0.2)
    msg = str(info.value)
    assert "\n" not in msg
    assert "'laek'" in msg and f"'{name}'" in msg
    assert "Did you mean 'leak'?" in msg
    # The known keys are listed in order: every backbone has leak; shapes adds its own.
    known = msg.split("Known: ")[1].rstrip(".").split(", ")
    assert "leak" in known and known == sorted(known)


@pytest.mark.parametrize("bad", ["0.1", True, -0.1, 1.5, float("nan"), None])
def test_bad_leak_value_is_rejected(registry, bad):
    with pytest.raises(ConfigError, match="option 'leak'") as info:
        build(registry, "mnist", leak=bad)
    assert "\n" not in str(info.value)


def test_options_must_be_a_table(registry):
    with pytest.raises(ConfigError, match="options must be a table"):
        registry.get("svhn").build(BuildRequest(124, 44, 48, options=[("leak", 0.1)]))  # type: ignore[arg-type]


def test_shapes_width_option(registry):
    nets = build(registry, "shapes", width=8)
    assert layers(nets.discriminator.trunk)[:5] == [*C(1, 8, False), *C(8, 16, True)]
    assert count(nets.generator) < count(shared(registry, "shapes").generator) / 8
    x = nets.generator(torch.randn(2, 74))
    assert x.shape == (2, 1, 64, 64)
    with pytest.raises(ConfigError, match="option 'width'"):
        build(registry, "shapes", width=2.5)
    with pytest.raises(ConfigError, match="Did you mean 'width'"):
        build(registry, "shapes", widht=16)
    # width is the shapes network's own option; the paper's networks do not take it.
    with pytest.raises(ConfigError, match="unknown option 'width'"):
        build(registry, "mnist", width=16)


def test_shapes_lean_layout_without_d_batch_norm(registry):
    nets = build(registry, "shapes", input_dim=74, q_width=14, layout="lean", d_norm="none")
    assert layers(nets.discriminator.trunk) == [
        *C(1, 32, False),
        *C(32, 32, False),
        *C(32, 64, False),
        *C(64, 64, False),
        ("flatten",),
        *F(1024, 128, False, LR),
    ]
    assert layers(nets.generator) == [
        *F(74, 128, True, R),
        *F(128, 1024, True, R),
        ("unflatten", (64, 4, 4)),
        *U(64, 64, True),
        *U(64, 32, True),
        *U(32, 32, True),
        *U(32, 1, False, "sigmoid"),
    ]
    assert nets.generator(torch.randn(2, 74)).shape == (2, 1, 64, 64)
    logit, q = nets.discriminator(torch.rand(2, 1, 64, 64))
    assert logit.shape == (2,) and q.shape == (2, 14)
    # d_norm only touches D: the wide layout keeps its channels and drops D's batch norm.
    wide = build(registry, "shapes", layout="wide", d_norm="none")
    assert not any(isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) for m in wide.discriminator.trunk)
    assert any(isinstance(m, nn.BatchNorm2d) for m in wide.generator)


def test_shapes_spectral_d_norm_bounds_every_d_weight_and_leaves_q_alone(registry):
    nets = build(registry, "shapes", layout="lean", d_norm="spectral")
    d = nets.discriminator
    assert not any(isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) for m in d.trunk)
    d.train()
    for _ in range(20):  # power iterations run in training mode, one per forward
        d(torch.rand(4, 1, 64, 64))
    normalised = [m for part in (d.trunk, d.d_head) for m in part.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert len(normalised) == 6  # four convolutions, the FC layer and the D logit
    for m in normalised:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert 0.9 < sigma < 1.1, (m, sigma)
        # the raw weight behind the parametrisation is the N(0, 0.02) init, far from norm 1
        assert torch.linalg.matrix_norm(m.parametrizations.weight.original.detach().flatten(1), ord=2) < 0.9
    assert not any(hasattr(m, "parametrizations") for m in d.q_head.modules())
    # a fresh build of the same options loads the state exactly (the checkpoint's strict load)
    again = build(registry, "shapes", layout="lean", d_norm="spectral").discriminator
    again.load_state_dict(d.state_dict(), strict=True)
    d.eval(), again.eval()
    x = torch.rand(3, 1, 64, 64)
    assert torch.equal(d(x)[0], again(x)[0])


@pytest.mark.parametrize(("key", "value"), [("layout", "slim"), ("d_norm", "spectal"), ("d_norm", True)])
def test_shapes_layout_and_d_norm_typos_are_refused(registry, key, value):
    with pytest.raises(ConfigError, match=f"option '{key}' must be one of") as info:
        build(registry, "shapes", **{key: value})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("noise", "code", "q"), [(0, 0, 4), (10, 2, 0), (-1, 5, 4)])
def test_impossible_requests_are_config_errors(registry, noise, code, q):
    with pytest.raises(ConfigError) as info:
        registry.get("faces").build(BuildRequest(noise, code, q))
    assert "\n" not in str(info.value)


# -- gradients and initialisation ------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_q_loss_trains_the_shared_trunk_not_the_d_head(registry, name):
    b = registry.get(name)
    nets = build(registry, name, input_dim=74, q_width=6)
    d = nets.discriminator
    x = torch.rand(4, *b.image_shape)
    _, qp = d(x)
    (qp - torch.randn_like(qp)).pow(2).mean().backward()
    for pname, p in d.trunk.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}: trunk.{pname} got no gradient"
    for p in d.q_head.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert all(p.grad is None for p in d.d_head.parameters())
    assert all(p.grad is None for p in nets.generator.parameters())


@pytest.mark.parametrize("name", ["mnist", "chairs"])
def test_dcgan_initialisation(registry, name):
    nets = shared(registry, name)
    for part in parts(nets).values():
        for m in part.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                if m.weight.numel() >= 4000:  # enough samples for a tight std estimate
                    assert abs(m.weight.mean().item()) < 0.003
                    assert 0.017 < m.weight.std().item() < 0.023
                if m.bias is not None:
                    assert torch.all(m.bias == 0)
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                assert torch.all(m.bias == 0)
                if m.num_features >= 128:
                    assert abs(m.weight.mean().item() - 1) < 0.01
                    assert 0.01 < m.weight.std().item() < 0.03


def test_fresh_networks_per_build(registry):
    b = registry.get("mnist")
    a, c = b.build(BuildRequest(62, 12, 14)), b.build(BuildRequest(62, 12, 14))
    pa = dict(a.generator.named_parameters())
    pc = dict(c.generator.named_parameters())
    assert all(pa[k] is not pc[k] for k in pa)


# -- the stride-1 "same" layers of the chairs network --------------------------------------------------
def test_same_conv_and_its_transpose_keep_size_and_are_adjoint():
    from infogan_tk_paper.layers import SameConv2d, SameConvTranspose2d

    torch.manual_seed(0)
    conv = SameConv2d(3, 5, bias=False)
    up = SameConvTranspose2d(5, 3, bias=False)
    up.weight.data.copy_(conv.weight.data)  # (out=5, in=3, 4, 4) in conv terms = (in=5, out=3) for the transpose
    x = torch.randn(2, 3, 8, 8)
    y = torch.randn(2, 5, 8, 8)
    cx = conv(x)
    ty = up(y)
    assert cx.shape == (2, 5, 8, 8) and ty.shape == (2, 3, 8, 8)
    # <conv(x), y> == <x, conv^T(y)>: the transposed layer pads exactly as the conv does (1 before, 2 after).
    lhs, rhs = (cx * y).sum().item(), (x * ty).sum().item()
    assert math.isclose(lhs, rhs, rel_tol=1e-4, abs_tol=1e-4)


@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_flatten_matches_torch_and_returns_its_gradient_in_the_input_layout(channels_last):
    from infogan_tk_paper.layers import Flatten

    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    out = Flatten()(x)
    assert torch.equal(out, nn.Flatten()(x))  # features in C, H, W order whatever the layout
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    assert torch.equal(x.grad, weights.reshape(x.shape))
    assert x.grad.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert torch.autograd.gradcheck(Flatten(), (x.detach().requires_grad_(True),))
