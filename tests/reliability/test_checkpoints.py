"""Only complete checkpoints are resumed from, and the pipeline resumes SFT as it resumes GRPO (issue 19, 1 and 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from data_engine.errors import UserError
from georft import pipeline
from georft.pipeline import PipelineConfig
from models.loading import checkpoint_problem, last_complete_checkpoint, resume_checkpoint


def _checkpoint(run: Path, step: int) -> Path:
    """The files the Trainer writes for a checkpoint (model config and weights, trainer state last)."""
    d = run / f"checkpoint-{step}"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    save_file({"w": torch.zeros(64)}, str(d / "model.safetensors"))
    torch.save({"state": {}}, d / "optimizer.pt")
    (d / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return d


def _truncate(path: Path, keep: int = 10) -> None:
    path.write_bytes(path.read_bytes()[:keep])


@pytest.mark.parametrize("damage", ["config.json", "model.safetensors", "trainer_state.json", "no trainer_state"])
def test_a_half_written_checkpoint_is_skipped_for_the_last_complete_one(tmp_path, damage):
    run = tmp_path / "run"
    _checkpoint(run, 4)
    broken = _checkpoint(run, 8)
    if damage == "no trainer_state":
        (broken / "trainer_state.json").unlink()  # killed before the Trainer's last write
    else:
        _truncate(broken / damage)
    assert checkpoint_problem(run / "checkpoint-4") is None
    assert checkpoint_problem(broken) is not None
    said: list[str] = []
    assert last_complete_checkpoint(run, report=said.append) == str(run / "checkpoint-4")
    assert len(said) == 1 and said[0].startswith(f"skipping incomplete checkpoint {broken}: ")
    assert resume_checkpoint(True, str(run)) == str(run / "checkpoint-4")
    with pytest.raises(UserError, match="cannot resume from .*checkpoint-8"):
        resume_checkpoint(str(broken), str(run))


def test_no_complete_checkpoint_is_one_line(tmp_path):
    _truncate(_checkpoint(tmp_path / "run", 2) / "config.json")
    assert last_complete_checkpoint(tmp_path / "run", report=lambda m: None) is None
    with pytest.raises(UserError, match="has no complete checkpoint"):
        resume_checkpoint(True, str(tmp_path / "run"))


def test_sharded_weights_need_every_shard(tmp_path):
    d = _checkpoint(tmp_path / "run", 2)
    (d / "model.safetensors").unlink()
    save_file({"a": torch.zeros(4)}, str(d / "model-00001-of-00002.safetensors"))
    (d / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    assert checkpoint_problem(d) == "model-00002-of-00002.safetensors is missing"


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_pipeline_resumes_an_interrupted_training_stage_from_its_last_complete_checkpoint(monkeypatch, tmp_path,
                                                                                         stage):
    import importlib

    cfg = PipelineConfig(output_dir=str(tmp_path / "run"))
    cfg.sft.output_dir = str(tmp_path / "run" / "sft")
    cfg.grpo.output_dir = str(tmp_path / "run" / "grpo")
    out = Path(getattr(cfg, stage).output_dir)
    _checkpoint(out, 2)
    _truncate(_checkpoint(out, 4) / "config.json")
    seen = {}
    module = importlib.import_module({"sft": "sft.train", "grpo": "rl.train"}[stage])
    monkeypatch.setattr(module, "main", lambda c: seen.setdefault("trainer", dict(c.trainer)))
    pipeline.RUNNERS[stage](cfg, cfg.stage_dirs)
    assert seen["trainer"]["resume_from_checkpoint"] == str(out / "checkpoint-2")
    assert "resume_from_checkpoint" not in getattr(cfg, stage).trainer  # the recorded stage config is untouched
