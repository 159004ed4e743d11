"""Conformance checks a plugin author runs against their own plugin, one function per plugin kind.

Each check is a plain function that raises :class:`AssertionError` with a message naming what is
wrong, so it works from pytest or from a script::

    from infogan_toolkit.testing import check_code_kind, check_head

    def test_my_code_kind():
        check_code_kind(make_my_codes, "3", heads={"my-head": MyHead()})

The checks only use the interfaces (:mod:`infogan_toolkit.codes`, :mod:`infogan_toolkit.backbones`,
:mod:`infogan_toolkit.datasets`, :mod:`infogan_toolkit.regularisers`, :mod:`infogan_toolkit.callbacks`,
:mod:`infogan_toolkit.evaluate.report`); they know nothing about any concrete plugin. Regularisers,
metrics and callbacks are checked in a small real run: the kit's own 1x8x8 backbone
(:class:`KitBackbone`) trained for two steps on its own factor-grid data set (:class:`KitBars`),
registered in a plugin host for the duration of the check only. A plugin that declines the
kit's run (a term's ``check`` refuses it, a metric is not applicable, a factory returns None)
raises :class:`NotApplicable` with its reason: not a pass, not a failure.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

import attrs
import torch
from torch import Tensor

from .backbones import Backbone, BuildRequest, InfoDiscriminator, Networks
from .callbacks import (
    Callback,
    CheckpointEvent,
    ImageEvent,
    LogEvent,
    RunEndEvent,
    RunInfo,
    TrainStartEvent,
    options_class,
)
from .codes import CodeControl, LatentCode, QHead, parse_code_spec
from .config import parse_option_table
from .datasets import DatasetPlugin, DatasetRequest, ImageDataset
from .errors import ToolkitError
from .evaluate.report import Metric
from .hookspecs import hookimpl
from .regularisers import Regulariser, RegulariserPlugin, Terms

__all__ = [
    "KIT_BACKBONE",
    "KIT_DATASET",
    "KitBackbone",
    "KitBars",
    "NotApplicable",
    "check_backbone",
    "check_callback",
    "check_code_kind",
    "check_code_with_head",
    "check_dataset",
    "check_gradients_reach",
    "check_head",
    "check_metric",
    "check_regulariser",
    "CliResult",
    "invoke_cli",
]

#: Output ranges a backbone may declare, as (low, high).
_RANGES = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}
#: Slack for float rounding at the edges of an output range and in normalisation sums.
_TOL = 1e-4


def _fail(where: str, problem: str) -> NoReturn:
    raise AssertionError(f"{where}: {problem}")


def _same_device(t: Tensor, device: torch.device | str) -> bool:
    want = torch.device(device)
    return t.device.type == want.type and (want.index is None or t.device.index == want.index)


def _is_tensor(where: str, what: str, value: Any) -> Tensor:
    if not isinstance(value, Tensor):
        _fail(where, f"{what} must return a torch.Tensor, got {type(value).__name__}")
    return value


def _finite(where: str, what: str, t: Tensor) -> None:
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        _fail(where, f"{what} contains NaN or inf")


def _lookup_head(heads: Any, name: str, where: str) -> QHead:
    """Find ``name`` in a Registry, a mapping, or (when ``heads`` is None) the installed plugins."""
    if heads is None:
        from .plugins import PluginHost  # late: building a host loads every installed plugin

        heads = PluginHost().registries.heads
    try:
        head = heads.get(name) if not isinstance(heads, Mapping) else heads[name]
    except (KeyError, ToolkitError):
        head = None
    if head is None:
        _fail(where, f"its default_head '{name}' is not available; pass heads={{'{name}': YourHead()}} to the check")
    return head


# -- codes and heads ---------------------------------------------------------------------------


def check_code_kind(
    factory: Callable[[str], Sequence[LatentCode]],
    args: str,
    heads: Any = None,
    n: int = 16,
    device: torch.device | str = "cpu",
) -> list[LatentCode]:
    """Check a code-kind factory for one argument string; return the codes it made.

    For every code: the declared sizes, prior samples (shape, device, reproducible under a seeded
    generator), ``encode`` width, ``target``, a finite entropy, the traversal, ``describe``, and that
    the head named by ``default_head`` (looked up in ``heads``, a mapping or registry; the installed
    plugins when None) has the code's family and scores its prior samples
    (see :func:`check_code_with_head`).
    """
    where = f"code kind factory {getattr(factory, '__name__', factory)!r} with args {args!r}"
    made = factory(args)
    if isinstance(made, LatentCode) or not isinstance(made, Sequence):
        _fail(where, f"must return a list of LatentCode, got {type(made).__name__}")
    codes = list(made)
    if not codes:
        _fail(where, "returned no codes; a token must make at least one")
    for i, code in enumerate(codes):
        if not isinstance(code, LatentCode):
            _fail(where, f"item {i} is a {type(code).__name__}, not a LatentCode")
        _check_code(code, f"{where}, code {i}", heads, n, device)
    return codes


def _check_code(code: LatentCode, where: str, heads: Any, n: int, device: torch.device | str) -> None:
    for attr in ("width", "target_size"):
        value = getattr(code, attr)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            _fail(where, f"{attr} must be a positive int, got {value!r}")
    for attr in ("head_family", "default_head"):
        value = getattr(code, attr)
        if not isinstance(value, str) or not value:
            _fail(where, f"{attr} must be a non-empty str, got {value!r}")
    if not isinstance(code.discrete, bool):
        _fail(where, f"discrete must be a bool, got {code.discrete!r}")
    categories = code.categories
    if code.discrete and (not isinstance(categories, int) or isinstance(categories, bool) or categories < 2):
        _fail(where, f"a discrete code's categories must be an int >= 2, got {categories!r}")
    if not code.discrete and categories is not None:
        _fail(where, f"a continuous code's categories must be None, got {categories!r}")

    text = code.describe()
    if not isinstance(text, str) or not text.strip() or "\n" in text:
        _fail(where, f"describe() must return a short one-line str, got {text!r}")
    where = f"{where} [{text}]"

    first = _is_tensor(where, "sample", code.sample(n, torch.Generator(device).manual_seed(0), device))
    again = code.sample(n, torch.Generator(device).manual_seed(0), device)
    if first.dim() == 0 or first.shape[0] != n:
        _fail(where, f"sample({n}) has shape {tuple(first.shape)}; the first dimension must be {n}")
    if not _same_device(first, device):
        _fail(where, f"sample(device={str(device)!r}) returned a tensor on {first.device}")
    if not torch.equal(first, again):
        _fail(
            where,
            "sample is not reproducible: two draws with the same seeded generator differ; pass generator= to torch",
        )
    _finite(where, "sample", first)

    enc = _is_tensor(where, "encode", code.encode(first))
    if tuple(enc.shape) != (n, code.width):
        _fail(where, f"encode gives shape {tuple(enc.shape)}; expected (n, width) = ({n}, {code.width})")
    if not enc.is_floating_point():
        _fail(where, f"encode must return floats for the generator input, got {enc.dtype}")
    if not _same_device(enc, device):
        _fail(where, f"encode moved the values to {enc.device}")
    _finite(where, "encode", enc)

    tgt = _is_tensor(where, "target", code.target(first))
    if tgt.dim() == 0 or tgt.shape[0] != n:
        _fail(where, f"target has shape {tuple(tgt.shape)}; the first dimension must be {n}")
    _finite(where, "target", tgt)

    h = code.entropy()
    if not isinstance(h, (int, float)) or isinstance(h, bool) or not math.isfinite(h):
        _fail(where, f"entropy() must be a finite float (nats), got {h!r}")
    if code.discrete and h < 0:
        _fail(where, f"a discrete code's entropy cannot be negative, got {h}")

    steps = 5
    trav = _is_tensor(where, "traversal", code.traversal(steps))
    if trav.dim() == 0 or trav.shape[0] < 1:
        _fail(where, f"traversal({steps}) returned shape {tuple(trav.shape)}; expected at least one value")
    if not code.discrete and trav.shape[0] != steps:
        _fail(where, f"traversal({steps}) of a continuous code returned {trav.shape[0]} values, expected {steps}")
    trav_enc = code.encode(trav.to(device))
    if tuple(trav_enc.shape) != (trav.shape[0], code.width):
        _fail(where, f"encode(traversal) gives shape {tuple(trav_enc.shape)}; expected ({trav.shape[0]}, {code.width})")
    _finite(where, "encode(traversal)", trav_enc)

    # What `infogan-tk explore` builds the code's control from, and the value a control sets.
    try:
        control = code.control()
    except (ValueError, TypeError) as exc:
        _fail(where, f"control() raised {type(exc).__name__}: {exc}")
    if not isinstance(control, CodeControl):
        _fail(where, f"control() must return a CodeControl, got {type(control).__name__}")
    if control.kind == "choice" and len(control.labels) != categories:
        _fail(where, f"control() offers {len(control.labels)} choices for a code of {categories} categories")
    number = 0 if control.kind == "choice" else (control.low + control.high) / 2
    one = _is_tensor(where, "value_from_control", code.value_from_control(number))
    if tuple(code.encode(one.to(device)).shape) != (1, code.width):
        _fail(where, f"encode(value_from_control({number})) must give one row of width {code.width}")

    head = _lookup_head(heads, code.default_head, where)
    check_code_with_head(code, head, n=n, device=device)


def check_head(head: QHead, target_size: int, sample_target: Tensor) -> None:
    """Check a Q head against targets of a code with ``target_size``.

    ``sample_target`` is what the code's ``target`` returns for a batch (rows are samples).
    Checks ``param_width``, that ``log_prob`` has shape ``(n,)``, is finite, lets a gradient reach the
    parameters, and scores each row from that row's parameters only, and ``point_estimate``; for a
    head with ``has_batch_information``, that ``batch_information`` is a finite, non-negative,
    differentiable scalar.
    """
    where = f"Q head {type(head).__name__}"
    if not isinstance(head, QHead):
        _fail(where, "must be a QHead instance (an object, not the class)")
    if not isinstance(head.family, str) or not head.family:
        _fail(where, f"family must be a non-empty str, got {head.family!r}")
    pw = head.param_width(target_size)
    if not isinstance(pw, int) or isinstance(pw, bool) or pw < 1:
        _fail(where, f"param_width({target_size}) must be a positive int, got {pw!r}")
    if not isinstance(sample_target, Tensor) or sample_target.dim() == 0 or sample_target.shape[0] < 2:
        _fail(where, "sample_target must be a tensor with at least 2 rows")
    n = sample_target.shape[0]
    device = sample_target.device
    gen = torch.Generator().manual_seed(0)
    params = (torch.randn(n, pw, generator=gen) * 0.5).to(device).requires_grad_(True)

    lp = _is_tensor(where, "log_prob", head.log_prob(params, sample_target))
    if tuple(lp.shape) != (n,):
        _fail(where, f"log_prob gives shape {tuple(lp.shape)}; expected (n,) = ({n},), one value per row")
    if not lp.is_floating_point():
        _fail(where, f"log_prob must be floating point, got {lp.dtype}")
    _finite(where, "log_prob", lp)
    if not lp.requires_grad:
        _fail(where, "log_prob does not depend on the parameters (detached?); Q could not learn")
    lp.sum().backward()
    if params.grad is None or not bool(params.grad.abs().sum() > 0):
        _fail(where, "no gradient reaches the parameters from log_prob; Q could not learn")
    _finite(where, "gradient of log_prob", params.grad)

    # Each row must be scored from its own parameters: mixing rows (a batch statistic) breaks L_I.
    with torch.no_grad():
        moved = params.detach().clone()
        moved[0] += torch.randn(pw, generator=gen).to(device)  # random: a uniform shift may be invisible
        lp2 = head.log_prob(moved, sample_target)
        if not torch.allclose(lp.detach()[1:], lp2[1:], atol=1e-6, rtol=1e-5):
            _fail(where, "changing row 0's parameters changed other rows' log_prob; score each row on its own")

    est = _is_tensor(where, "point_estimate", head.point_estimate(params.detach()))
    if est.dim() == 0 or est.shape[0] != n:
        _fail(where, f"point_estimate has shape {tuple(est.shape)}; the first dimension must be {n}")
    _finite(where, "point_estimate", est)

    if head.has_batch_information:
        info = _is_tensor(where, "batch_information", head.batch_information(params))
        if info.dim() != 0:
            _fail(where, f"batch_information gives shape {tuple(info.shape)}; expected a scalar for the whole batch")
        _finite(where, "batch_information", info)
        if info.item() < -1e-5:
            _fail(where, f"batch_information is {info.item():.4g}; a mutual information cannot be negative")
        params.grad = None
        if info.requires_grad:
            info.backward()
        if params.grad is None or not bool(params.grad.abs().sum() > 0):
            _fail(
                where,
                "no gradient reaches the parameters from batch_information; a term on the real batch could not train Q",
            )


def check_code_with_head(code: LatentCode, head: QHead, n: int = 64, device: torch.device | str = "cpu") -> None:
    """Check that ``head`` models ``code``: families match and prior samples get finite log-likelihoods.

    For a discrete code the support is enumerated with ``traversal`` (every category): it must hold
    exactly ``categories`` distinct values, prior samples must lie in it, log-likelihoods must be
    <= 0, ``exp(log_prob)`` must sum to 1 over it, and the head's point estimate must be a category
    index in ``range(categories)`` (what evaluation counts).
    """
    where = f"code {code.describe()} with Q head {type(head).__name__}"
    if head.family != code.head_family:
        _fail(where, f"the head models '{head.family}' codes but the code needs a '{code.head_family}' head")
    gen = torch.Generator(device).manual_seed(1)
    values = code.sample(n, gen, device)
    target = code.target(values)
    check_head(head, code.target_size, target)

    pw = head.param_width(code.target_size)
    params = torch.randn(n, pw, generator=torch.Generator().manual_seed(2)).to(device)
    with torch.no_grad():
        lp = head.log_prob(params, target)
    if tuple(lp.shape) != (n,):
        _fail(where, f"log-likelihood of prior samples has shape {tuple(lp.shape)}, expected ({n},)")
    _finite(where, "log-likelihood of prior samples", lp)
    if not code.discrete:
        return

    categories = code.categories
    if not isinstance(categories, int) or isinstance(categories, bool) or categories < 2:
        _fail(where, f"a discrete code's categories must be an int >= 2, got {categories!r}")
    support = code.target(code.traversal(categories).to(device))
    k = support.shape[0]
    flat_t, flat_s = target.reshape(n, -1), support.reshape(k, -1)
    if k != code.categories or torch.unique(flat_s, dim=0).shape[0] != k:
        _fail(
            where,
            f"the traversal lists {k} values ({torch.unique(flat_s, dim=0).shape[0]} distinct) but categories is "
            f"{code.categories}; they must agree",
        )
    inside = (flat_t[:, None, :] == flat_s[None, :, :]).all(dim=2).any(dim=1)
    if not bool(inside.all()):
        _fail(
            where,
            "a prior sample is not among the traversal values; a discrete code's traversal must list every category",
        )
    if bool((lp > _TOL).any()):
        _fail(where, f"a discrete log-likelihood is positive ({lp.max().item():.4g}); probabilities cannot exceed 1")
    rows = params[:8]
    m = rows.shape[0]
    with torch.no_grad():
        grid = head.log_prob(rows.repeat_interleave(k, dim=0), support.repeat((m,) + (1,) * (support.dim() - 1)))
    total = torch.logsumexp(grid.reshape(m, k).double(), dim=1).exp()
    if not torch.allclose(total, torch.ones_like(total), atol=1e-3):
        _fail(where, f"exp(log_prob) summed over the {k} categories is {total.tolist()}, not 1; normalise the head")
    with torch.no_grad():
        estimate = head.point_estimate(params)
    if estimate.dim() != 1 or estimate.shape[0] != n:
        _fail(
            where,
            f"point_estimate has shape {tuple(estimate.shape)}; a discrete code's must be ({n},) category indices",
        )
    as_index = estimate.long()
    if (
        not torch.equal(as_index.to(estimate.dtype), estimate)
        or bool((as_index < 0).any())
        or bool((as_index >= k).any())
    ):
        _fail(
            where,
            f"point_estimate gives values outside range({k}) (min {estimate.min().item():g}, max "
            f"{estimate.max().item():g}); "
            "it must return a category index, which evaluation counts",
        )


# -- backbones ---------------------------------------------------------------------------------


def check_backbone(
    backbone: Backbone,
    noise_dim: int | None = None,
    code_width: int = 12,
    q_width: int = 12,
    options: dict[str, Any] | None = None,
    batch: int = 4,
    device: torch.device | str = "cpu",
) -> Networks:
    """Build ``backbone``'s networks and check shapes, output range and gradient flow; return them.

    Checks: G maps ``(batch, noise_dim + code_width)`` to ``(batch, *image_shape)`` inside the
    declared ``output_range``; D returns a logit ``(batch,)`` and Q parameters ``(batch, q_width)``;
    a backward pass from the D logit reaches every parameter of G, the trunk and the D head, and one
    from the Q output alone reaches every parameter of G, the trunk and the Q head (the information
    term must train all three). Then every registered regulariser checks what it needs from a
    backbone (``RegulariserPlugin.check_backbone``), e.g. an extra network of the right shape.
    """
    where = f"backbone {type(backbone).__name__}"
    if not isinstance(backbone, Backbone):
        _fail(where, "must be a Backbone instance")
    shape = getattr(backbone, "image_shape", None)
    if not (isinstance(shape, tuple) and len(shape) == 3 and all(isinstance(s, int) and s > 0 for s in shape)):
        _fail(where, f"image_shape must be a (channels, height, width) tuple of positive ints, got {shape!r}")
    if backbone.output_range not in _RANGES:
        _fail(where, f"output_range must be one of {sorted(_RANGES)}, got {backbone.output_range!r}")
    if not isinstance(backbone.default_options, dict):
        _fail(where, "default_options must be a dict")
    try:
        parse_code_spec(backbone.default_codes)
    except ToolkitError as exc:
        _fail(where, f"default_codes does not parse: {exc}")
    if not isinstance(backbone.describe(), str):
        _fail(where, "describe() must return a str")

    noise = backbone.default_noise_dim if noise_dim is None else noise_dim
    request = BuildRequest(noise, code_width, q_width, dict(backbone.default_options if options is None else options))
    nets = backbone.build(request)
    if not isinstance(nets, Networks):
        _fail(where, f"build() must return Networks, got {type(nets).__name__}")
    if not isinstance(nets.discriminator, InfoDiscriminator):
        _fail(where, "the discriminator must be an InfoDiscriminator (trunk, d_head, q_head)")
    g, d = nets.generator.to(device).train(), nets.discriminator.to(device).train()

    gen = torch.Generator().manual_seed(0)
    z = torch.randn(batch, request.input_dim, generator=gen).to(device)
    x = _is_tensor(where, "the generator", g(z))
    if tuple(x.shape) != (batch, *shape):
        _fail(where, f"generator output has shape {tuple(x.shape)}; expected (batch, *image_shape) = {(batch, *shape)}")
    _finite(where, "generator output", x)
    low, high = _RANGES[backbone.output_range]
    with torch.no_grad():
        # Large inputs push an unbounded last layer past the range; a squashing one stays inside.
        # Eval mode, so that batch norm does not rescale them back to unit size.
        wide = g.eval()(z * 20)
    g.train()
    for what, out in (("generator output", x), ("generator output for large inputs", wide)):
        if bool((out < low - _TOL).any()) or bool((out > high + _TOL).any()):
            _fail(
                where,
                f"{what} spans [{out.min().item():.4g}, {out.max().item():.4g}], outside output_range "
                f"'{backbone.output_range}' [{low}, {high}]; end G with the matching squashing function",
            )

    out = d(x)
    if not (isinstance(out, tuple) and len(out) == 2):
        _fail(where, "the discriminator must return (d_logit, q_params)")
    logit, q = out
    if tuple(logit.shape) != (batch,):
        _fail(where, f"D logit has shape {tuple(logit.shape)}; expected ({batch},)")
    if tuple(q.shape) != (batch, q_width):
        _fail(where, f"Q output has shape {tuple(q.shape)}; expected ({batch}, {q_width})")
    _finite(where, "D logit", logit)
    _finite(where, "Q output", q)

    w_d = torch.randn(batch, generator=gen).to(device)
    w_q = torch.randn(batch, q_width, generator=gen).to(device)
    check_gradients_reach(
        where, "the D logit", (logit * w_d).sum(), {"G": g, "trunk": d.trunk, "d_head": d.d_head}, (g, d)
    )
    logit, q = d(g(z))
    check_gradients_reach(
        where, "the Q output", (q * w_q).sum(), {"G": g, "trunk": d.trunk, "q_head": d.q_head}, (g, d)
    )
    for m in (g, d):
        m.zero_grad(set_to_none=True)
    check_channels_last(where, g, d, z)
    from .plugins import PluginHost  # late: building a host loads every installed plugin

    for entry in PluginHost().registries.regularisers:
        entry.obj.check_backbone(backbone, request, nets, device)
    return nets


def check_channels_last(where: str, g: torch.nn.Module, d: torch.nn.Module, z: Tensor) -> None:
    """Fail, naming ``where``, unless copies of ``g`` and ``d`` in the channels_last layout (the
    default on a CPU, ``train.channels_last``) run and give the outputs of the contiguous ones."""
    import copy

    channels_last = torch.channels_last
    g_cl = copy.deepcopy(g).to(memory_format=channels_last).eval()
    d_cl = copy.deepcopy(d).to(memory_format=channels_last).eval()
    g.eval(), d.eval()
    try:
        with torch.no_grad():
            want = (g(z), *d(g(z)))
            try:
                x_cl = g_cl(z)
                got = (x_cl, *d_cl(x_cl.contiguous(memory_format=channels_last) if x_cl.dim() == 4 else x_cl))
            except RuntimeError as exc:
                _fail(
                    where,
                    f"fails in the channels_last layout, the default on a CPU ({str(exc).splitlines()[0]}); "
                    "use .reshape or .flatten where the networks use .view",
                )
    finally:
        g.train(), d.train()
    for what, a, b in zip(("generator output", "D logit", "Q output"), want, got):
        if not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
            _fail(
                where,
                f"{what} differs in the channels_last layout by up to {(a - b).abs().max().item():.3g}; "
                "the networks must compute the same thing in either memory format",
            )


def check_gradients_reach(
    where: str, source: str, loss: Tensor, parts: dict[str, torch.nn.Module], all_modules
) -> None:
    """Back-propagate ``loss`` (after zeroing ``all_modules``) and fail, naming ``where``, unless every
    trainable parameter of each of ``parts`` (label -> module) gets a finite gradient."""
    for m in all_modules:
        m.zero_grad(set_to_none=True)
    loss.backward()
    for part, module in parts.items():
        for name, p in module.named_parameters():
            if not p.requires_grad:
                continue
            if p.grad is None:
                _fail(where, f"no gradient from {source} reaches {part} parameter '{name}' (unused or detached)")
            _finite(where, f"gradient of {part} parameter '{name}'", p.grad)


# -- datasets ----------------------------------------------------------------------------------


def check_dataset(
    plugin: DatasetPlugin, request: DatasetRequest, device: torch.device | str = "cpu", k: int = 8
) -> ImageDataset:
    """Load ``request`` with ``plugin`` and check the dataset contract; return the dataset.

    Checks: a non-empty :class:`ImageDataset`; ``images(index)`` gives uint8 ``(len(index), *image_shape)``
    on ``index``'s device, the same pixels twice; ``image_shape`` equals the request's when given;
    labels and factors have one row per image, and factors fit ``factor_names``/``factor_sizes``.
    """
    where = f"dataset plugin {type(plugin).__name__}"
    if not isinstance(plugin, DatasetPlugin):
        _fail(where, "must be a DatasetPlugin instance")
    ds = plugin.load(request)
    if not isinstance(ds, ImageDataset):
        _fail(where, f"load() must return an ImageDataset, got {type(ds).__name__}")
    n = len(ds)
    if not isinstance(n, int) or n < 1:
        _fail(where, f"the loaded dataset is empty (len {n})")
    shape = tuple(ds.image_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape):
        _fail(where, f"image_shape must be (channels, height, width) positive ints, got {ds.image_shape!r}")
    if request.image_shape is not None and shape != tuple(request.image_shape):
        _fail(where, f"image_shape {shape} differs from the requested {tuple(request.image_shape)}")

    moved = ds.to(device)
    if moved is None:
        _fail(where, "to(device) must return the dataset")
    ds = moved
    gen = torch.Generator().manual_seed(0)
    index = torch.cat([torch.tensor([0, n - 1]), torch.randint(0, n, (k,), generator=gen)]).to(device)
    imgs = _is_tensor(where, "images", ds.images(index))
    if imgs.dtype != torch.uint8:
        _fail(
            where, f"images() must return uint8, got {imgs.dtype}; keep pixels as bytes and let the engine scale them"
        )
    if tuple(imgs.shape) != (index.shape[0], *shape):
        _fail(
            where,
            f"images() gives shape {tuple(imgs.shape)}; expected (len(index), *image_shape) = "
            f"{(index.shape[0], *shape)}",
        )
    if not _same_device(imgs, index.device):
        _fail(where, f"images() returned a tensor on {imgs.device} for an index on {index.device}")
    if not torch.equal(imgs, ds.images(index)):
        _fail(where, "images() returned different pixels for the same index")

    if ds.labels is not None:
        labels = _is_tensor(where, "labels", ds.labels)
        if labels.dim() != 1 or labels.shape[0] != n:
            _fail(where, f"labels have shape {tuple(labels.shape)}; expected one per image ({n},)")
    if ds.factors is not None:
        factors = _is_tensor(where, "factors", ds.factors)
        if factors.dim() != 2 or factors.shape[0] != n:
            _fail(where, f"factors have shape {tuple(factors.shape)}; expected (N, F) with N = {n}")
        f = factors.shape[1]
        if len(ds.factor_names) != f or len(ds.factor_sizes) != f:
            _fail(
                where,
                f"{f} factor columns but {len(ds.factor_names)} factor_names and {len(ds.factor_sizes)} factor_sizes",
            )
        sizes = torch.tensor(ds.factor_sizes, device=factors.device)
        if bool((factors < 0).any()) or bool((factors >= sizes).any()):
            _fail(where, "a factor value lies outside 0..factor_sizes-1")
    return ds


# -- regularisers, metrics and callbacks, in a small real run -------------------------------------

#: Registry names of the kit's backbone and data set, registered only while a check runs.
KIT_BACKBONE = "testing-kit"
KIT_DATASET = "testing-kit-bars"
#: Evaluation sizes for checking a metric: every built-in metric runs on them in about a second.
KIT_EVAL_SIZES = dict(
    batch=64,
    accuracy_samples=64,
    factor_samples=64,
    factor_test_samples=32,
    mig_bins=5,
    dci_trees=2,
    factorvae_batch=8,
    factorvae_train=32,
    factorvae_eval=16,
    factorvae_variance=64,
)


class NotApplicable(Exception):
    """The plugin declines the kit's run (a regulariser's ``check`` refuses it, a metric is not
    applicable, a factory returns None); the message is the plugin's reason. Neither pass nor fail."""


