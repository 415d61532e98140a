"""The whole pipeline on CPU at toy sizes with `sft.model.lora.enabled`: the SFT stage saves an adapter, GRPO
continues it (the stage chaining passes the adapter folder), eval loads base + adapter for SFT and RL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from georft.config import load_config
from georft.pipeline import PipelineConfig, run_pipeline

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # ~1-2 min on 2 cores: a tiny model through every stage


def test_pipeline_with_lora_end_to_end(tmp_path):
    from safetensors.torch import load_file

    from models.adapters import adapter_base, is_adapter_dir

    out = tmp_path / "run"
    cfg = load_config(PipelineConfig, REPO / "configs/pipeline/demo_cpu.yaml", [
        f"output_dir={out}", "data.synth_size=tiny", "sft.model.lora.enabled=true", "sft.model.lora.r=4",
        "sft.trainer.max_steps=2", "sft.trainer.per_device_train_batch_size=2", "sft.trainer.save_strategy=no",
        "sft.trainer.report_to=[]", "sft.trainer.dataloader_num_workers=0", "sft.trainer.logging_steps=1",
        "grpo.trainer.max_steps=2", "grpo.trainer.per_device_train_batch_size=4", "grpo.trainer.num_generations=2",
        "grpo.trainer.max_completion_length=8", "grpo.trainer.save_strategy=no", "grpo.trainer.report_to=[]",
        "grpo.trainer.dataloader_num_workers=0", "grpo.trainer.logging_steps=1",
        "eval.limit=2", "eval.checkpoints=[base,sft,rl]",
        f"eval.overrides=[data_root={out}/data/built,max_new_tokens=8,java_metrics=false]",
    ])
    status = run_pipeline(cfg)
    assert set(status.values()) == {"done"}
    base = out / "base_model"
    for stage in ("sft", "grpo"):
        assert is_adapter_dir(out / stage), stage
        assert Path(adapter_base(out / stage)).resolve() == base.resolve()
    sft_w, rl_w = load_file(str(out / "sft/adapter_model.safetensors")), load_file(str(out / "grpo/adapter_model.safetensors"))
    assert set(sft_w) == set(rl_w)  # GRPO continued the SFT adapter
    for name in ("base", "sft", "rl"):
        doc = json.loads((out / "eval" / name / "metrics.json").read_text())
        assert doc["metrics"], name
    assert (out / "report" / "report.md").is_file()
