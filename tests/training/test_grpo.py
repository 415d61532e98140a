"""GRPO stage on the tiny models and the tiny synthetic world: mixed-task steps, file rewards, failures, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from data_engine.errors import UserError
from georft.config import load_config
from rl.config import GRPORunConfig
from rollout.store import COLUMNS, RolloutReader

REPO = Path(__file__).resolve().parents[2]


def _cfg(model_dir, built, out, *extra) -> GRPORunConfig:
    return load_config(GRPORunConfig, REPO / "configs/grpo/demo_cpu.yaml", [
        f"model.path={model_dir}", f"data.root={built}", "data.sources=[{path: ., split: train}]", f"output_dir={out}",
        "trainer.max_steps=1", "trainer.per_device_train_batch_size=8", "trainer.num_generations=2",
        "trainer.max_completion_length=12", "trainer.logging_steps=1", "trainer.save_strategy=no",
        "trainer.report_to=[]", *extra,
    ])


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_one_step_mixed_tasks_writes_store_and_checkpoint(tiny_model_dirs, tiny_world, tmp_path, arch):
    from transformers import AutoModelForImageTextToText

    from rl.train import main

    summary = main(_cfg(tiny_model_dirs[arch], tiny_world[1], tmp_path / "run", "data.seed=3",
                        "trainer.log_completions=true"))
    assert summary["steps"] == 1
    table = RolloutReader(tmp_path / "run").read_step(0).to_pandas()
    assert len(table) == 8  # 4 prompts x 2 generations
    # The store (public reward hooks + the scored batch) agrees with TRL's own completion log, row for row.
    trl_log = pd.read_parquet(next((tmp_path / "run" / "completions").glob("completions_*.parquet")))
    assert table["advantage"].tolist() == pytest.approx(trl_log["advantage"].tolist())
    rewards = _cfg(tiny_model_dirs[arch], tiny_world[1], tmp_path / "run").run_rewards(set(table["task"]))
    for j, row in table.iterrows():
        # TRL names each reward function "<task>/<reward>" (rewards/adapter.py); other tasks' functions are NaN.
        terms = [spec.weight * trl_log[f"{row['task']}/{spec.name}"][j] for spec in rewards[row["task"]]]
        assert terms and row["reward"] == pytest.approx(sum(terms)), row["task"]
    assert table["task"].nunique() >= 2, table["task"].tolist()
    assert set(COLUMNS) <= set(table.columns)
    assert (table.groupby("group")["generation"].apply(sorted).apply(list) == [[0, 1]] * 4).all()
    # Each row's reward is the weighted sum of its task's reward parts ("overall" of each configured reward).
    for _, row in table.iterrows():
        overall = [v for k, v in row.items() if k.startswith(f"reward/{row['task']}/") and k.endswith("/overall")]
        assert overall, row["task"]
    # the run's own images are recorded relative to the run (a copied run stays whole)
    assert all(not Path(p).is_absolute() and (tmp_path / "run" / p).is_file() for paths in table["images"] for p in paths)
    AutoModelForImageTextToText.from_pretrained(tmp_path / "run")


def test_file_reward_from_config_is_what_grpo_optimises(tiny_model_dirs, tiny_world, tmp_path):
    from rl.train import main

    reward = REPO / "tests/rewards/assets/my_reward.py"
    # plain answers (the demo view frames VQA as think-then-answer, where rewards read the answer block only)
    main(_cfg(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], tmp_path / "run", "data.sources.0.tasks=[vqa]",
              "data.reasoning=none", f"rewards={{vqa: [{{name: '{reward}:short_answer', weight: 1.0}}]}}"))
    table = RolloutReader(tmp_path / "run").read_step(0).to_pandas()
    assert "reward/vqa/short_answer/n_words" in table.columns
    for _, row in table.iterrows():
        n = len(row["completion"].split())
        assert row["reward/vqa/short_answer/n_words"] == n
        assert row["reward"] == float(0 < n <= 3)  # the user function, weight 1, is the whole reward
    log = json.loads((tmp_path / "run" / "summary.json").read_text())["last_log"]
    assert "rewards/vqa/short_answer/mean" in log


def test_reward_raising_mid_run_names_reward_and_sample(tiny_model_dirs, tiny_world, tmp_path):
    from rl.train import main

    reward = REPO / "tests/training/assets/rewards.py"
    cfg = _cfg(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], tmp_path / "run", "data.sources.0.tasks=[vqa]",
               f"rewards={{vqa: [{{name: '{reward}:raise_on_model_output'}}]}}")
    with pytest.raises(UserError, match=r"reward '.*raise_on_model_output' raised on sample 'synth_rsvqa/[^']+'"):
        main(cfg)


def test_missing_reward_column_fails_before_training(tiny_model_dirs, tiny_world, tmp_path):
    from rl.train import main

    with pytest.raises(UserError, match="no 'caption' rows"):
        main(_cfg(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], tmp_path / "run", "data.sources.0.tasks=[vqa]",
                  "rewards={vqa: [{name: vqa_match}], caption: [{name: cider_d}]}"))


def test_resume_keeps_rollout_store_without_duplicates(tiny_model_dirs, tiny_world, tmp_path):
    from rl.train import main

    run = tmp_path / "run"
    args = ("trainer.max_steps=2", "trainer.save_strategy=steps", "trainer.save_steps=1", "trainer.save_total_limit=null")
    main(_cfg(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], run, *args))
    first = RolloutReader(run).read_step(1).to_pandas()
    # A crash after checkpoint-1: step 1's rollouts were written, its update and checkpoint were not.
    shutil.rmtree(run / "checkpoint-2")
    main(_cfg(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], run, *args, "trainer.resume_from_checkpoint=true"))
    reader = RolloutReader(run)
    assert reader.steps() == [0, 1]
    again = reader.read_step(1).to_pandas()
    assert len(again) == 8 and len(reader.read_all()) == 16
    # The resumed run regenerated step 1 for the same prompts (same data position, no skipped batch).
    assert sorted(again["sample_id"]) == sorted(first["sample_id"])
    assert sorted(int(k) for k in reader.index()["steps"]) == [0, 1]


def test_recorder_background_writes_keep_order_and_surface_errors(tmp_path):
    from PIL import Image

    from rl.trainer import RolloutRecorder, _FlushRollouts

    rec = RolloutRecorder(tmp_path, lambda *a: {}, num_generations=2)
    img = Image.new("RGB", (8, 6), (200, 10, 10))
    row = {"sample_id": "s/1", "images": [img]}
    paths = rec._image_paths(row) + rec._image_paths(row)  # the same image twice in a batch: queued once
    assert len(rec._pending) == 1 and paths[0] == paths[1] == "rollouts/images/s_1_0_8x6.png"
    order = []
    rec._submit(lambda: order.append((tmp_path / paths[0]).is_file()))  # runs after the PNG write: FIFO, one thread
    _FlushRollouts(rec).on_step_end(None, None, None)
    assert order == [True] and not rec._pending and Image.open(tmp_path / paths[0]).getpixel((0, 0)) == (200, 10, 10)

    def disk_full():
        raise OSError(28, "No space left on device")

    rec._submit(disk_full)
    with pytest.raises(OSError, match="No space left"):
        rec.flush()
