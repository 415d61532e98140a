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


def test_sft_and_grpo_steps_with_polygon_answers(tiny_model_dirs, tiny_world, tmp_path):
    """data.mask_format=seg_polygon: SFT labels the polygon lines, GRPO rows carry the format and the rewards and
    the rollout store read completions by it (docs/formats.md §7)."""
    from eval.parsers.segmentation import read_seg_polygon
    from rl.train import main
    from sft.train import build_trainer

    arch = "qwen3_vl"
    cfg = load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml", [
        f"model.path={tiny_model_dirs[arch]}", f"data.root={tiny_world[1]}", SEG, f"output_dir={tmp_path / 'sft'}",
        "data.mask_format=seg_polygon", "trainer.max_steps=1", "trainer.per_device_train_batch_size=2",
        "trainer.logging_steps=1", "trainer.save_strategy=no", "trainer.report_to=[]"])
    trainer, processor, _ = build_trainer(cfg)
    row = trainer.train_dataset[0]
    answer = row["messages"][-1]["content"][0]["text"]
    assert "<seg>" not in answer and answer.split("\n")[0].count(",") >= 5  # polygon lines, not a grid
    batch = trainer.data_collator([row])
    labelled = [t for t in batch["labels"][0].tolist() if t != -100]
    assert labelled == processor.tokenizer(answer + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
    out = trainer.train()
    assert out.global_step == 1 and math.isfinite(out.training_loss)

    cfg = load_config(GRPORunConfig, REPO / "configs/grpo/demo_cpu.yaml", [
        f"model.path={tiny_model_dirs[arch]}", f"data.root={tiny_world[1]}", SEG, f"output_dir={tmp_path / 'run'}",
        "data.mask_format=seg_polygon", "trainer.max_steps=1", "trainer.per_device_train_batch_size=4",
        "trainer.num_generations=2", "trainer.max_completion_length=12", "trainer.logging_steps=1",
        "trainer.save_strategy=no", "trainer.report_to=[]", "reward_set=default", "rewards={}"])
    assert main(cfg)["steps"] == 1
    table = RolloutReader(tmp_path / "run").read_step(0).to_pandas()
    assert len(table) == 4
    fmt = table["reward/referring_segmentation/format/overall"]
    from data_engine.frames import Frame

    for (_, r), f in zip(table.iterrows(), fmt, strict=True):
        # the format reward and the stored prediction follow the polygon grammar, not the grid's
        frame = Frame("norm1000", 1, 1, 1000, 1000)
        expect_ok = read_seg_polygon(r["completion"], frame)[0] != "malformed"
        assert f == float(expect_ok)
        assert json.loads(r["prediction"])["format_ok"] == expect_ok
    # the GRPO rows carry the format, and the TRL reward functions read the row's own polygon answer by it
    from data_engine.families import get_family
    from data_engine.render import task_answer
    from rewards.adapter import make_reward_funcs
    from rl.data import build_grpo_dataset

    row = build_grpo_dataset(cfg.data, get_family(arch)).dataset[0]
    assert row["mask_format"] == "seg_polygon"
    frame = Frame.from_dict(json.loads(row["frame"]))
    answer = task_answer(row["task"], json.loads(row["target"]), frame, "poly", "text", mask_format="seg_polygon")
    assert answer != "There is none." and "<seg>" not in answer
    funcs, _ = make_reward_funcs({"referring_segmentation": [{"name": "mask_iou"}, {"name": "format"}]})
    cols = {k: [row[k]] for k in ("task", "target", "frame", "sample_id", "source", "mask_format")}
    got = [f(prompts=[row["prompt"]], completions=[answer], **cols)[0] for f in funcs]
    # the polygon answer is the mask up to simplification and rounding: its IoU is pycocotools' of the parsed mask
    from data_engine.masks import mask_iou
    from eval.parsers.segmentation import parse_segmentation

    parsed = parse_segmentation(answer, frame, mask_format="seg_polygon")["mask"]
    expect = mask_iou(parsed, json.loads(row["target"])["mask"])
    assert got == pytest.approx([expect, 1.0]) and expect > 0.9


def test_a_wrong_mask_format_fails_at_load_time(tmp_path):
    from data_engine.errors import UserError

    with pytest.raises(UserError, match="mask_format must be one of seg_grid, seg_polygon"):
        load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml", ["data.mask_format=polygons"])
