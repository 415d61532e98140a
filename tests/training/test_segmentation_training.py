"""SFT and GRPO steps on referring-segmentation rows, both tiny architectures: the grid answer is what SFT labels,
and GRPO scores every completion with mask_iou (+ format) and stores the parsed mask."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from georft.config import load_config
from rl.config import GRPORunConfig
from rollout.store import RolloutReader
from sft.config import SFTRunConfig

REPO = Path(__file__).resolve().parents[2]
SEG = "data.sources=[{path: ., split: train, tasks: [referring_segmentation]}]"


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_sft_steps_on_segmentation_rows(tiny_model_dirs, tiny_world, tmp_path, arch):
    from sft.train import build_trainer

    cfg = load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml", [
        f"model.path={tiny_model_dirs[arch]}", f"data.root={tiny_world[1]}", SEG, f"output_dir={tmp_path}",
        "trainer.max_steps=2", "trainer.per_device_train_batch_size=2", "trainer.logging_steps=1",
        "trainer.save_strategy=no", "trainer.report_to=[]"])
    trainer, processor, _ = build_trainer(cfg)
    row = trainer.train_dataset[0]
    answer = row["messages"][-1]["content"][0]["text"]
    assert answer.startswith("<seg>") and answer.endswith("</seg>")
    batch = trainer.data_collator([row])
    labelled = [t for t in batch["labels"][0].tolist() if t != -100]
    assert labelled == processor.tokenizer(answer + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
    out = trainer.train()
    assert out.global_step == 2 and math.isfinite(out.training_loss)


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_grpo_step_on_segmentation_rows(tiny_model_dirs, tiny_world, tmp_path, arch):
    from rl.train import main

    cfg = load_config(GRPORunConfig, REPO / "configs/grpo/demo_cpu.yaml", [
        f"model.path={tiny_model_dirs[arch]}", f"data.root={tiny_world[1]}", SEG, f"output_dir={tmp_path / 'run'}",
        "trainer.max_steps=1", "trainer.per_device_train_batch_size=4", "trainer.num_generations=2",
        "trainer.max_completion_length=12", "trainer.logging_steps=1", "trainer.save_strategy=no",
        "trainer.report_to=[]", "reward_set=default", "rewards={}"])
    assert main(cfg)["steps"] == 1
    table = RolloutReader(tmp_path / "run").read_step(0).to_pandas()
    assert set(table["task"]) == {"referring_segmentation"} and len(table) == 4
    iou = table["reward/referring_segmentation/mask_iou/overall"]
    fmt = table["reward/referring_segmentation/format/overall"]
    assert ((0 <= iou) & (iou <= 1)).all() and set(fmt) <= {0.0, 1.0}
    assert table["reward"].tolist() == pytest.approx((iou + 0.1 * fmt).tolist())
    for _, r in table.iterrows():  # the stored prediction is the segmentation parser's
        pred = json.loads(r["prediction"])
        assert {"mask", "empty", "format_ok"} <= set(pred), pred
