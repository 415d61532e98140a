"""Think-then-answer mode end to end on both tiny architectures: one SFT step, one GRPO step with `think_format`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from data_engine.reasoning import THINK_ANSWER_INSTRUCTION
from eval.parsers import is_well_formed, parse, reasoning_chars
from georft.config import load_config
from rl.config import GRPORunConfig
from rollout.store import RolloutReader
from sft.config import SFTRunConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_one_sft_step_in_think_answer_mode(tiny_model_dirs, tiny_world, tmp_path, arch):
    from sft.train import build_trainer

    cfg = load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml", [
        f"model.path={tiny_model_dirs[arch]}", f"data.root={tiny_world[1]}",
        "data.sources=[{path: ., split: train, tasks: [vqa, grounding]}]", f"output_dir={tmp_path}",
        "data.reasoning=think_answer", "data.reasoning_tasks=null", "trainer.max_steps=1",
        "trainer.per_device_train_batch_size=2",
        "trainer.logging_steps=1", "trainer.save_strategy=no", "trainer.report_to=[]",
    ])
    trainer, processor, _ = build_trainer(cfg)
    row = trainer.train_dataset[0]
    assert row["messages"][-2]["content"][-1]["text"].endswith(THINK_ANSWER_INSTRUCTION)
    answer = row["messages"][-1]["content"][0]["text"]
    assert answer.startswith("<think></think>\n<answer>") and is_well_formed(answer)
    # The whole frame is learned: the labelled tokens are the framed answer and the end of turn.
    batch = trainer.data_collator([row])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    expected = processor.tokenizer(answer + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
    assert [ids[i] for i, lab in enumerate(labels) if lab != -100] == expected
    out = trainer.train()
    assert out.global_step == 1 and math.isfinite(out.training_loss)


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_one_grpo_step_in_think_answer_mode_records_reasoning(tiny_model_dirs, tiny_world, tmp_path, arch):
    from rl.train import main

    cfg = load_config(GRPORunConfig, REPO / "configs/grpo/demo_cpu.yaml", [
        f"model.path={tiny_model_dirs[arch]}", f"data.root={tiny_world[1]}",
        "data.sources=[{path: ., split: train, tasks: [vqa]}]", f"output_dir={tmp_path / 'run'}",
        "data.reasoning=think_answer", "data.reasoning_tasks=null", "reward_set=accuracy",
        "rewards={vqa: [{name: vqa_match, weight: 1.0}, {name: think_format, weight: 1.0}]}",
        "trainer.max_steps=1", "trainer.per_device_train_batch_size=4", "trainer.num_generations=2",
        "trainer.max_completion_length=12", "trainer.logging_steps=1", "trainer.save_strategy=no",
        "trainer.report_to=[]",
    ])
    assert main(cfg)["steps"] == 1
    table = RolloutReader(tmp_path / "run").read_step(0).to_pandas()
    assert len(table) == 4 and set(table["reasoning"]) == {"think_answer"}
    assert all(THINK_ANSWER_INSTRUCTION in p for p in table["prompt"])
    for _, r in table.iterrows():
        assert r["think_ok"] == is_well_formed(r["completion"])
        assert r["reasoning_chars"] == reasoning_chars(r["completion"])
        assert r["reward/vqa/think_format/overall"] == float(r["think_ok"])
        target = json.loads(r["target"])
        # The accuracy reward and the stored prediction read the answer block only, as eval does.
        pred = parse("vqa", r["completion"], reasoning="think_answer")
        assert json.loads(r["prediction"])["answer"] == pred["answer"]
        assert r["reward/vqa/vqa_match/overall"] == float(pred["answer"].lower() == str(target["answer"]).lower())
    line = RolloutReader(tmp_path / "run").index()["steps"]["0"]["tasks"]["vqa"]
    assert line["think_ok"] == table["think_ok"].mean()
