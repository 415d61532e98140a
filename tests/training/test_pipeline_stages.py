"""Pipeline bookkeeping: complete stages are skipped, redoing a stage invalidates the later ones."""

from __future__ import annotations

import pytest

from data_engine.errors import UserError
from georft import pipeline
from georft.pipeline import STAGES, PipelineConfig, is_complete, run_pipeline


@pytest.fixture
def fake_runs(monkeypatch, tmp_path):
    calls: list[str] = []

    def make(stage):
        def runner(cfg, dirs):
            dirs[stage].mkdir(parents=True, exist_ok=True)
            calls.append(stage)
            return {}

        return runner

    monkeypatch.setattr(pipeline, "RUNNERS", {s: make(s) for s in STAGES})
    cfg = PipelineConfig(output_dir=str(tmp_path / "run"))
    cfg.sft.output_dir = str(tmp_path / "run" / "sft")
    cfg.grpo.output_dir = str(tmp_path / "run" / "grpo")
    return cfg, calls


def test_rerun_skips_everything(fake_runs):
    cfg, calls = fake_runs
    assert set(run_pipeline(cfg).values()) == {"done"}
    calls.clear()
    assert set(run_pipeline(cfg).values()) == {"skipped"}
    assert calls == []


def test_deleting_grpo_redoes_grpo_eval_compare(fake_runs):
    import shutil

    cfg, calls = fake_runs
    run_pipeline(cfg)
    calls.clear()
    shutil.rmtree(cfg.stage_dirs["grpo"])
    run_pipeline(cfg)
    assert calls == ["grpo", "eval", "compare"]


def test_from_and_only(fake_runs):
    cfg, calls = fake_runs
    run_pipeline(cfg)
    calls.clear()
    run_pipeline(cfg, from_stage="eval")
    assert calls == ["eval", "compare"]
    calls.clear()
    status = run_pipeline(cfg, only="sft")
    assert calls == ["sft"] and status["sft"] == "done" and status["grpo"] == "not run"
    # grpo's marker was made from the old sft output: it is no longer complete.
    assert not is_complete("grpo", cfg.stage_dirs)
    with pytest.raises(UserError, match='unknown stage .sfft.. Did you mean "sft"'):
        run_pipeline(cfg, only="sfft")


def test_failed_stage_leaves_no_marker(fake_runs, monkeypatch):
    cfg, calls = fake_runs

    def boom(cfg, dirs):
        dirs["sft"].mkdir(parents=True, exist_ok=True)
        raise RuntimeError("killed")

    monkeypatch.setitem(pipeline.RUNNERS, "sft", boom)
    with pytest.raises(RuntimeError):
        run_pipeline(cfg)
    assert is_complete("data", cfg.stage_dirs) and not is_complete("sft", cfg.stage_dirs)


def test_changed_config_of_a_complete_stage_is_skipped_with_a_warning(fake_runs, capsys):
    cfg, calls = fake_runs
    run_pipeline(cfg)
    calls.clear()
    capsys.readouterr()
    cfg.sft.trainer = {**cfg.sft.trainer, "learning_rate": 1e-5}
    assert run_pipeline(cfg)["sft"] == "skipped" and calls == []
    err = capsys.readouterr().err
    assert "WARNING sft: its config changed since it ran (trainer.learning_rate: '<unset>' -> 1e-05)" in err
    assert "--from sft" in err and "WARNING grpo" not in err
    run_pipeline(cfg, from_stage="sft")
    capsys.readouterr()
    run_pipeline(cfg)
    assert "WARNING" not in capsys.readouterr().err
