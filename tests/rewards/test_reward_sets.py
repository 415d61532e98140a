"""Reward sets: built-in and file sets, per-task overrides, idempotent resolution, errors, each fact once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from data_engine.errors import UserError
from data_engine.tasks import TASKS
from rewards.config import RewardSpec, resolve_rewards, reward_set

REPO = Path(__file__).resolve().parents[2]


def _names(specs):
    return {t: [(s.name, s.weight) for s in v] for t, v in specs.items()}


def test_builtin_sets_follow_the_declarations():
    default = _names(reward_set("default"))
    assert default == {t.name: [tuple(r) for r in t.default_rewards] for t in TASKS.values() if t.rewardable}
    assert default["detection"] == [("rotated_iou_f1", 1.0), ("format", 0.1)]
    assert _names(reward_set("accuracy")) == {t: v[:1] for t, v in default.items()}


def test_overrides_replace_per_task_and_resolution_is_idempotent():
    once = resolve_rewards("accuracy", {"vqa": [{"name": "format", "weight": 0.5}], "caption": []})
    assert _names(once)["vqa"] == [("format", 0.5)]
    assert once["caption"] == []  # kept as an empty entry, so resolving again cannot bring it back
    assert _names(once)["detection"] == [("rotated_iou_f1", 1.0)]  # untouched tasks keep the set's
    assert _names(resolve_rewards("accuracy", once)) == _names(once)


def test_file_set_and_errors(tmp_path):
    f = tmp_path / "set.yaml"
    f.write_text("vqa:\n  - {name: vqa_match, weight: 2.0}\n")
    assert _names(resolve_rewards(str(f), {})) == {"vqa": [("vqa_match", 2.0)]}
    with pytest.raises(UserError, match=r"reward_set 'acuracy' is neither.*Did you mean \"accuracy\""):
        reward_set("acuracy")
    with pytest.raises(UserError, match=r"reward_set file not found"):
        reward_set(str(tmp_path / "none.yaml"))
    f.write_text("vqa: [{nme: vqa_match}]\n")
    with pytest.raises(UserError, match=r"rewards\.vqa\[0\] must have keys name, weight, kwargs"):
        reward_set(str(f))


def test_grpo_run_rewards_are_the_set_for_present_tasks_plus_overrides(tmp_path):
    from georft.config import load_config, save_config
    from rl.config import GRPORunConfig

    # The demo's set (accuracy) and its VQA override, plus a detection override in a config composing it.
    user = tmp_path / "user.yaml"
    user.write_text(f"_base_: {REPO / 'configs/grpo/demo_cpu.yaml'}\n"
                    "rewards:\n  detection:\n    - {name: rotated_iou_f1, weight: 1.0}\n    - {name: format, weight: 0.1}\n")
    cfg = load_config(GRPORunConfig, user)
    run = _names(cfg.run_rewards({"detection", "grounding", "vqa"}))
    assert run == {"detection": [("rotated_iou_f1", 1.0), ("format", 0.1)], "grounding": [("grounding_iou", 1.0)],
                   "vqa": [("vqa_match", 1.0), ("think_format", 1.0)]}  # the demo's think-then-answer VQA
    # An override is kept without rows of its task, so the pre-flight check can name it.
    assert set(cfg.run_rewards({"vqa"})) == {"vqa", "detection"}
    again = load_config(GRPORunConfig, save_config(cfg, tmp_path / "c.yaml"))
    assert _names(again.run_rewards({"vqa", "caption"})) == _names(cfg.run_rewards({"vqa", "caption"}))
    assert all(isinstance(s, RewardSpec) for v in again.run_rewards({"vqa"}).values() for s in v)
    # The same override on the command line: a list of mappings becomes RewardSpecs, as in a file.
    cli = load_config(GRPORunConfig, REPO / "configs/grpo/demo_cpu.yaml",
                      ["rewards.detection=[{name: rotated_iou_f1, weight: 1.0}, {name: format, weight: 0.1}]"])
    assert _names(cli.run_rewards({"detection", "vqa"})) == _names(cfg.run_rewards({"detection", "vqa"}))
    with pytest.raises(UserError, match="reward_set"):
        load_config(GRPORunConfig, REPO / "configs/grpo/demo_cpu.yaml", ["reward_set=nope"])


def test_no_reward_block_is_pasted_across_configs():
    """Each task's accuracy reward is named by the declarations and at most one reward-set file, not by every YAML."""
    out = subprocess.run(["git", "grep", "-l", "name: zoom_chain", "--", "configs"], cwd=REPO, capture_output=True,
                         text=True).stdout.split()
    assert out == ["configs/rewards/box_format.yaml"]
