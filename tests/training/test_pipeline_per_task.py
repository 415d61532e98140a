"""The whole pipeline on CPU at toy sizes with `grpo.schedule: per_task`: SFT, then one GRPO stage per task group
(each from the last), eval, and a report whose evidence section has the trivial baselines and the intervals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from georft.config import load_config
from georft.pipeline import STAGE_DONE, PipelineConfig, run_pipeline
from rollout.store import RolloutReader

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # ~1-2 min on 2 cores: a tiny model through every stage


def test_pipeline_with_per_task_grpo_schedule(tmp_path):
    out = tmp_path / "run"
    cfg = load_config(PipelineConfig, REPO / "configs/pipeline/demo_cpu.yaml", [
        f"output_dir={out}", "data.synth_size=tiny",
        "sft.trainer.max_steps=2", "sft.trainer.per_device_train_batch_size=2", "sft.trainer.save_strategy=no",
        "sft.trainer.report_to=[]", "sft.trainer.dataloader_num_workers=0", "sft.trainer.logging_steps=1",
        "grpo.schedule=per_task", "grpo.stages=[[vqa],[classification]]", "grpo.trainer.max_steps=2",
        "grpo.trainer.per_device_train_batch_size=4", "grpo.trainer.num_generations=2",
        "grpo.trainer.max_completion_length=8", "grpo.trainer.save_strategy=no", "grpo.trainer.report_to=[]",
        "grpo.trainer.dataloader_num_workers=0", "grpo.trainer.logging_steps=1",
        "eval.limit=2", "eval.checkpoints=[sft,rl]",
        f"eval.overrides=[data_root={out}/data/built,max_new_tokens=8,java_metrics=false]",
    ])
    status = run_pipeline(cfg)
    assert set(status.values()) == {"done"}
    grpo = out / "grpo"
    assert (grpo / "stages" / "0_vqa" / STAGE_DONE).is_file()
    assert set(RolloutReader(grpo / "stages" / "0_vqa").read_step(0).to_pandas()["task"]) == {"vqa"}
    assert set(RolloutReader(grpo).read_step(0).to_pandas()["task"]) == {"classification"}
    marker = json.loads((grpo / ".complete").read_text())
    assert marker["schedule"] == "per_task" and list(marker["stages"]) == ["0_vqa", "1_classification"]
    assert (out / "data" / "test" / "built").is_dir()  # the sealed test world (seed 1000), evaluated by default
    report = json.loads((out / "report" / "test" / "compare.json").read_text())
    assert report["heldout"]["name"] == "test" and report["heldout"]["root"] == str(out / "data" / "test" / "built")
    assert [b["name"] for b in report["baselines"]] == ["trivial: constant", "trivial: random"]
    vqa = next(s for s in report["intervals"] if s["task"] == "vqa" and s["metric"] == "accuracy")
    assert set(vqa["values"]) == {"sft", "rl"} and vqa["best_baseline"] is not None
    assert [(d["a"], d["b"]) for d in vqa["differences"]] == [("sft", "rl")]
    assert "Against trivial baselines and sampling noise" in (out / "report" / "test" / "report.md").read_text()
