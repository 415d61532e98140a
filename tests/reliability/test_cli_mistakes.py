"""User mistakes print one line and exit 2, through the real command line (issue 19, item 11)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from georft.cli import main as cli

REPO = Path(__file__).resolve().parents[2]


def _one_line(capsys, args: list[str], needle: str) -> None:
    capsys.readouterr()
    assert cli(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len([ln for ln in err.splitlines() if ": error: " in ln]) == 1, err
    assert needle in err, err


@pytest.mark.parametrize(("override", "needle"), [
    ("trainer.max_steps=abc", "trainer.max_steps: expected int, got 'abc'"),
    ("trainer.learning_rate=fast", "trainer.learning_rate: expected float, got 'fast'"),
    ("trainer.max_steps=-5", "trainer.max_steps must be > 0 (or -1: train by num_train_epochs), got -5"),
    ("data.box_type=rbox", "data.box_type must be one of hbb, obb, poly, got 'rbox'"),
])
def test_training_stages_refuse_bad_values_before_any_work(capsys, tmp_path, override, needle):
    for stage in ("sft", "grpo"):
        _one_line(capsys, [stage, "--config", str(REPO / f"configs/{stage}/demo_cpu.yaml"),
                           f"output_dir={tmp_path / stage}", override], needle)
        assert not (tmp_path / stage).exists()


def test_config_check_catches_what_training_would_trip_on(capsys, tmp_path):
    root = tmp_path / "configs"
    shutil.copytree(REPO / "configs", root)
    bad = root / "sft" / "demo_cpu.yaml"
    bad.write_text(re.sub(r"max_steps: \d+", "max_steps: abc", bad.read_text()))
    assert "max_steps: abc" in bad.read_text()
    _one_line(capsys, ["config", "check", str(bad), "--root", str(root)], "trainer.max_steps: expected int")


def test_config_show_outside_the_repository(capsys, tmp_path, monkeypatch):
    f = tmp_path / "mine.yaml"
    shutil.copy(REPO / "configs/sft/demo_cpu.yaml", f)
    monkeypatch.chdir(tmp_path)
    _one_line(capsys, ["config", "show", str(f)], "is not under the configs folder")


def test_rewards_score_bad_completion_file_and_kwargs(capsys, tmp_path):
    sample = tmp_path / "s.json"
    sample.write_text(json.dumps({"task": "vqa", "target": {"question": "q", "answer": "yes"}}))
    comp = tmp_path / "c.txt"
    comp.write_bytes(b"ye\xffs")
    base = ["rewards", "score", "--task", "vqa", "--sample", str(sample)]
    _one_line(capsys, [*base, "--completion", f"@{comp}"], "not UTF-8 (byte 0xff at offset 2)")
    _one_line(capsys, [*base, "--completion", "yes", "--kwargs", "[1]"], "--kwargs must be a JSON object, got list")
    _one_line(capsys, [*base, "--completion", "yes", "--kwargs", "{bad"], "--kwargs: invalid JSON")
    capsys.readouterr()
    assert cli([*base, "--completion", "yes"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"] == 1.0
