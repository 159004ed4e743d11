"""Conformance checks a plugin author runs against their own code kind, head, backbone or dataset.

Each check is a plain function that raises :class:`AssertionError` with a message naming what is
wrong, so it works from pytest or from a script::

    from infogan_toolkit.testing import check_code_kind, check_head

    def test_my_code_kind():
        check_code_kind(make_my_codes, "3", heads={"my-head": MyHead()})

The checks only use the interfaces in :mod:`infogan_toolkit.codes`, :mod:`infogan_toolkit.backbones`
and :mod:`infogan_toolkit.datasets`; they know nothing about any concrete plugin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .backbones import Backbone, BuildRequest, InfoDiscriminator, Networks
from .codes import LatentCode, QHead, parse_code_spec
from .datasets import DatasetPlugin, DatasetRequest, ImageDataset
from .errors import ToolkitError

__all__ = ["check_backbone", "check_code_kind", "check_code_with_head", "check_dataset", "check_gradients_reach", "check_head"]

#: Output ranges a backbone may declare, as (low, high).
_RANGES = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}
#: Slack for float rounding at the edges of an output range and in normalisation sums.
_TOL = 1e-4


def _fail(where: str, problem: str) -> None:
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
        _fail(where, "sample is not reproducible: two draws with the same seeded generator differ; pass generator= to torch")
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
            _fail(where, "no gradient reaches the parameters from batch_information; a term on the real batch could not train Q")


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

    support = code.target(code.traversal(code.categories).to(device))
    k = support.shape[0]
    flat_t, flat_s = target.reshape(n, -1), support.reshape(k, -1)
    if k != code.categories or torch.unique(flat_s, dim=0).shape[0] != k:
        _fail(where, f"the traversal lists {k} values ({torch.unique(flat_s, dim=0).shape[0]} distinct) but categories is {code.categories}; they must agree")
    inside = (flat_t[:, None, :] == flat_s[None, :, :]).all(dim=2).any(dim=1)
    if not bool(inside.all()):
        _fail(where, "a prior sample is not among the traversal values; a discrete code's traversal must list every category")
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
        _fail(where, f"point_estimate has shape {tuple(estimate.shape)}; a discrete code's must be ({n},) category indices")
    as_index = estimate.long()
    if not torch.equal(as_index.to(estimate.dtype), estimate) or bool((as_index < 0).any()) or bool((as_index >= k).any()):
        _fail(where, f"point_estimate gives values outside range({k}) (min {estimate.min().item():g}, max {estimate.max().item():g}); "
                     "it must return a category index, which evaluation counts")


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
    check_gradients_reach(where, "the D logit", (logit * w_d).sum(), {"G": g, "trunk": d.trunk, "d_head": d.d_head}, (g, d))
    logit, q = d(g(z))
    check_gradients_reach(where, "the Q output", (q * w_q).sum(), {"G": g, "trunk": d.trunk, "q_head": d.q_head}, (g, d))
    for m in (g, d):
        m.zero_grad(set_to_none=True)
    from .plugins import PluginHost  # late: building a host loads every installed plugin

    for entry in PluginHost().registries.regularisers:
        entry.obj.check_backbone(backbone, request, nets, device)
    return nets


def check_gradients_reach(where: str, source: str, loss: Tensor, parts: dict[str, torch.nn.Module], all_modules) -> None:
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
        _fail(where, f"images() must return uint8, got {imgs.dtype}; keep pixels as bytes and let the engine scale them")
    if tuple(imgs.shape) != (index.shape[0], *shape):
        _fail(where, f"images() gives shape {tuple(imgs.shape)}; expected (len(index), *image_shape) = {(index.shape[0], *shape)}")
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
            _fail(where, f"{f} factor columns but {len(ds.factor_names)} factor_names and {len(ds.factor_sizes)} factor_sizes")
        sizes = torch.tensor(ds.factor_sizes, device=factors.device)
        if bool((factors < 0).any()) or bool((factors >= sizes).any()):
            _fail(where, "a factor value lies outside 0..factor_sizes-1")
    return ds
