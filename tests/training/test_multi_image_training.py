"""One SFT step and one GRPO step on multi-image samples (change caption / detection, damage, temporal), both tiny
architectures."""

from __future__ import annotations

import pytest

from tests.training.test_grpo import _cfg as grpo_cfg
from tests.training.test_sft import _cfg as sft_cfg


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_sft_step_on_bitemporal_pairs(tiny_model_dirs, tiny_world, tmp_path, arch):
    from sft.train import build_trainer

    cfg = sft_cfg(tiny_model_dirs[arch], tiny_world[1], tmp_path,
                  "data.sources.0.tasks=[change_caption, change_detection, damage, temporal_classification]",
                  "trainer.max_steps=1")
    trainer, processor, _ = build_trainer(cfg)
    row = trainer.train_dataset[0]
    assert 2 <= len(row["images"]) <= 4
    batch = trainer.data_collator([row])
    assert batch["image_grid_thw"].shape[0] == len(row["images"])  # every frame reaches the model
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    merge = trainer.model.config.vision_config.spatial_merge_size
    assert int((batch["input_ids"] == pad).sum()) == int(batch["image_grid_thw"].prod(-1).sum()) // merge**2
    out = trainer.train()
    assert out.global_step == 1 and out.training_loss == out.training_loss  # finite, not NaN


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_grpo_step_on_bitemporal_pairs(tiny_model_dirs, tiny_world, tmp_path, arch):
    from rl.train import main
    from rollout.store import RolloutReader

    summary = main(grpo_cfg(tiny_model_dirs[arch], tiny_world[1], tmp_path / "run",
                            "data.sources.0.tasks=[change_caption, change_detection, damage, temporal_classification]",
                            "data.seed=1",
                            "trainer.per_device_train_batch_size=8",
                            "rewards={change_caption: [{name: change_cider_d}, {name: format, weight: 0.1}], "
                            "change_detection: [{name: rotated_iou_f1}], damage: [{name: damage_ordinal}], "
                            "temporal_classification: [{name: classification_match}]}"))
    assert summary["steps"] == 1
    table = RolloutReader(tmp_path / "run").read_step(0).to_pandas()
    assert set(table["task"]) <= {"change_caption", "change_detection", "damage", "temporal_classification"}
    assert len(table) == 8 and table["task"].nunique() >= 2
    assert all(2 <= len(paths) <= 4 for paths in table["images"])  # the rollout store keeps every shown frame
    for task, part in (("change_caption", "change_cider_d/consistent"), ("change_detection", "rotated_iou_f1/f1")):
        if task in set(table["task"]):
            assert f"reward/{task}/{part}" in table.columns
    assert table["reward"].between(0, 1.1).all()
