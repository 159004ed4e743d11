"""The plugin host: discovery, disabling, tracing, refusals, provenance, hook docs, built-in maths."""

from __future__ import annotations

import inspect
import math
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch
from torch import distributions as D

import infogan_toolkit.plugins as plugins_mod
from infogan_toolkit import hookimpl, hookspecs
from infogan_toolkit.callbacks import LogEvent, RunEndEvent, RunInfo, TrainStartEvent
from infogan_toolkit.codes import resolve_codes
from infogan_toolkit.errors import CodeSpecError, PluginError, ToolkitError
from infogan_toolkit.plugins import DISABLE_ENV, TRACE_ENV, PluginHost
from infogan_toolkit.registry import UnknownNameError

ROOT = Path(__file__).resolve().parents[1]
BUILTIN_DIST = "infogan-toolkit"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # A developer's shell settings must not change what these tests see.
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.delenv(TRACE_ENV, raising=False)


def _builtin_entry_points() -> list[metadata.EntryPoint]:
    return [
        ep
        for ep in metadata.entry_points(group=plugins_mod.ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == BUILTIN_DIST
    ]


# -- discovery ---------------------------------------------------------------------------------


def test_builtins_load_through_entry_points_with_their_distribution():
    expected = {ep.name for ep in _builtin_entry_points()}
    assert {"codes", "heads", "tensorboard"} <= expected  # declared in the root pyproject.toml
    host = PluginHost()
    for name in expected:
        info = host.plugin_info(name)
        assert info is not None, name
        assert info.status == "loaded", info
        assert info.distribution == BUILTIN_DIST
        assert info.version == metadata.version(BUILTIN_DIST)
    assert host.plugin_info("codes").hooks == ("register_code_kinds",)
    regs = host.registries
    entry = regs.codes.entry("cat")
    assert (entry.plugin, entry.distribution) == ("codes", BUILTIN_DIST)
    assert {"cat", "unif", "gauss"} <= set(regs.codes.names())
    assert {"softmax", "gaussian", "gaussian-fixed"} <= set(regs.heads.names())
    assert regs.heads.entry("softmax").plugin == "heads"
    assert regs.callbacks.entry("tensorboard").distribution == BUILTIN_DIST
    assert [p.as_dict()["name"] for p in host.plugins()] == sorted(p.name for p in host.plugins())


def test_disable_env_blocks_plugins_by_name(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, " heads , tensorboard")
    host = PluginHost()
    for name in ("heads", "tensorboard"):
        info = host.plugin_info(name)
        assert info.status == "disabled" and info.distribution == BUILTIN_DIST
    regs = host.registries
    assert "softmax" not in regs.heads and "tensorboard" not in regs.callbacks
    assert "cat" in regs.codes  # the others keep working
    with pytest.raises(
        UnknownNameError,
        match=r"unknown Q head 'softmax': plugin 'heads' \(infogan-toolkit\) provides it but is disabled by "
        r"INFOGAN_TK_DISABLE_PLUGINS; remove 'heads'",
    ):
        resolve_codes("cat10", regs.codes, regs.heads)
    # A disabled plugin is named as disabled, not as missing (installing would not help).
    with pytest.raises(
        PluginError, match=r"Q head 'softmax' \(from distribution 'infogan-toolkit'\): plugin 'heads' .* disabled"
    ):
        host.require_plugin_for("heads", "softmax", BUILTIN_DIST)


def test_disable_env_also_blocks_in_process_registration(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "mine")
    host = PluginHost(load_entry_points=False)
    host.register(_ExtraKind(), "mine")
    assert host.plugin_info("mine").status == "disabled"
    assert "bit" not in host.registries.codes


def test_trace_env_traces_hook_calls_to_stderr(monkeypatch, capfd):
    PluginHost().registries
    assert "register_code_kinds" not in capfd.readouterr().err

    monkeypatch.setenv(TRACE_ENV, "0")
    PluginHost().registries
    assert "register_code_kinds" not in capfd.readouterr().err

    monkeypatch.setenv(TRACE_ENV, "1")
    PluginHost().registries
    err = capfd.readouterr().err
    for hook in ("register_code_kinds", "register_heads", "register_callbacks"):
        assert hook in err
    assert "finish register_code_kinds" in err


def test_failed_import_is_reported_and_the_others_keep_working(monkeypatch, capfd):
    real = metadata.entry_points

    def with_a_broken_one(**kwargs):
        found = list(real(**kwargs))
        if kwargs.get("group") == plugins_mod.ENTRY_POINT_GROUP:
            found.append(metadata.EntryPoint("broken", "no_such_module_for_infogan_tk", plugins_mod.ENTRY_POINT_GROUP))
        return found

    monkeypatch.setattr(plugins_mod.metadata, "entry_points", with_a_broken_one)
    host = PluginHost()
    info = host.plugin_info("broken")
    assert info.status == "failed"
    assert "ModuleNotFoundError" in info.error and "no_such_module_for_infogan_tk" in info.error
    assert "plugin 'broken'" in capfd.readouterr().err
    assert host.plugin_info("codes").status == "loaded"
    regs = host.registries
    assert "cat" in regs.codes and "softmax" in regs.heads
    assert [p.status for p in host.plugins() if p.name == "broken"] == ["failed"]


# -- refusals ----------------------------------------------------------------------------------


class _Misspelled:
    @hookimpl
    def register_codekinds(self, register):
        register("never", lambda args: [])


class _ExtraKind:
    """A well-formed in-process plugin: ``bitN`` = N binary categorical codes."""

    @hookimpl
    def register_code_kinds(self, register):
        from infogan_tk_codes import Categorical

        register("bit", lambda args: [Categorical(2) for _ in range(int(args or 1))])


def test_misspelled_hook_is_refused_and_leaves_nothing_behind():
    host = PluginHost()
    with pytest.raises(PluginError, match=r"plugin 'typo'.*register_codekinds.*docs/hooks.md"):
        host.register(_Misspelled(), "typo")
    assert host.plugin_info("typo") is None
    assert not host.pm.has_plugin("typo")
    assert "cat" in host.registries.codes
    host.register(_ExtraKind(), "typo")  # the name is free again
    host.unregister("typo")


def test_hook_with_wrong_argument_names_is_a_plugin_error():
    class WrongArgs:
        @hookimpl
        def register_code_kinds(self, reg):
            pass

    with pytest.raises(PluginError):
        PluginHost(load_entry_points=False).register(WrongArgs(), "wrong-args")


def test_installed_plugin_with_a_misspelled_hook_is_skipped(monkeypatch, tmp_path):
    (tmp_path / "infogan_tk_typo_plugin.py").write_text(
        "from infogan_toolkit import hookimpl\n\n@hookimpl\ndef register_codekinds(register):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    real = metadata.entry_points

    def with_a_typo(**kwargs):
        found = list(real(**kwargs))
        if kwargs.get("group") == plugins_mod.ENTRY_POINT_GROUP:
            found.append(metadata.EntryPoint("typo", "infogan_tk_typo_plugin", plugins_mod.ENTRY_POINT_GROUP))
        return found

    monkeypatch.setattr(plugins_mod.metadata, "entry_points", with_a_typo)
    try:
        host = PluginHost()
        assert host.plugin_info("typo").status == "failed"
        assert "register_codekinds" in host.plugin_info("typo").error
        assert "cat" in host.registries.codes
    finally:
        sys.modules.pop("infogan_tk_typo_plugin", None)


def test_duplicate_registration_names_both_plugins_and_distributions():
    class Dupe:
        @hookimpl
        def register_code_kinds(self, register):
            register("CAT", lambda args: [])

    host = PluginHost()
    host.register(Dupe(), "dupe", "infogan-tk-dupe", "2.0")
    try:
        with pytest.raises(PluginError) as err:
            host.registries
        msg = str(err.value)
        version = metadata.version(BUILTIN_DIST)
        assert (
            f"code kind 'CAT' is registered twice: by plugin 'codes' ({BUILTIN_DIST} {version}, built in) and by "
            "plugin 'dupe' (infogan-tk-dupe 2.0)" in msg
        )
        # The advice disables the third-party plugin, never the built-in one (which also holds unif, gauss).
        assert "INFOGAN_TK_DISABLE_PLUGINS=dupe" in msg and "=codes" not in msg
        assert "\n" not in msg
        assert [(c.first.plugin, c.second.plugin) for c in host.name_clashes()] == [("codes", "dupe")]
    finally:
        host.unregister("dupe")
    assert "cat" in host.registries.codes
    assert host.name_clashes() == []


def test_clash_between_two_third_party_plugins_offers_either():
    class One:
        @hookimpl
        def register_heads(self, register):
            register("twin", object())

    host = PluginHost(load_entry_points=False)
    host.register(One(), "one", "infogan-tk-one", "1")
    host.register(One(), "two")  # in-process, no distribution
    with pytest.raises(PluginError) as err:
        host.registries
    msg = str(err.value)
    assert "plugin 'one' (infogan-tk-one 1)" in msg and "plugin 'two' (registered in-process)" in msg
    assert "INFOGAN_TK_DISABLE_PLUGINS=one or INFOGAN_TK_DISABLE_PLUGINS=two" in msg


def test_unknown_name_names_the_disabled_plugin_that_provides_it(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "extra,codes")
    host = PluginHost(load_entry_points=False)
    host.register(_ExtraKind(), "extra", "infogan-tk-extra")
    import infogan_tk_codes

    host.register(infogan_tk_codes, "codes", BUILTIN_DIST)
    regs = host.registries
    with pytest.raises(
        UnknownNameError,
        match=r"^unknown code kind 'bit': plugin 'extra' \(infogan-tk-extra\) provides it but is disabled by "
        r"INFOGAN_TK_DISABLE_PLUGINS; remove 'extra' from that list$",
    ):
        regs.codes.get("bit")
    with pytest.raises(
        CodeSpecError,
        match=r"unknown code kind 'cat' in 'cat10' \(token 1\); plugin 'codes' \(infogan-toolkit\) provides it but is "
        r"disabled",
    ):
        resolve_codes("cat10", regs.codes, regs.heads)
    # A name no disabled plugin provides gets the usual answer.
    with pytest.raises(UnknownNameError, match=r"^unknown code kind 'nosuch'\. Known: none"):
        regs.codes.get("nosuch")


def test_a_hook_that_raises_is_reported_with_its_plugin():
    class Raises:
        @hookimpl
        def register_heads(self, register):
            raise RuntimeError("boom")

    host = PluginHost()
    host.register(Raises(), "raiser")
    try:
        with pytest.raises(PluginError, match=r"plugin 'raiser' failed in register_heads: RuntimeError: boom"):
            host.registries
    finally:
        host.unregister("raiser")


def test_did_you_mean_on_unknown_names():
    host = PluginHost()
    regs = host.registries
    with pytest.raises(UnknownNameError, match=r"unknown code kind 'caat'\. Did you mean 'cat'\? Known: .*unif"):
        regs.codes.get("caat")
    with pytest.raises(UnknownNameError, match=r"Did you mean 'softmax'\?"):
        regs.heads.get("sofmax")
    with pytest.raises(
        CodeSpecError, match=r"unknown code kind 'unf' in 'cat10,unf2' \(token 2\); did you mean 'unif'\?"
    ):
        resolve_codes("cat10,unf2", regs.codes, regs.heads)
    with pytest.raises(UnknownNameError, match=r"unknown callback 'zzzz'\. Known:"):
        regs.callbacks.get("zzzz")
    with pytest.raises(PluginError, match=r"pip install infogan-tk-nosuch"):
        host.require_plugin_for("backbones", "nosuch-net", "infogan-tk-nosuch")


def test_in_process_plugin_registers_and_unregisters():
    host = PluginHost()
    host.register(_ExtraKind(), "in-process")
    try:
        info = host.plugin_info("in-process")
        assert (info.status, info.distribution, info.hooks) == ("loaded", None, ("register_code_kinds",))
        regs = host.registries
        assert regs.codes.entry("bit").plugin == "in-process"
        codes = resolve_codes("bit3,cat10", regs.codes, regs.heads)
        assert len(codes) == 4 and codes.width == 3 * 2 + 10
        with pytest.raises(PluginError, match="already registered"):
            host.register(_ExtraKind(), "in-process")
    finally:
        host.unregister("in-process")
    assert host.plugin_info("in-process") is None
    assert "bit" not in host.registries.codes and "cat" in host.registries.codes


# -- the hook reference stays in step with hookspecs.py -----------------------------------------


def _hookspecs() -> dict[str, object]:
    marker = f"{hookspecs.PROJECT}_spec"
    return {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, marker)}


def _doc_sections() -> dict[str, str]:
    text = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    parts = re.split(r"^## +`?([A-Za-z_]+)`? *$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_hook_is_documented_with_its_register_signature():
    specs = _hookspecs()
    assert set(specs) == set(plugins_mod.HOOK_REGISTRIES)  # every hook fills a registry
    sections = _doc_sections()
    for name, fn in specs.items():
        assert name in sections, f"docs/hooks.md has no '## {name}' section"
        section = sections[name]
        params = ", ".join(inspect.signature(fn).parameters)
        assert f"{name}({params})" in section, f"docs/hooks.md section {name} lacks its signature"
        call = re.search(r"register\([^)]*\)", inspect.getdoc(fn))
        assert call, f"hookspec {name} docstring names no register(...) call"
        assert call.group(0) in section, f"docs/hooks.md section {name} lacks '{call.group(0)}'"
        assert "@hookimpl" in section, f"docs/hooks.md section {name} has no example"
    stale = {h for h in sections if h.startswith("register_")} - set(specs)
    assert not stale, f"docs/hooks.md documents hooks that do not exist: {sorted(stale)}"


# -- built-in codes and heads against torch.distributions --------------------------------------


@pytest.fixture(scope="module")
def regs():
    return PluginHost().registries


@pytest.mark.parametrize("k", [2, 10, 37])
def test_categorical_code_and_softmax_head_match_torch(regs, k):
    (code,) = regs.codes.get("cat")(str(k))
    head = regs.heads.get(code.default_head)
    gen = torch.Generator().manual_seed(k)
    values = code.sample(500, gen)
    logits = torch.randn(500, head.param_width(code.target_size), generator=gen) * 3
    ref = D.Categorical(logits=logits)
    torch.testing.assert_close(head.log_prob(logits, code.target(values)), ref.log_prob(values))
    assert code.entropy() == pytest.approx(D.Categorical(probs=torch.full((k,), 1.0 / k)).entropy().item(), rel=1e-6)
    assert torch.equal(head.point_estimate(logits), logits.argmax(1))


@pytest.mark.parametrize("d", [1, 3])
def test_gaussian_heads_match_torch_normal(regs, d):
    gen = torch.Generator().manual_seed(d)
    target = torch.randn(200, d, generator=gen)
    mean = torch.randn(200, d, generator=gen)
    log_std = torch.rand(200, d, generator=gen) * 4 - 2  # inside the head's floor
    learned = regs.heads.get("gaussian")
    assert learned.param_width(d) == 2 * d
    ref = D.Normal(mean, log_std.exp()).log_prob(target).sum(1)
    torch.testing.assert_close(learned.log_prob(torch.cat([mean, log_std], 1), target), ref)
    fixed = regs.heads.get("gaussian-fixed")
    assert fixed.param_width(d) == d
    torch.testing.assert_close(fixed.log_prob(mean, target), D.Normal(mean, 1.0).log_prob(target).sum(1))


def test_uniform_and_gaussian_codes_match_torch(regs):
    unif, gauss = regs.codes.get("unif")("1")[0], regs.codes.get("gauss")("1")[0]
    assert unif.entropy() == pytest.approx(D.Uniform(-1.0, 1.0).entropy().item(), rel=1e-6)
    assert gauss.entropy() == pytest.approx(D.Normal(0.0, 1.0).entropy().item(), rel=1e-6)
    gen = torch.Generator().manual_seed(0)
    u = unif.sample(20_000, gen)
    assert bool(D.Uniform(-1.0, 1.0).support.check(u).all())
    g = gauss.sample(20_000, gen)
    # Loose moments, far outside sampling noise for 20k draws, so the test cannot flake.
    assert abs(u.mean().item()) < 0.05 and abs(u.var().item() - 1 / 3) < 0.03
    assert abs(g.mean().item()) < 0.05 and abs(g.std().item() - 1) < 0.05


def test_code_set_log_likelihoods_use_the_right_slices(regs):
    codes = resolve_codes("cat10,unif2", regs.codes, regs.heads)
    assert codes.width == 12 and codes.param_width == 10 + 2 * 2
    gen = torch.Generator().manual_seed(0)
    values = codes.sample(64, gen)
    q = torch.randn(64, codes.param_width, generator=gen)
    expected = torch.stack(
        [
            D.Categorical(logits=q[:, :10]).log_prob(values[0]).mean(),
            D.Normal(q[:, 10], q[:, 11].exp()).log_prob(values[1]).mean(),
            D.Normal(q[:, 12], q[:, 13].exp()).log_prob(values[2]).mean(),
        ]
    )
    torch.testing.assert_close(codes.log_likelihoods(q, values), expected)
    assert codes.entropies() == pytest.approx([math.log(10), math.log(2), math.log(2)])


# -- the tensorboard callback ------------------------------------------------------------------


def _tensorboard(regs, run_dir, requested=False, is_main=True):
    info = RunInfo(run_dir, None, torch.device("cpu"), resumed=False, requested=requested, is_main=is_main)
    return regs.callbacks.get("tensorboard")(info)


def test_tensorboard_callback_writes_an_event_file(regs, tmp_path):
    pytest.importorskip("torch.utils.tensorboard", reason="tensorboard is not installed")
    assert _tensorboard(regs, tmp_path, requested=True, is_main=False) is None  # the main process writes
    callback = _tensorboard(regs, tmp_path)
    assert callback is not None and not (tmp_path / "tensorboard").exists()  # nothing before the run starts
    callback.on_train_start(TrainStartEvent(0))
    callback.on_log(LogEvent(10, {"loss/d": 0.25, "mi/c1": 2.0}))
    callback.on_log(LogEvent(20, {"loss/d": 0.5, "mi/c1": torch.tensor(2.2)}))
    callback.on_run_end(RunEndEvent(20, None, False))
    files = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(files) == 1 and files[0].stat().st_size > 0

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"loss/d", "mi/c1"}
    assert [(e.step, e.value) for e in acc.Scalars("loss/d")] == [(10, 0.25), (20, 0.5)]


def test_tensorboard_is_off_without_tensorboard_unless_asked_for(regs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    assert _tensorboard(regs, tmp_path) is None
    with pytest.raises(ToolkitError, match=r"pip install 'infogan-toolkit\[tensorboard\]'"):
        _tensorboard(regs, tmp_path, requested=True)
    assert not (tmp_path / "tensorboard").exists()


def test_the_disabled_hint_survives_importlib_metadata_being_imported():
    # importlib_metadata (which mlflow imports) makes the stdlib's entry points that library's
    # class; the hint must still load a disabled plugin to see what it provides.
    pytest.importorskip("importlib_metadata")
    code = (
        "import importlib_metadata\n"
        "from infogan_toolkit.plugins import PluginHost\n"
        "print(PluginHost()._disabled_provider('heads', 'softmax'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, DISABLE_ENV: "heads"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == (
        f"plugin 'heads' (infogan-toolkit) provides it but is disabled by {DISABLE_ENV}; remove 'heads' from that list"
    )