class KitBackbone(Backbone):
    """The kit's backbone: a 1x8x8 MLP InfoGAN with batch norm, trained in milliseconds."""

    image_shape = (1, 8, 8)
    output_range = "unit"
    default_noise_dim = 4
    default_codes = "cat4,unif2"
    default_dataset = KIT_DATASET
    default_options = {"hidden": 32}

    def build(self, request: BuildRequest) -> Networks:
        """G: two linear layers with batch norm, ending in a sigmoid; D/Q: a two-layer trunk."""
        h = int(request.options.get("hidden", 32))
        g = torch.nn.Sequential(
            torch.nn.Linear(request.input_dim, h),
            torch.nn.BatchNorm1d(h),
            torch.nn.ReLU(),
            torch.nn.Linear(h, 64),
            torch.nn.Sigmoid(),
            torch.nn.Unflatten(1, (1, 8, 8)),
        )
        trunk = torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(64, h),
            torch.nn.LeakyReLU(0.1),
            torch.nn.Linear(h, h),
            torch.nn.BatchNorm1d(h),
            torch.nn.LeakyReLU(0.1),
        )
        return Networks(g, InfoDiscriminator(trunk, torch.nn.Linear(h, 1), torch.nn.Linear(h, request.q_width)))


def render_kit_bars(factors: Tensor, image_shape: tuple[int, int, int] = (1, 8, 8)) -> Tensor:
    """Factor indices ``(n, 2)`` = (x of 6, width of 2) -> uint8 images of ``image_shape``: a bright
    vertical bar whose left edge moves with x and whose width is 1 or 2 sixths of the image."""
    c, h, w = image_shape
    unit = max(1, w // 8)
    left = (factors[:, :1] * (w - 2 * unit)) // 5
    columns = torch.arange(w, device=factors.device)
    on = (columns >= left) & (columns < left + unit * (1 + factors[:, 1:2]))
    return (on[:, None, None, :].expand(-1, c, h, w).to(torch.uint8) * 255).contiguous()


class KitBars(DatasetPlugin):
    """The kit's data set: a full 6 x 2 factor grid of bars (labels: x), drawn in whatever image
    shape the backbone asks for, so that any backbone can train on it."""

    description = "bars at 6 positions and 2 widths in any image shape (the conformance kit's data)"
    needs_root = False

    def load(self, request: DatasetRequest) -> ImageDataset:
        """The grid, rendered in memory in ``request.image_shape`` (1x8x8 when not given)."""
        from .datasets import FactorGridDataset

        shape = cast("tuple[int, int, int]", tuple(request.image_shape or KitBackbone.image_shape))
        return FactorGridDataset(
            ("x", "width"), (6, 2), lambda f: render_kit_bars(f, shape), label_factor="x", in_memory=True
        )


class _KitPlugin:
    """Registers the kit's backbone and data set, and the plugin objects under test that the host lacks."""

    def __init__(self, extra: dict[str, dict[str, Any]]) -> None:
        self.extra = extra

    def _register(self, attr: str, register: Callable[[str, Any], None]) -> None:
        for name, obj in self.extra.get(attr, {}).items():
            register(name, obj)

    @hookimpl
    def register_backbones(self, register):
        register(KIT_BACKBONE, KitBackbone())

    @hookimpl
    def register_datasets(self, register):
        register(KIT_DATASET, KitBars())

    @hookimpl
    def register_regularisers(self, register):
        self._register("regularisers", register)

    @hookimpl
    def register_metrics(self, register):
        self._register("metrics", register)


@contextlib.contextmanager
def _kit(host: Any, attr: str | None = None, name: str | None = None, obj: Any = None) -> Iterator[tuple[Any, Path]]:
    """``host`` (the installed plugins when None) with the kit registered, and ``obj`` under
    ``name`` in registry ``attr`` unless the host has it already; and a temporary folder."""
    from .plugins import PluginHost

    host = host if host is not None else PluginHost()
    extra: dict[str, dict[str, Any]] = {}
    if attr is not None:
        assert name is not None  # callers that name a registry name the entry too
        registry = getattr(host.registries, attr)
        if name not in registry:
            extra[attr] = {name: obj}
        elif type(registry.get(name)) is not type(obj):  # hooks may make a new instance per registry build
            _fail(f"{attr[:-1]} '{name}'", "another plugin registered this name; pass name= a free one")
    plugin_name = "infogan-tk-testing-kit"
    host.register(_KitPlugin(extra), plugin_name)
    try:
        with tempfile.TemporaryDirectory(prefix="infogan-tk-kit-") as tmp:
            yield host, Path(tmp)
    finally:
        host.unregister(plugin_name)


def _kit_config(
    backbone: str | None,
    steps: int,
    device: torch.device | str,
    loss: Mapping[str, Any] | None = None,
    figures: bool = False,
) -> Any:
    from .config import Config, apply_dict

    model = {"backbone": backbone or KIT_BACKBONE}
    if backbone in (None, KIT_BACKBONE):
        model["codes"] = KitBackbone.default_codes
    train = {
        "steps": steps,
        "batch_size": 8,
        "log_every": 1,
        "checkpoint_every": 1000,
        "device": str(device),
        "figures": figures,
        "callbacks": [],
    }
    return apply_dict(
        Config(),
        {"model": model, "data": {"dataset": KIT_DATASET}, "loss": dict(loss or {}), "train": train},
        "the conformance kit",
    )


def _kit_trainer(config: Any, run_dir: Path, host: Any, resume: bool = False) -> Any:
    from rich.console import Console

    from .engine.trainer import Trainer

    return Trainer(config, run_dir, host=host, resume=resume, console=Console(file=io.StringIO()), progress=False)


def _scalar(where: str, what: str, value: Any) -> Tensor:
    t = _is_tensor(where, what, value)
    if t.dim() != 0 or not t.is_floating_point():
        _fail(where, f"{what} must be a floating-point scalar tensor, got {t.dtype} of shape {tuple(t.shape)}")
    _finite(where, what, t)
    return t


def _reaches(
    where: str, what: str, loss: Tensor, params: Sequence[torch.nn.Parameter], part: str, every: bool = False
) -> None:
    """Fail unless a gradient of ``loss`` reaches ``params`` (some of them, or ``every`` one), finite."""
    if not loss.requires_grad:
        _fail(where, f"{what} does not depend on any trained parameter (detached?); it would train nothing")
    grads = torch.autograd.grad(loss, list(params), allow_unused=True, retain_graph=True) if params else []
    for p, grad in zip(params, grads):
        if grad is not None:
            _finite(where, f"the gradient of {what} on {part}", grad)
    if every and any(g is None for g in grads):
        _fail(where, f"{what} leaves some of {part} without a gradient; every own parameter must be trained by it")
    if not any(g is not None and bool(g.abs().sum() > 0) for g in grads):
        _fail(where, f"no gradient from {what} reaches {part}")


def check_regulariser(
    plugin: RegulariserPlugin,
    name: str = "under_test",
    options: Mapping[str, Any] | None = None,
    backbone: str | None = None,
    host: Any = None,
    device: torch.device | str = "cpu",
) -> Terms:
    """Check a regulariser plugin in a small real run; return the :class:`Terms` of its first step.

    The term is turned on with ``options`` (its defaults, weight 1, when None) in a run of the kit's
    backbone (or the registered ``backbone``) on the kit's data. Checks: ``options`` is an attrs class
    with a ``weight`` field that validates the table; the run resolves (a ConfigError from the
    plugin's ``check`` is :class:`NotApplicable`); ``build`` returns a :class:`Regulariser`; its
    ``networks``, ``optimizers`` (over its ``own_parameters`` only) and ``stat_names`` are well formed;
    the first step's ``terms`` are finite scalar losses whose gradients reach what each trains
    (``generator``: G; ``discriminator``: D and Q; ``information``: the parts the information term
    trains; ``own``: every own parameter) and one finite scalar per stat name; two training steps
    checkpoint the term's networks; and one step, a resume, and a second step give bit for bit the
    weights of two straight steps (the term draws from ``view.rng`` and keeps its state in its
    networks and optimisers).
    """
    from .assembly import resolve
    from .checkpoint import load_tensors, model_path
    from .errors import ConfigError
    from .regularisers import parse_options

    name = name.lower()
    where = f"regulariser {type(plugin).__name__}"
    if not isinstance(plugin, RegulariserPlugin):
        _fail(where, "must be a RegulariserPlugin instance (an object, not the class)")
    option_class = getattr(plugin, "options", None)
    if not (isinstance(option_class, type) and attrs.has(option_class)):
        _fail(where, f"options must be an attrs class of the [loss.{name}] keys, got {option_class!r}")
    if "weight" not in attrs.fields_dict(option_class):
        _fail(where, "options must have a float field 'weight' (0 turns the term off)")
    table = {"weight": 1.0, **dict(options or {})}
    try:
        parse_options(name, plugin, table)
    except ConfigError as exc:
        _fail(where, f"its options class refuses {table}: {exc}")

    with _kit(host, "regularisers", name, plugin) as (host, tmp):
        config = _kit_config(backbone, 2, device, {name: table})
        try:
            resolve(config, host)
        except ConfigError as exc:
            raise NotApplicable(
                f"refuses a run of backbone '{backbone or KIT_BACKBONE}': {' '.join(str(exc).split())}"
            ) from None
        # A probe run for the first step's terms: its extra forward pass must not touch the runs compared below.
        trainer = _kit_trainer(config, tmp / "probe", host)
        objective = trainer.objective
        term = objective.regularisers.get(name)
        if not isinstance(term, Regulariser):
            _fail(where, f"build() must return a Regulariser, got {type(term).__name__}")
        where = f"{where} (term {type(term).__name__})"
        stat_names = term.stat_names
        if not isinstance(stat_names, tuple) or not all(isinstance(s, str) and s for s in stat_names):
            _fail(where, f"stat_names must be a tuple of non-empty str, got {stat_names!r}")
        nets = term.networks()
        if not isinstance(nets, dict) or not all(
            isinstance(k, str) and isinstance(m, torch.nn.Module) for k, m in nets.items()
        ):
            _fail(where, "networks() must return a dict of str -> torch.nn.Module")
        own = list(term.own_parameters())
        own_ids = {id(p) for p in own}
        optimizers = term.optimizers()
        if not isinstance(optimizers, dict) or not all(
            isinstance(o, torch.optim.Optimizer) for o in optimizers.values()
        ):
            _fail(where, "optimizers() must return a dict of str -> torch.optim.Optimizer")
        for key, opt in optimizers.items():
            if any(id(p) not in own_ids for group in opt.param_groups for p in group["params"]):
                _fail(where, f"optimizer '{key}' steps parameters that own_parameters() does not list")
        for key, module in nets.items():
            for pname, p in module.named_parameters():
                if not _same_device(p, trainer.device):
                    _fail(
                        where,
                        f"network '{key}' parameter '{pname}' is on {p.device}, not the run's device; pass the "
                        "network through setup.prepare_module",
                    )

        captured: list[Any] = []
        original = term.terms

        def capturing(view: Any) -> Any:
            captured.append(original(view))
            return captured[-1]

        term.terms = capturing  # type: ignore[method-assign]
        engine_error: Exception | None = None
        try:
            index = torch.arange(8, device=trainer.device) % len(trainer.dataset)
            objective.losses(trainer.dataset.images(index), torch.Generator(trainer.device).manual_seed(0))
        except Exception as exc:  # checked below: the terms' own problem is the clearer message
            engine_error = exc
        finally:
            del term.terms
        if not captured:
            if engine_error is not None:
                raise engine_error
            _fail(where, "the training step never called terms(); is the term's weight 0 in the kit's config?")
        terms = captured[0]
        if not isinstance(terms, Terms):
            _fail(where, f"terms() must return a Terms, got {type(terms).__name__}")
        g_params, d_params = objective.g_params, objective.d_params
        for field, params, part in (
            ("generator", g_params, "G"),
            ("discriminator", d_params, "D and Q"),
            ("information", objective.info_inputs, "the parts the information term trains"),
        ):
            loss = getattr(terms, field)
            if loss is not None:
                _reaches(where, f"Terms.{field}", _scalar(where, f"Terms.{field}", loss), params, part)
        if terms.own is not None:
            if not own:
                _fail(where, "Terms.own is set but own_parameters() is empty; it would train nothing")
            _reaches(
                where, "Terms.own", _scalar(where, "Terms.own", terms.own), own, "the term's own parameters", every=True
            )
        if set(terms.stats) != set(stat_names):
            _fail(where, f"Terms.stats has keys {sorted(terms.stats)} but stat_names is {list(stat_names)}")
        for stat in stat_names:
            _scalar(where, f"Terms.stats['{stat}']", terms.stats[stat])
        if all(getattr(terms, f) is None for f in ("generator", "discriminator", "information", "own")):
            _fail(where, "terms() adds no loss at all (every field of Terms is None)")
        if engine_error is not None:
            raise engine_error

        trainer.release()
        _kit_trainer(config, tmp / "straight", host).run()
        straight = load_tensors(model_path(tmp / "straight", 2))
        for key in nets:
            prefix = f"{name}.{key}." if key else f"{name}."
            if not any(k.startswith(prefix) for k in straight):
                _fail(where, f"network '{key}' is missing from the checkpoint (no '{prefix}*' tensors)")
        _kit_trainer(_kit_config(backbone, 1, device, {name: table}), tmp / "resumed", host).run()
        _kit_trainer(config, tmp / "resumed", host, resume=True).run()
        resumed = load_tensors(model_path(tmp / "resumed", 2))
        differ = sorted(k for k in straight if k not in resumed or not torch.equal(straight[k], resumed[k]))
        if differ:
            _fail(
                where,
                f"1 step, resume, 1 step differs from 2 straight steps in {differ[:3]}; initialise networks from "
                "setup.seed (inside torch.random.fork_rng), draw random numbers from view.rng only, and keep "
                "state in networks() and optimizers()",
            )
    return terms


def check_metric(
    metric: Metric,
    name: str = "under_test",
    host: Any = None,
    device: torch.device | str = "cpu",
) -> Any:
    """Check a metric on a model of the kit's backbone, trained two steps, and the kit's data; return its result.

    Checks: ``order`` is an int, ``needs_dataset`` a bool, ``description`` one line; ``infogan-tk
    eval``'s own code runs it (a reason from ``not_applicable`` is :class:`NotApplicable`, and must
    be a one-line str); the result is JSON-ready, the same when run again with the same seed, and
    the same when every other installed metric runs beside it (draw from a generator seeded by
    ``ctx.seed``, never from a global stream).
    """
    from .evaluate.report import EvalSizes, evaluate, metric_names
    from .model import TrainedModel

    where = f"metric {type(metric).__name__}"
    if not isinstance(metric, Metric):
        _fail(where, "must be a Metric instance (an object, not the class)")
    if not isinstance(metric.order, int) or isinstance(metric.order, bool):
        _fail(where, f"order must be an int, got {metric.order!r}")
    if not isinstance(metric.needs_dataset, bool):
        _fail(where, f"needs_dataset must be a bool, got {metric.needs_dataset!r}")
    if not isinstance(metric.description, str) or not metric.description.strip() or "\n" in metric.description:
        _fail(
            where,
            f"description must be one non-empty line (infogan-tk list metrics shows it), got {metric.description!r}",
        )
    if not isinstance(metric.default, bool):
        _fail(where, f"default must be a bool, got {metric.default!r}")
    if not isinstance(metric.options, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metric.options.items()
    ):
        _fail(where, f"options must map each --option key to a one-line meaning (str to str), got {metric.options!r}")
    name = name.lower()
    with _kit(host, "metrics", name, metric) as (host, tmp):
        _kit_trainer(_kit_config(None, 2, device), tmp / "run", host).run()
        model = TrainedModel.load(tmp / "run", device=device, host=host)
        sizes = EvalSizes(**KIT_EVAL_SIZES)

        def run(metrics: list[str] | None) -> dict:
            return evaluate(
                model,
                host,
                dataset=KIT_DATASET,
                samples=64,
                seed=0,
                metrics=metrics,
                sizes=sizes,
                skip_inapplicable=True,
            )

        alone = run([name])
        if name in alone["skipped"]:
            reason = alone["skipped"][name]
            if not isinstance(reason, str) or not reason.strip() or "\n" in reason:
                _fail(where, f"not_applicable(ctx) must return None or a one-line reason, got {reason!r}")
            raise NotApplicable(f"not applicable to the kit's model and data: {reason}")
        value = alone[name]
        try:
            text = json.dumps(value, sort_keys=True)
        except (TypeError, ValueError) as exc:
            _fail(where, f"run(ctx) must return JSON-ready values (dict, list, str, int, float, bool, None): {exc}")
        if json.dumps(run([name])[name], sort_keys=True) != text:
            _fail(
                where,
                "two evaluations with the same seed differ; draw random numbers from a generator seeded by ctx.seed",
            )
        registry = host.registries.metrics
        beside = [m for m in metric_names(registry) if registry.get(m).default or m == name]  # on-request ones stay off
        try:
            together = run(beside)
        except Exception as exc:
            _fail(
                where,
                f"evaluating it with every installed metric failed: {type(exc).__name__}: {' '.join(str(exc).split())}",
            )
        if json.dumps(together.get(name), sort_keys=True) != text:
            _fail(
                where,
                "its result changes when other metrics run beside it; seed a generator of your own from ctx.seed "
                "and a constant instead of using a global random stream",
            )
    return value


def check_callback(
    factory: Callable[[RunInfo], Any],
    host: Any = None,
    regularisers: Mapping[str, Mapping[str, Any]] | None = None,
    device: torch.device | str = "cpu",
) -> Callback:
    """Check a callback factory against the events of a real two-step run; return the callback.

    The run is the kit's backbone on the kit's data with the default ``train`` settings, and with
    ``regularisers`` (``{NAME: options}``) turned on, e.g. the terms the callback reports on. The
    factory gets the run's :class:`RunInfo`, with its ``options`` class's defaults (which must
    build with no key given) and not asked for, as under ``train.callbacks = ["*"]``; returning
    None is :class:`NotApplicable`. The callback must then accept, in a run's order,
    ``on_train_start`` (a new run), the run's real :class:`LogEvent` and one with a nan metric, an
    :class:`ImageEvent` with an RGB and a grey picture, the run's :class:`CheckpointEvent` and
    :class:`RunEndEvent`.
    """
    where = f"callback factory {getattr(factory, '__name__', type(factory).__name__)!r}"
    if not callable(factory):
        _fail(where, "must be a function of RunInfo returning a Callback or None")
    options = None
    cls = options_class(factory)
    if cls is not None:
        try:
            options = parse_option_table("train.callback_options.kit", cls, {})
        except Exception as exc:
            _fail(where, f"its options class must build with no keys given: {' '.join(str(exc).split())}")
    loss = {n: {"weight": 1.0, **dict(o)} for n, o in (regularisers or {}).items()}
    with _kit(host) as (host, tmp):
        # Figures on, as by default: a callback may stay out of runs without them.
        trainer = _kit_trainer(_kit_config(None, 2, device, loss, figures=True), tmp / "run", host)
        result = trainer.run()
        info = RunInfo(trainer.run_dir, trainer.assembly, trainer.device, resumed=False, options=options)
        callback = factory(info)
        if callback is None:
            raise NotApplicable("its factory returns None for the kit's run (it stays out of runs like it)")
        where = f"{where} (callback {type(callback).__name__})"
        metrics = dict(result.metrics)
        pictures = {"samples": torch.rand(3, 8, 8), "traversal": torch.rand(1, 8, 8)}
        events = (
            ("on_train_start", TrainStartEvent(0)),
            ("on_log", LogEvent(result.step - 1, metrics)),
            ("on_log", LogEvent(result.step, {**metrics, "kit_nan": float("nan")})),
            ("on_images", ImageEvent(result.step, pictures)),
            ("on_checkpoint", CheckpointEvent(result.step, result.checkpoint, trainer.G)),
            ("on_run_end", RunEndEvent(result.step, result.checkpoint, False)),
        )
        for method, event in events:
            handler = getattr(callback, method, None)
            if not callable(handler):
                _fail(where, f"has no {method}(event) method; subclass infogan_toolkit.api.Callback")
            try:
                handler(event)
            except Exception as exc:
                _fail(
                    where, f"{method}({type(event).__name__}) raised {type(exc).__name__}: {' '.join(str(exc).split())}"
                )
    return callback


def check_feature_extractor(extractor: Any, image_shape: tuple[int, int, int] = (1, 8, 8), n: int = 8) -> Any:
    """Check a feature extractor on ``n`` of the kit's labelled images of ``image_shape``; return its module.

    Checks: ``description`` is one line and ``datasets`` a tuple of names; a reason from
    ``not_applicable`` is :class:`NotApplicable`; ``build`` returns a module with an int
    ``num_features`` mapping [0, 1] images to finite float features ``(n, num_features)`` on the
    device, the same for the same images, and for an image whether it comes in a small batch or a larger one
    (eval mode: no batch statistics; two images alone against the same two in the batch); ``identity`` is JSON-ready.
    """
    from .extractors import ExtractorRequest, FeatureExtractor

    where = f"feature extractor {type(extractor).__name__}"
    if not isinstance(extractor, FeatureExtractor):
        _fail(where, "must be a FeatureExtractor instance (an object, not the class)")
    if not isinstance(extractor.description, str) or not extractor.description.strip() or "\n" in extractor.description:
        _fail(where, f"description must be one non-empty line, got {extractor.description!r}")
    if not isinstance(extractor.datasets, tuple) or not all(isinstance(d, str) for d in extractor.datasets):
        _fail(where, f"datasets must be a tuple of dataset names, got {extractor.datasets!r}")
    data = KitBars().load(DatasetRequest(root=None, split="train", download=False, image_shape=image_shape, options={}))
    with tempfile.TemporaryDirectory(prefix="infogan-tk-kit-") as tmp:
        request = ExtractorRequest(
            cast("tuple[int, int, int]", tuple(image_shape)),
            torch.device("cpu"),
            Path(tmp),
            KIT_DATASET,
            lambda: data,
            lambda _line: None,
        )
        reason = extractor.not_applicable(request)
        if reason is not None:
            if not isinstance(reason, str) or not reason.strip() or "\n" in reason:
                _fail(where, f"not_applicable(request) must return None or a one-line reason, got {reason!r}")
            raise NotApplicable(f"not applicable to the kit's {'x'.join(map(str, image_shape))} images: {reason}")
        module = extractor.build(request)
        size = getattr(module, "num_features", None)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            _fail(where, f"build(request) must return a module with an int num_features >= 1, got {size!r}")
        x = data.images(torch.arange(min(n, len(data)))).float() / 255
        with torch.no_grad():
            feats = _is_tensor(where, "build(request)(images)", module(x))
            if tuple(feats.shape) != (x.shape[0], size) or not feats.is_floating_point():
                _fail(where, f"features must be float ({x.shape[0]}, {size}), got {feats.dtype} {tuple(feats.shape)}")
            _finite(where, "features", feats)
            if not torch.equal(module(x), feats):
                _fail(
                    where, "the same images give different features; build the module in eval mode, without randomness"
                )
            if not torch.allclose(module(x[:2]), feats[:2], rtol=1e-4, atol=1e-5):
                _fail(where, "an image's features depend on the rest of its batch; use eval mode (no batch statistics)")
        try:
            json.dumps(extractor.identity(request))
        except (TypeError, ValueError) as exc:
            _fail(where, f"identity(request) must be JSON-ready: {exc}")
    return module


@attrs.frozen
class CliResult:
    """What a command printed and its exit status."""

    exit_code: int  #: the process's exit status
    stdout: str  #: everything on standard output
    stderr: str  #: everything on standard error

    @property
    def output(self) -> str:
        """Both streams, standard output first."""
        return self.stdout + self.stderr


def invoke_cli(*args: str, timeout: float = 600) -> CliResult:
    """Run ``infogan-tk ARGS`` as a user does, in a child process of this Python with this
    process's environment, and return what it printed: how a plugin's own tests drive the command
    line (a fresh process, so the plugins load as they would for the user)."""
    import subprocess
    import sys

    code = "from infogan_toolkit.cli.entry import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    return CliResult(done.returncode, done.stdout, done.stderr)
