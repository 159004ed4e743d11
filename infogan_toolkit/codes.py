"""Latent codes and Q heads: the interfaces, the code-spec grammar, and the resolved code set.

A *code kind* (registered by a plugin under a prefix such as ``cat``) turns the argument of a spec
token into one or more :class:`LatentCode` objects. A *Q head* (registered by name) turns the
Q network's raw outputs into a distribution over a code's value and scores the sampled value.
The core never knows which kinds or heads exist.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import attrs
import torch
from torch import Tensor

from .errors import CodeSpecError
from .suggest import did_you_mean


class LatentCode(ABC):
    """One factor ``c_i`` of the latent code, with a fixed prior.

    ``value`` tensors are whatever the code finds natural (class indices, floats, angles); the engine
    only passes them between this code's own methods and its head.
    """

    #: True for codes with a finite support (their L_I is bounded by H(c)).
    discrete: bool = False
    #: Name of the Q head family this code's target fits, e.g. "categorical" or "real".
    head_family: str = "real"
    #: Name of the registered Q head used unless the configuration picks another.
    default_head: str = "gaussian"

    @property
    @abstractmethod
    def width(self) -> int:
        """Number of generator-input units this code occupies."""

    @property
    @abstractmethod
    def target_size(self) -> int:
        """What the head sizes itself by (``QHead.param_width(target_size)``): for the built-in codes
        the number of classes or of real dimensions; a head may read it otherwise (a one-logit
        binary head is sized by 1 for 2 categories)."""

    @property
    def categories(self) -> int | None:
        """A discrete code's number of categories: its traversal lists them and the head's point
        estimate is a category index in ``range(categories)`` (what evaluation counts). None for a
        continuous code. Defaults to ``target_size`` for discrete codes; override it when the two differ."""
        return self.target_size if self.discrete else None

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Tensor:
        """Draw ``n`` values from the prior."""

    @abstractmethod
    def encode(self, value: Tensor) -> Tensor:
        """Map values to the generator input, shape ``(n, width)``, float."""

    @abstractmethod
    def target(self, value: Tensor) -> Tensor:
        """Map values to what the head's ``log_prob`` scores (indices or floats)."""

    @abstractmethod
    def entropy(self) -> float:
        """Prior entropy H(c) in nats (differential entropy for continuous codes)."""

    @abstractmethod
    def traversal(self, steps: int, low: float = -1.0, high: float = 1.0) -> Tensor:
        """Values for a latent traversal: every category, or ``steps`` points from low to high."""

    @abstractmethod
    def describe(self) -> str:
        """Short human name of the prior, e.g. ``Cat(10)``."""

    def control(self) -> "CodeControl":
        """How an interactive tool (``infogan-tk explore``) lets a person set this code: one button
        per category for a discrete code, else a slider from -2 to 2 with the prior's usual part
        marked as -1 to 1. Optional: override it to declare the code's own range (an angle's
        ``[0, 2 pi)``, say) or category labels; the tool builds its control from this alone."""
        if self.discrete and self.categories is not None:
            return CodeControl(kind="choice", labels=tuple(str(k) for k in range(self.categories)))
        return CodeControl(kind="range", low=-2.0, high=2.0, prior=(-1.0, 1.0))

    def value_from_control(self, number: float) -> Tensor:
        """The value, one row, that a control set to ``number`` stands for (what :meth:`encode`
        takes). Optional: by default a category index for a discrete code, else the float itself;
        the same number a head's ``point_estimate`` gives, so Q's reading can be set back."""
        if self.discrete:
            return torch.tensor([int(number)], dtype=torch.long)
        return torch.tensor([float(number)], dtype=torch.float32)


