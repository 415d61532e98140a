"""GRPO schedules: per_task stages (GeoVLM-R1) split, chained and run on CPU; per-task reward scaling by hand and in
one real GRPO step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from data_engine.errors import UserError
from georft.config import load_config
from georft.pipeline import STAGE_DONE, PipelineConfig, grpo_task_stages
from rl.config import GRPORunConfig
from rl.task_scaling import scale_by_task, task_columns
from rollout.store import RolloutReader

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs/pipeline/demo_cpu.yaml"
SPREAD = REPO / "tests/training/assets/spread_rewards.py"  # toy rewards that vary over an untrained model's output


def _pipeline(tmp_path, *extra) -> PipelineConfig:
    # One plain source, so the stages' data filters are this test's, not the demo mixture's.
    return load_config(PipelineConfig, DEMO, [f"output_dir={tmp_path / 'run'}", "grpo.data.sources=[{path: ., split: train}]",
                                              *extra])


def test_per_task_stages_split_steps_chain_models_and_filter_data(tmp_path):
    cfg = _pipeline(tmp_path, "grpo.schedule=per_task", "grpo.stages=[[detection,grounding],[vqa],[caption]]",
                    "grpo.trainer.max_steps=101")
    stages = grpo_task_stages(cfg.grpo, Path(cfg.grpo.output_dir))
    assert [n for n, _ in stages] == ["0_detection+grounding", "1_vqa", "2_caption"]
    assert [c.trainer["max_steps"] for _, c in stages] == [34, 34, 33]
    grpo_dir = Path(cfg.grpo.output_dir)
    assert [Path(c.output_dir) for _, c in stages] == [grpo_dir / "stages" / "0_detection+grounding",
                                                      grpo_dir / "stages" / "1_vqa", grpo_dir]
    assert stages[0][1].model.path == cfg.grpo.model.path
    assert stages[1][1].model.path == stages[0][1].output_dir and stages[2][1].model.path == stages[1][1].output_dir
    assert all(c.reward_set == cfg.grpo.reward_set for _, c in stages)
    # each stage optimises the rewards of its own tasks only (the set's rewards of the tasks in its data)
    assert [list(c.run_rewards(set(c.data.sources[0].tasks))) for _, c in stages] == [
        ["detection", "grounding"], ["vqa"], ["caption"]]
    assert [[s.tasks for s in c.data.sources] for _, c in stages] == [[["detection", "grounding"]], [["vqa"]],
                                                                      [["caption"]]]
    assert all(c.schedule == "mixed" and c.stages == [] for _, c in stages)
    assert cfg.grpo.trainer["max_steps"] == 101  # the pipeline's own config is not changed
    # default: one stage per rewarded task present in the data, in declaration order
    cfg = _pipeline(tmp_path, "grpo.schedule=per_task")
    present = {"caption", "vqa", "grounding"}
    assert [n for n, _ in grpo_task_stages(cfg.grpo, Path(cfg.grpo.output_dir), present)] == [
        "0_grounding", "1_vqa", "2_caption"]


@pytest.mark.parametrize(("overrides", "message"), [
    (["grpo.schedule=interleaved"], "schedule must be one of mixed, per_task"),
    (["grpo.stages=[[vqa]]"], "stages is only read with schedule: per_task"),
    (["grpo.schedule=per_task", "grpo.stages=[[vqa],[vqa]]"], "already in an earlier stage"),
    (["grpo.schedule=per_task", "grpo.stages=[[vqaa]]"], "task 'vqaa' has no rewards"),
    (["grpo.schedule=per_task", "grpo.stages=[[vqa],[caption]]", "grpo.trainer.max_steps=1"],
     "set max_steps >= 2"),
    (["grpo.task_reward_scaling=true"], "task_reward_scaling needs trainer.scale_rewards: batch or none"),
])
def test_schedule_mistakes_fail_at_load_time(tmp_path, overrides, message):
    with pytest.raises(UserError, match=message):
        _pipeline(tmp_path, *overrides)


def test_scale_by_task_divides_each_task_by_its_std():
    nan = float("nan")
    # columns: task A = (0, 1) with weights 1 and 0.5, task B = (2,)
    r = torch.tensor([[1.0, 0.0, nan], [0.0, 0.0, nan], [1.0, 1.0, nan], [nan, nan, 10.0], [nan, nan, 30.0]])
    w = torch.tensor([1.0, 0.5, 1.0])
    out = scale_by_task(r, w, [[0, 1], [2]])
    std_a = torch.tensor([1.0, 0.0, 1.5]).std()  # A's weighted totals
    std_b = torch.tensor([10.0, 30.0]).std()
    assert torch.allclose(out[:3, :2], r[:3, :2] / std_a)
    assert torch.allclose(out[3:, 2], r[3:, 2] / std_b)
    assert torch.isnan(out[:3, 2]).all() and torch.isnan(out[3:, :2]).all()
    # a task with one row or no spread is left alone
    one = torch.tensor([[2.0, nan], [nan, 5.0], [nan, 5.0]])
    assert torch.allclose(scale_by_task(one, torch.ones(2), [[0], [1]]), one, equal_nan=True)


def test_task_columns_follow_the_reward_funcs_order():
    from rewards.adapter import make_reward_funcs

    cfg = {"detection": [{"name": "rotated_iou_f1"}, {"name": "format", "weight": 0.1}], "vqa": [{"name": "vqa_match"}]}
    funcs, _ = make_reward_funcs(cfg)
    cols = task_columns(cfg)
    assert cols == [[0, 1], [2]]
    assert [funcs[i].__name__.split("/")[0] for c in cols for i in c] == ["detection", "detection", "vqa"]


def _grpo_overrides(model_dir, built) -> list[str]:
    return [f"grpo.model.path={model_dir}", f"grpo.data.root={built}", "grpo.data.sources=[{path: ., split: train}]", "grpo.trainer.per_device_train_batch_size=4",
            "grpo.trainer.num_generations=2", "grpo.trainer.max_completion_length=8", "grpo.trainer.logging_steps=1",
            "grpo.trainer.save_strategy=no", "grpo.trainer.report_to=[]", "grpo.trainer.dataloader_num_workers=0"]


def test_per_task_schedule_runs_stage_after_stage_on_cpu(tiny_model_dirs, tiny_world, tmp_path):
    from georft.pipeline import _run_grpo

    cfg = _pipeline(tmp_path, *_grpo_overrides(tiny_model_dirs["qwen2_5_vl"], tiny_world[1]),
                    "grpo.schedule=per_task", "grpo.stages=[[vqa],[classification]]", "grpo.trainer.max_steps=2")
    dirs = cfg.stage_dirs
    from georft.pipeline import grpo_data_tasks

    assert grpo_data_tasks(cfg.grpo) == {"detection", "grounding", "vqa", "caption", "classification", "zoom_vqa",
                                         "change_caption", "change_detection", "damage", "temporal_classification",
                                         "referring_segmentation", "semantic_segmentation", "referring_detection",
                                         "multilabel_classification", "region_caption", "grounding_description"}
    info = _run_grpo(cfg, dirs)
    assert info["schedule"] == "per_task" and list(info["stages"]) == ["0_vqa", "1_classification"]
    assert all(s["steps"] == 1 for s in info["stages"].values())
    first = dirs["grpo"] / "stages" / "0_vqa"
    assert (first / STAGE_DONE).is_file() and not (dirs["grpo"] / STAGE_DONE).exists()
    assert set(RolloutReader(first).read_step(0).to_pandas()["task"]) == {"vqa"}
    assert set(RolloutReader(dirs["grpo"]).read_step(0).to_pandas()["task"]) == {"classification"}
    # the second stage started from the first stage's model, and wrote the RL checkpoint where eval reads it
    saved = load_config(GRPORunConfig, dirs["grpo"] / "config.yaml")
    assert saved.model.path == str(first) and saved.schedule == "mixed"
    assert (dirs["grpo"] / "model.safetensors").is_file()
    # a rerun skips the finished first stage
    stamp = (first / STAGE_DONE).stat().st_mtime_ns
    _run_grpo(cfg, dirs)
    assert (first / STAGE_DONE).stat().st_mtime_ns == stamp


def test_task_reward_scaling_in_a_real_grpo_step(tiny_model_dirs, tiny_world, tmp_path):
    from rl.train import main

    cfg = _pipeline(tmp_path, *_grpo_overrides(tiny_model_dirs["qwen2_5_vl"], tiny_world[1]),
                    "grpo.trainer.max_steps=1", "grpo.trainer.per_device_train_batch_size=8",
                    "grpo.trainer.scale_rewards=none", "grpo.task_reward_scaling=true", "grpo.data.seed=3",
                    "grpo.data.sources.0.tasks=[vqa,caption]", "grpo.trainer.max_completion_length=6",
                    f"grpo.rewards={{vqa: [{{name: '{SPREAD}:char_share'}}, {{name: '{SPREAD}:has_vowel_start', "
                    f"weight: 0.5}}], caption: [{{name: '{SPREAD}:has_vowel_start'}}]}}")
    main(cfg.grpo)
    t = RolloutReader(cfg.grpo.output_dir).read_step(0).to_pandas()
    assert t["task"].nunique() == 2, t["task"].tolist()
    rescaled = 0
    for task, rows in t.groupby("task"):
        parts = [c for c in rows.columns if c.startswith(f"reward/{task}/") and c.endswith("/overall")]
        weights = {f"reward/{task}/{s.name.rsplit(':', 1)[-1]}/overall": s.weight for s in cfg.grpo.rewards[task]}
        raw = sum(rows[c] * weights[c] for c in parts)
        assert rows["reward"].to_numpy() == pytest.approx(raw.to_numpy())  # the store keeps the raw reward
        std = rows["reward"].std()
        centred = rows["reward"] - rows.groupby("group")["reward"].transform("mean")
        expected = centred / std if std > 1e-4 else centred
        assert rows["advantage"].to_numpy() == pytest.approx(expected.to_numpy(), abs=1e-5)
        rescaled += bool(std > 1e-4 and abs(std - 1) > 0.05 and centred.abs().max() > 1e-3)
    assert rescaled  # at least one task's advantages really were divided by its spread
    log = json.loads((Path(cfg.grpo.output_dir) / "summary.json").read_text())["last_log"]
    assert log["reward"] == pytest.approx(t["reward"].mean(), abs=1e-5)


def test_georft_grpo_alone_refuses_the_per_task_schedule(tmp_path):
    from rl.train import main

    cfg = _pipeline(tmp_path, "grpo.schedule=per_task", "grpo.stages=[[vqa]]")
    with pytest.raises(UserError, match="runs as successive GRPO stages from `georft pipeline`"):
        main(cfg.grpo)
