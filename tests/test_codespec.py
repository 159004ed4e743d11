"""The code-spec grammar: valid specs, clear errors for invalid ones, and fuzzed strings."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infogan_toolkit.codes import parse_code_spec, resolve_codes
from infogan_toolkit.errors import CodeSpecError, ToolkitError
from infogan_toolkit.plugins import PluginHost


@pytest.fixture(scope="module")
def regs():
    return PluginHost().registries


def test_paper_specs_resolve(regs):
    mnist = resolve_codes("cat10,unif2", regs.codes, regs.heads)
    assert [c.code.describe() for c in mnist] == ["Cat(10)", "Unif(-1,1)", "Unif(-1,1)"]
    assert mnist.width == 12 and mnist.param_width == 10 + 2 * 2  # learned-std Gaussian: mean and log std
    svhn = resolve_codes("cat10x4,unif4", regs.codes, regs.heads)
    assert len(svhn) == 8 and svhn.width == 44
    assert [c.name for c in svhn] == [f"c{i}" for i in range(1, 9)]
    celeba = resolve_codes("cat10x10", regs.codes, regs.heads)
    assert celeba.width == 100


def test_slices_are_contiguous_and_cover_the_widths(regs):
    cs = resolve_codes("unif1,cat20x3,gauss2", regs.codes, regs.heads)
    at = pt = 0
    for c in cs:
        assert c.input_slice.start == at and c.param_slice.start == pt
        at, pt = c.input_slice.stop, c.param_slice.stop
    assert at == cs.width == 1 + 60 + 2 and pt == cs.param_width


def test_per_code_lambda_and_defaults(regs):
    cs = resolve_codes("cat10,unif2@0.1", regs.codes, regs.heads, lambda_discrete=2.0, lambda_continuous=0.5)
    assert [c.weight for c in cs] == [2.0, 0.1, 0.1]
    cs = resolve_codes("cat10@0,unif1", regs.codes, regs.heads, lambda_continuous=0.5)
    assert [c.weight for c in cs] == [0.0, 0.5]


def test_head_override_and_family_check(regs):
    cs = resolve_codes("cat10,unif2", regs.codes, regs.heads, head_overrides={"unif": "gaussian-fixed"})
    assert cs.param_width == 10 + 2
    with pytest.raises(CodeSpecError, match="models 'categorical' codes"):
        resolve_codes("unif2", regs.codes, regs.heads, head_overrides={"unif": "softmax"})
    with pytest.raises(CodeSpecError, match="unknown code kind 'unf'"):
        resolve_codes("unif2", regs.codes, regs.heads, head_overrides={"unf": "gaussian"})


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("cat10,unf2", "unknown code kind 'unf' in 'cat10,unf2' (token 2); did you mean 'unif'?"),
        ("cat10,,unif2", "empty token in 'cat10,,unif2' (token 2)"),
        ("", "empty code spec"),
        ("cat", "bad arguments in token 'cat'"),
        ("cat1", "at least 2 categories"),
        ("cat10x0", "repeat count 0"),
        ("cat10@-1", "must be a finite number >= 0"),
        ("cat10@abc", "is not a number"),
        ("cat10@nan", "must be a finite number >= 0"),
        ("10cat", "cannot parse token '10cat'"),
        ("unif2.5", "not a whole number"),
        ("cat10 x4", "cannot parse token"),
    ],
)
def test_invalid_specs_name_the_token(regs, spec, fragment):
    with pytest.raises(CodeSpecError) as info:
        resolve_codes(spec, regs.codes, regs.heads)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_tokens_record_position():
    toks = parse_code_spec("cat10x4, unif2@0.1")
    assert [(t.kind, t.args, t.repeat, t.weight, t.position) for t in toks] == [
        ("cat", "10", 4, None, 1),
        ("unif", "2", 1, 0.1, 2),
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="catunifgsx@.,0123456789 -eE_Z", max_size=30))
def test_fuzzed_specs_never_escape_as_tracebacks(spec):
    regs = _REGS
    try:
        cs = resolve_codes(spec, regs.codes, regs.heads)
    except ToolkitError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert len(cs) >= 1
        assert all(math.isfinite(c.weight) and c.weight >= 0 for c in cs)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20))
def test_arbitrary_unicode_is_rejected_cleanly(spec):
    try:
        resolve_codes(spec, _REGS.codes, _REGS.heads)
    except ToolkitError:
        pass


_REGS = PluginHost().registries