@attrs.frozen
class CodeControl:
    """What :meth:`LatentCode.control` declares: how a person sets one code's value.

    ``kind`` is ``"choice"`` (one button per category, its value the category index, ``labels``
    naming each) or ``"range"`` (a slider from ``low`` to ``high``, the prior's usual part
    ``prior`` marked on it, ``wraps`` when ``low`` and ``high`` are the same point, as on a circle).
    """

    #: ``"choice"`` (a button per category) or ``"range"`` (a slider).
    kind: str
    #: A choice's label per category, in category order (category ``k`` is the value ``k``).
    labels: tuple[str, ...] = ()
    #: A range's lowest value.
    low: float = -2.0
    #: A range's highest value.
    high: float = 2.0
    #: The part of a range the prior usually draws from, marked on the slider; None for none.
    prior: tuple[float, float] | None = None
    #: True when a range's ``low`` and ``high`` are one point (an angle), so a traversal shows it once.
    wraps: bool = False

    def __attrs_post_init__(self) -> None:
        if self.kind not in ("choice", "range"):
            raise ValueError(f"control kind must be 'choice' or 'range', got {self.kind!r}")
        if self.kind == "choice" and not self.labels:
            raise ValueError("a 'choice' control needs at least one label")
        if self.kind == "range" and not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"a 'range' control needs finite low < high, got {self.low}, {self.high}")

    def as_dict(self) -> dict:
        """JSON-ready form, as the explore page reads it."""
        if self.kind == "choice":
            return {"kind": "choice", "labels": list(self.labels)}
        return {
            "kind": "range",
            "low": float(self.low),
            "high": float(self.high),
            "prior": list(self.prior) if self.prior is not None else None,
            "wraps": bool(self.wraps),
        }


class QHead(ABC):
    """Turns Q's raw outputs for one code into a distribution and scores values under it."""

    #: The code head_family this head can model.
    family: str = "real"

    @abstractmethod
    def param_width(self, target_size: int) -> int:
        """Number of Q output units needed for a code of this target size."""

    @abstractmethod
    def log_prob(self, params: Tensor, target: Tensor) -> Tensor:
        """Log-likelihood of ``target`` under the distribution given by ``params``; shape ``(n,)``."""

    @abstractmethod
    def point_estimate(self, params: Tensor) -> Tensor:
        """A representation for evaluation: the class index, or the mean; shape ``(n,)`` or ``(n, d)``."""

    def log_prob_ceiling(self, target_size: int) -> float | None:
        """The highest ``log Q(c|x)`` this head gives a value it reads perfectly, per sample, for a
        code of ``target_size``: 0 for a softmax, ``-log(std) - log(2 pi)/2`` per dimension for a
        Gaussian of fixed std. None where there is no such ceiling (a learned std can shrink). With
        the prior entropy it gives the most L_I a code can reach, which the progress line and the
        summary show beside L_I. Optional: None by default."""
        return None

    def describe(self, params: Tensor) -> dict[str, Tensor]:
        """Named per-image outputs for ``infogan-tk encode``, each ``(n,)`` or ``(n, d)``: what Q says
        about each image (a class and its probabilities, a mean and a std). Optional: by default the
        point estimate alone, as ``estimate``."""
        return {"estimate": self.point_estimate(params)}

    #: True when :meth:`batch_information` is defined (heads over a finite support can define it).
    has_batch_information: bool = False

    def batch_information(self, params: Tensor) -> Tensor:
        """Mutual information, in nats, between a batch's inputs and this head's prediction:
        ``H(mean_x Q(.|x)) - mean_x H(Q(.|x))``, a scalar; regularisers read it on real batches.

        Optional: a head that sets ``has_batch_information = True`` must override it."""
        raise NotImplementedError(f"{type(self).__name__} defines no batch_information")


#: A code-kind factory receives the token's argument string and returns the codes it makes.
CodeKind = Callable[[str], Sequence[LatentCode]]


