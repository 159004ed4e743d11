"""Configuration: precedence, unknown keys refused with suggestions, the shipped experiment configs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from infogan_toolkit import build_config
from infogan_toolkit.assembly import resolve
from infogan_toolkit.config import Config, apply_dict, parse_override
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.registry import is_builtin

PAPER_CONFIGS = {
    # name: (backbone, codes, lr_d, lr_g, lambda_continuous, lambda_discrete)
    "mnist": ("mnist", "cat10,unif2", 2e-4, 1e-3, 1.0, 1.0),
    "svhn": ("svhn", "cat10x4,unif2", 2e-4, 1e-3, 1.0, 1.0),
    "svhn-appendix": ("svhn", "cat10x4,unif4", 2e-4, 1e-3, 1.0, 1.0),
    "celeba": ("celeba", "cat10x10", 2e-4, 1e-3, 1.0, 1.0),
    "faces-azimuth": ("faces", "unif5", 2e-4, 5e-4, 0.2, 1.0),
    "faces-elevation": ("faces", "unif5", 4e-4, 3e-4, 0.1, 1.0),
    "faces-lighting": ("faces", "unif5", 8e-4, 3e-4, 0.1, 1.0),
    "chairs-rotation": ("chairs", "unif1,cat20x3", 2e-4, 1e-3, 10.0, 1.0),
    "chairs-width": ("chairs", "unif1,cat20x3", 2e-4, 1e-3, 0.05, 2.0),
}


def test_precedence_defaults_file_flags(host, tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('[train]\nsteps = 7\nbatch_size = 9\n[model]\nbackbone = "tiny"\n')
    cfg = build_config(host, str(f), {"train": {"batch_size": 3, "steps": None}}, ["optim.lr_g=0.5"])
    assert cfg.train.steps == 7  # file beats default
    assert cfg.train.batch_size == 3  # flag beats file
    assert cfg.optim.lr_g == 0.5  # --set
    assert cfg.optim.lr_d == Config().optim.lr_d  # default kept


def test_no_config_and_no_backbone_uses_registered_default(host):
    cfg = build_config(host)
    assert cfg.model.backbone == "mnist"  # `default` is mnist-fast
    assert cfg.data.dataset == "mnist"


def test_noise_dim_zero_is_kept_not_replaced_by_the_backbone_default(host):
    cfg = build_config(host, None, {"model": {"backbone": "tiny", "noise_dim": 0}})
    assert resolve(cfg, host).config.model.noise_dim == 0
    assert resolve(build_config(host, None, {"model": {"backbone": "tiny"}}), host).config.model.noise_dim == 4


def test_backbone_flag_skips_default_config(host):
    cfg = build_config(host, None, {"model": {"backbone": "tiny"}})
    resolved = resolve(cfg, host).config
    assert (resolved.model.codes, resolved.model.noise_dim, resolved.data.dataset) == ("cat4,unif1", 4, "tiny-bars")


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"trian": {"steps": 1}}, "unknown config section 'trian'"),
        ({"train": {"step": 1}}, "unknown config key 'train.step' in test. Did you mean 'steps'?"),
        ({"train": {"steps": "ten"}}, "train.steps must be a whole number"),
        ({"train": {"steps": 0}}, "train.steps must be in [1, 1,000,000,000,000], got 0"),
        ({"optim": {"lr_d": -1.0}}, "optim.lr_d must be > 0"),
        ({"model": {"noise_dim": -1}}, "model.noise_dim must be >= 0"),
        ({"train": {"d_batch": "both"}}, "d_batch"),
        ({"loss": {"info_updates": ["generator", "trnk"]}}, "unknown part 'trnk'. Did you mean 'trunk'?"),
        ({"train": 3}, "must be a table"),
    ],
)
def test_bad_values_are_one_line_errors(data, fragment):
    with pytest.raises(ConfigError) as info:
        apply_dict(Config(), data, "test")
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_set_parses_toml_values():
    assert parse_override("train.steps=12") == {"train": {"steps": 12}}
    assert parse_override("model.codes=cat10,unif2") == {"model": {"codes": "cat10,unif2"}}
    assert parse_override('loss.info_updates=["q_head"]') == {"loss": {"info_updates": ["q_head"]}}
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("steps")


def test_toml_round_trip():
    cfg = apply_dict(Config(), {"model": {"backbone": "x", "options": {"leak": 0.01}}, "train": {"bf16": True}}, "t")
    again = apply_dict(Config(), tomllib.loads(cfg.to_toml()), "round trip")
    assert again == cfg


def test_unknown_backbone_option_is_refused(host):
    cfg = apply_dict(Config(), {"model": {"backbone": "tiny", "options": {"hiden": 8}}}, "t")
    with pytest.raises(ConfigError, match="unknown option model.options.hiden .*Did you mean 'hidden'"):
        resolve(cfg, host)


def test_unknown_config_name_suggests(host):
    with pytest.raises(ConfigError, match="Did you mean 'mnist'"):
        build_config(host, "mnsit")


@pytest.mark.parametrize("name", sorted(PAPER_CONFIGS))
def test_paper_configs_match_the_tables(host, name):
    backbone, codes, lr_d, lr_g, lam_c, lam_d = PAPER_CONFIGS[name]
    cfg = resolve(build_config(host, name), host).config
    assert (cfg.model.backbone, cfg.model.codes) == (backbone, codes)
    assert (cfg.optim.lr_d, cfg.optim.lr_g) == (lr_d, lr_g)
    assert (cfg.loss.lambda_continuous, cfg.loss.lambda_discrete) == (lam_c, lam_d)


def test_config_by_path_equals_config_by_name(host):
    path = host.registries.configs.get("mnist")
    assert build_config(host, str(path)) == build_config(host, "mnist")


def test_each_shipped_config_says_which_regularisers_it_turns_on(host):
    # The one comment line a reader checks, against what the resolved config turns on.
    shipped = [e for e in host.registries.configs if is_builtin(e.distribution) and e.name != "default"]
    assert len(shipped) >= 12
    for entry in shipped:
        text = Path(entry.obj).read_text()
        (said,) = [
            line for line in text.splitlines() if line.startswith("# Regularisers turned on (docs/regularisers.md): ")
        ]
        on = sorted(t.name for t in resolve(build_config(host, entry.name), host).regularisers)
        named = sorted(name for name in host.registries.regularisers.names() if re.search(rf"\b{name}\b", said))
        assert named == on, f"{entry.name}: the comment names {named}, the config turns on {on}"
        assert on or "none" in said, entry.name
