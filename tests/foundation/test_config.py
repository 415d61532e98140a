"""Typed config loader: YAML + overrides, did-you-mean, type errors, duplicate keys, every configs/ YAML valid."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from data_engine.errors import UserError
from georft.config import check_passthrough, load_config, read_yaml, save_config

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Optim:
    lr: float = 1e-3
    betas: list = field(default_factory=lambda: [0.9, 0.99])


@dataclass
class Run:
    name: str = "demo"
    steps: int = 10
    optim: Optim = field(default_factory=Optim)
    trainer: dict = field(default_factory=dict)


def test_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("# cmd\nname: x\noptim:\n  lr: 0.5\n")
    cfg = load_config(Run, f, ["steps=3", "optim.betas=[0.1,0.2]", "trainer.beta=0.04"])
    assert (cfg.name, cfg.steps, cfg.optim.lr, cfg.optim.betas) == ("x", 3, 0.5, [0.1, 0.2])
    assert cfg.trainer == {"beta": 0.04}
    out = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert load_config(Run, out).optim.lr == 0.5  # the saved resolved config reloads to the same values


def test_unknown_key_names_path_and_suggests(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("optim:\n  lrr: 0.5\n")
    with pytest.raises(UserError, match=r"unknown key 'optim\.lrr'\. Did you mean \"lr\"\?"):
        load_config(Run, f)
    with pytest.raises(UserError, match=r"command-line override: unknown key 'stpes'\. Did you mean \"steps\""):
        load_config(Run, None, ["stpes=4"])


def test_wrong_type_names_key():
    with pytest.raises(UserError, match=r"bad value for 'steps'"):
        load_config(Run, None, ["steps=many"])


def test_duplicate_keys_rejected(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("steps: 1\nname: a\nsteps: 2\n")
    with pytest.raises(UserError, match=r"c\.yaml, line 3: duplicate key 'steps'"):
        read_yaml(f)


def test_missing_file_and_bad_override():
    with pytest.raises(UserError, match="config file not found"):
        load_config(Run, "/nonexistent.yaml")
    with pytest.raises(UserError, match="not of the form key=value"):
        load_config(Run, None, ["steps"])


def test_passthrough_section_checked_against_dataclass():
    check_passthrough({"lr": 1.0}, Optim, "trainer")
    with pytest.raises(UserError, match=r"'btas' is not a Optim field\. Did you mean \"betas\""):
        check_passthrough({"btas": 1.0}, Optim, "trainer")


def test_every_config_in_repo_is_valid():
    from georft.config import CONFIG_KINDS, check_config_file

    files = sorted((REPO / "configs").rglob("*.yaml"))
    # Every configs/ folder must have a schema; count the files so a silently skipped folder would show.
    folders = {f.relative_to(REPO / "configs").parts[0] for f in files}
    assert folders <= set(CONFIG_KINDS), folders - set(CONFIG_KINDS)
    assert len(files) >= 2
    for f in files:
        check_config_file(f, REPO / "configs")


def test_yaml_12_booleans_keep_no_as_string(tmp_path):
    # YAML 1.1 would read `no` as False and break TRL's save_strategy: "no".
    f = tmp_path / "c.yaml"
    f.write_text("name: no\ntrainer: {save_strategy: no, flag: true, lr: 1e-3}\n")
    cfg = load_config(Run, f, ["trainer.other=off"])
    assert cfg.name == "no" and cfg.trainer == {"save_strategy": "no", "flag": True, "lr": 0.001, "other": "off"}