def _short(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters for a message, so a hostile spec cannot flood the terminal."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: Bound on the generator inputs (and Q outputs) all codes together may need: far above any real
#: run, low enough that a mistyped spec is refused before anything is allocated.
MAX_CODE_WIDTH = 65_536

_TOKEN = re.compile(
    r"^(?P<kind>[A-Za-z_]+)(?P<args>\d+(?:\.\d+)?)?(?:x(?P<repeat>\d+))?(?:@(?P<lam>[^@]*))?$",
    re.ASCII,  # digits are 0-9 only: a spec in other scripts' digits is refused, not read as numbers
)


@attrs.frozen
class CodeToken:
    """One parsed spec token, before its kind is looked up."""

    text: str
    position: int  # 1-based
    kind: str
    args: str
    repeat: int
    weight: float | None


def parse_code_spec(spec: str) -> list[CodeToken]:
    """Parse ``"cat10x4,unif2@0.1"`` into tokens; raise :class:`CodeSpecError` naming the bad token."""
    if not isinstance(spec, str) or not spec.strip():
        raise CodeSpecError("empty code spec; give comma-separated tokens such as 'cat10,unif2'")
    tokens = []
    shown = _short(spec)
    for i, raw in enumerate(spec.split(","), start=1):
        text = raw.strip()
        where = f"in '{shown}' (token {i})"
        if not text:
            raise CodeSpecError(f"empty token {where}; remove the extra comma")
        m = _TOKEN.match(text)
        if not m:
            raise CodeSpecError(
                f"cannot parse token '{_short(text)}' {where}; expected KIND ARGS [xREPEAT] [@LAMBDA], e.g. 'cat10x4' "
                "or 'unif2@0.1'"
            )
        if m["repeat"] is not None and len(m["repeat"].lstrip("0")) > 4:
            raise CodeSpecError(f"the repeat count {where} must be between 1 and 1000")
        repeat = int(m["repeat"]) if m["repeat"] is not None else 1
        if repeat < 1 or repeat > 1000:
            raise CodeSpecError(f"repeat count {repeat} of token '{text}' {where} must be between 1 and 1000")
        weight = None
        if m["lam"] is not None:
            try:
                weight = float(m["lam"])
            except ValueError:
                raise CodeSpecError(
                    f"lambda '{_short(m['lam'])}' of token '{_short(text)}' {where} is not a number; write e.g. '@0.1'"
                ) from None
            if not math.isfinite(weight) or weight < 0:
                raise CodeSpecError(
                    f"lambda {_short(m['lam'])} of token '{_short(text)}' {where} must be a finite number >= 0"
                )
        tokens.append(CodeToken(text, i, m["kind"].lower(), m["args"] or "", repeat, weight))
    return tokens


@attrs.frozen
class ResolvedCode:
    """A code in a run: its prior, its head, its weight lambda, and where its slices lie."""

    name: str  # c1, c2, ...
    kind: str
    token: str
    code: LatentCode
    head_name: str
    head: QHead
    weight: float
    input_slice: slice
    param_slice: slice

    def log_likelihood(self, q_params: Tensor, value: Tensor) -> Tensor:
        """log Q(c_i | x) for each row, from the full Q output."""
        return self.head.log_prob(q_params[:, self.param_slice], self.code.target(value))

    def information_reach(self) -> float | None:
        """The most L_I this code can reach with its head: H(c) plus the head's log-likelihood
        ceiling (:meth:`QHead.log_prob_ceiling`); None where the head has no ceiling."""
        ceiling = self.head.log_prob_ceiling(self.code.target_size)
        return None if ceiling is None else float(self.code.entropy()) + float(ceiling)


class CodeSet:
    """The ordered latent codes of a run, and the operations the engine needs on all of them."""

    def __init__(self, codes: Sequence[ResolvedCode], spec: str) -> None:
        self.codes = list(codes)
        self.spec = spec
        self.width = sum(c.code.width for c in self.codes)
        self.param_width = sum(c.param_slice.stop - c.param_slice.start for c in self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self):
        return iter(self.codes)

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> list[Tensor]:
        """Draw a value for every code."""
        return [c.code.sample(n, generator, device) for c in self.codes]

    def partners(
        self, values: Sequence[Tensor], generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> tuple[list[Tensor], Tensor]:
        """For each row of ``values``, code values that keep one code (chosen uniformly per row) and
        draw every other code afresh; returns them and the kept code's index per row."""
        n = values[0].shape[0]
        which = torch.randint(len(self.codes), (n,), generator=generator, device=device)
        return self.share_one(values, self.sample(n, generator, device), which), which

    def share_one(self, first: Sequence[Tensor], second: Sequence[Tensor], which: Tensor) -> list[Tensor]:
        """``second`` with code ``which[r]`` of each row ``r`` taken from ``first``: pairs of code
        values that share exactly one code (``which`` is ``(n,)`` code indices)."""
        out = []
        for i, (a, b) in enumerate(zip(first, second)):
            same = (which == i).reshape(-1, *([1] * (a.dim() - 1)))
            out.append(torch.where(same, a, b))
        return out

    def encode(self, values: Sequence[Tensor]) -> Tensor:
        """Concatenate every code's generator input, shape ``(n, width)``."""
        if not self.codes:
            raise ValueError("encode needs at least one code")
        return torch.cat([c.code.encode(v) for c, v in zip(self.codes, values)], dim=1)

    def log_likelihoods(self, q_params: Tensor, values: Sequence[Tensor]) -> Tensor:
        """Per-code mean log Q(c_i|x) over the batch, shape ``(L,)``."""
        return torch.stack([c.log_likelihood(q_params, v).mean() for c, v in zip(self.codes, values)])

    def batch_informations(self, q_params: Tensor) -> Tensor:
        """Per-code :meth:`QHead.batch_information` over the batch, shape ``(L,)``; 0 for heads without one."""
        zero = q_params.new_zeros((), dtype=torch.float32)
        return torch.stack(
            [
                c.head.batch_information(q_params[:, c.param_slice]) if c.head.has_batch_information else zero
                for c in self.codes
            ]
        )

    def weights(self, device: torch.device | str = "cpu") -> Tensor:
        """Per-code lambda as a tensor."""
        return torch.tensor([c.weight for c in self.codes], dtype=torch.float32, device=device)

    def reaches(self) -> list[float | None]:
        """Each code's :meth:`ResolvedCode.information_reach`."""
        return [c.information_reach() for c in self.codes]

    def entropies(self) -> list[float]:
        """Per-code prior entropy H(c_i)."""
        return [c.code.entropy() for c in self.codes]

    def describe(self) -> list[dict]:
        """JSON-friendly summary of every code."""
        return [
            {
                "name": c.name,
                "kind": c.kind,
                "token": c.token,
                "prior": c.code.describe(),
                "head": c.head_name,
                "lambda": c.weight,
                "entropy": c.code.entropy(),
                "discrete": c.code.discrete,
            }
            for c in self.codes
        ]


def resolve_codes(
    spec: str,
    kinds,
    heads,
    head_overrides: dict[str, str] | None = None,
    lambda_discrete: float = 1.0,
    lambda_continuous: float = 1.0,
) -> CodeSet:
    """Resolve a spec against the code-kind and head registries into a :class:`CodeSet`.

    ``head_overrides`` maps a code kind to the head it should use instead of its default.
    """
    head_overrides = {k.lower(): v for k, v in (head_overrides or {}).items()}
    for kind in head_overrides:
        if kind not in kinds:
            raise CodeSpecError(
                f"head override names unknown code kind '{kind}'.{did_you_mean(kind, kinds.names())} Known: "
                f"{', '.join(kinds.names())}."
            )
    resolved: list[ResolvedCode] = []
    in_at = p_at = 0
    for tok in parse_code_spec(spec):
        where = f"in '{_short(spec)}' (token {tok.position})"
        if tok.kind not in kinds:
            hint = did_you_mean(tok.kind, kinds.names()).strip()
            raise CodeSpecError(
                f"unknown code kind '{tok.kind}' {where}; "
                f"{kinds.disabled_note(tok.kind) or (hint.lower() if hint else 'known: ' + ', '.join(kinds.names()))}"
            )
        factory = kinds.get(tok.kind)
        for _ in range(tok.repeat):
            try:
                made = list(factory(tok.args))
            except (ValueError, TypeError) as exc:
                raise CodeSpecError(f"bad arguments in token '{_short(tok.text)}' {where}: {exc}") from None
            for code in made:
                head_name = head_overrides.get(tok.kind, code.default_head)
                head = heads.get(head_name)
                if head.family != code.head_family:
                    raise CodeSpecError(
                        f"head '{head_name}' models '{head.family}' codes but '{tok.text}' {where} needs a "
                        f"'{code.head_family}' head; pick a matching head"
                    )
                pw = head.param_width(code.target_size)
                weight = (
                    tok.weight if tok.weight is not None else (lambda_discrete if code.discrete else lambda_continuous)
                )
                resolved.append(
                    ResolvedCode(
                        name=f"c{len(resolved) + 1}",
                        kind=tok.kind,
                        token=tok.text,
                        code=code,
                        head_name=head_name,
                        head=head,
                        weight=float(weight),
                        input_slice=slice(in_at, in_at + code.width),
                        param_slice=slice(p_at, p_at + pw),
                    )
                )
                in_at += code.width
                p_at += pw
                if in_at > MAX_CODE_WIDTH or p_at > MAX_CODE_WIDTH:
                    raise CodeSpecError(
                        f"the codes '{_short(spec)}' need more than {MAX_CODE_WIDTH:,} generator inputs or Q outputs; "
                        "use fewer or smaller codes"
                    )
    return CodeSet(resolved, spec)
