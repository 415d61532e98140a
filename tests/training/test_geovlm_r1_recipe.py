"""The GeoVLM-R1 recipe: the GPU pipeline validates with think-then-answer mode and think_format at equal weight on
every single-turn task, and its CPU variant runs SFT and GRPO for a few steps on the tiny model and world."""

from __future__ import annotations

import json
from pathlib import Path

from georft.config import load_config
from georft.pipeline import PipelineConfig
from rewards.config import reward_set
from rewards.registry import SINGLE_TURN_TASKS, get_reward
from rollout.store import RolloutReader

REPO = Path(__file__).resolve().parents[2]


def test_gpu_recipe_is_think_answer_with_equal_format_weight():
    cfg = load_config(PipelineConfig, REPO / "configs/pipeline/geovlm_r1_qwen2_5_vl_3b.yaml")
    assert cfg.base_model.path == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert cfg.sft.data.reasoning == cfg.grpo.data.reasoning == "think_answer"
    assert "reasoning=think_answer" in cfg.eval.overrides
    rset = reward_set(cfg.grpo.reward_set)
    own = {"referring_detection": "referring_iou_f1", "multilabel_classification": "multilabel_f1",
           "detection": "rotated_iou_f1", "grounding": "grounding_iou", "classification": "classification_match"}
    geovlm_tasks = {"detection", "grounding", "referring_detection", "vqa", "classification",
                    "multilabel_classification", "caption", "region_caption", "grounding_description"}
    assert set(rset) == geovlm_tasks and geovlm_tasks <= set(SINGLE_TURN_TASKS)
    for task in rset:
        weights = {s.name: s.weight for s in rset[task]}
        assert weights["think_format"] == 1.0, task
        accuracy = [n for n in weights if n != "think_format"]
        assert accuracy and all(weights[n] == 1.0 for n in accuracy), (task, weights)
        assert all(task in get_reward(n).tasks for n in weights)
        if task in own:
            assert own[task] in weights
    assert {s.name for s in rset["vqa"]} == {"vqa_match", "count_error", "think_format"}


def test_cpu_variant_runs_sft_and_grpo_steps(tiny_model_dirs, tiny_world, tmp_path):
    from rl.train import main as grpo_main
    from sft.train import main as sft_main

    run = tmp_path / "run"
    cfg = load_config(PipelineConfig, REPO / "configs/pipeline/geovlm_r1_cpu.yaml", [
        f"output_dir={run}", f"sft.model.path={tiny_model_dirs['qwen2_5_vl']}", f"sft.data.root={tiny_world[1]}",
        "sft.trainer.max_steps=2", "sft.trainer.per_device_train_batch_size=4", "sft.trainer.save_strategy=no",
        "sft.trainer.report_to=[]", "sft.trainer.dataloader_num_workers=0",
        "grpo.trainer.max_steps=1", "grpo.trainer.per_device_train_batch_size=8", "grpo.trainer.num_generations=2",
        "grpo.trainer.max_completion_length=24", "grpo.trainer.save_strategy=no", "grpo.trainer.report_to=[]",
        "grpo.trainer.dataloader_num_workers=0", "grpo.trainer.logging_steps=1",
    ])
    assert sft_main(cfg.sft)["steps"] == 2
    assert Path(cfg.grpo.model.path) == run / "sft"
    summary = grpo_main(cfg.grpo)
    assert summary["steps"] == 1
    table = RolloutReader(run / "grpo").read_step(0).to_pandas()
    rewards = json.loads((run / "grpo" / "summary.json").read_text())["rewards"]
    for _, r in table.iterrows():
        framed = r["task"] in SINGLE_TURN_TASKS
        assert r["reasoning"] == ("think_answer" if framed else "none"), r["task"]
        if framed and r["task"] in rewards:  # the recipe's tasks: think_format is configured and recorded
            assert r[f"reward/{r['task']}/think_format/overall"] == float(r["think_ok"])
    assert all(["think_format", 1.0] in rewards[t] for t in rewards if t in SINGLE_TURN_TASKS)
    suite_overrides = [o for o in cfg.eval.overrides if o.startswith("reasoning")]
    from eval.suite import SuiteConfig

    suite = load_config(SuiteConfig, REPO / cfg.eval.suite, suite_overrides)
    assert suite.reasoning == "think_answer" and suite.reasoning_tasks is None


def test_per_task_recipe_runs_geovlm_r1s_stages_in_sequence():
    """The per-task GPU recipe is the mixed one with four GRPO stages of 500 steps, each from the previous model."""
    from pathlib import Path

    from georft.config import load_config
    from georft.pipeline import PipelineConfig, grpo_task_stages

    root = Path(__file__).resolve().parents[2]
    mixed = load_config(PipelineConfig, root / "configs/pipeline/geovlm_r1_qwen2_5_vl_3b.yaml")
    cfg = load_config(PipelineConfig, root / "configs/pipeline/geovlm_r1_qwen2_5_vl_3b_per_task.yaml")
    assert (mixed.grpo.schedule, cfg.grpo.schedule) == ("mixed", "per_task")
    present = {"referring_detection", "grounding", "detection", "multilabel_classification", "classification", "vqa",
               "caption", "region_caption", "grounding_description"}
    stages = grpo_task_stages(cfg.grpo, Path(cfg.grpo.output_dir), present)
    assert [c.trainer["max_steps"] for _, c in stages] == [500] * 4
    assert stages[1][1].model.path == stages[0][1].output_dir and stages[-1][1].output_dir == cfg.grpo.output_dir
    assert cfg.grpo.reward_set == mixed.grpo.reward_set and cfg.grpo.data.reasoning == "think_answer"
