"""The `georft` command tree: help lists the built commands; user mistakes are one line on stderr, exit 2."""

from __future__ import annotations

import pytest

from georft.cli import COMMANDS, main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name, _, _ in COMMANDS:
        assert f"    {name}" in out


def test_user_error_is_one_line(capsys, tmp_path):
    rc = main(["model", "tiny", "--out", str(tmp_path), "--arch", "qwen2_5_vl", "num_layrs=3"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip().splitlines() == [
        'georft model: error: command-line override: unknown key \'num_layrs\'. Did you mean "num_layers"?'
    ]


def test_model_tiny_builds(capsys, tmp_path):
    rc = main(["model", "tiny", "--arch", "qwen3_vl", "--out", str(tmp_path / "m"), "--seed", "3"])
    assert rc == 0
    assert "built tiny qwen3_vl (807,488 parameters)" in capsys.readouterr().out
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_config_check_all(capsys, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert main(["config", "check"]) == 0
    assert "config file(s) valid" in capsys.readouterr().out
