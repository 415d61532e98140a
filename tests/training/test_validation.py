"""Validation during training: config checks at load, the callback at the declared steps, metrics written, `best/`
holding the model of the best step (a scripted metric sequence), and the real held-out slice on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from data_engine.errors import UserError
from georft.config import load_config
from sft.config import SFTRunConfig

REPO = Path(__file__).resolve().parents[2]


def _config_file(tmp_path, validation: str, stage: str = "sft") -> Path:
    """A run config composing the demo config and an eval suite (`_base_`), as a user writes one."""
    p = tmp_path / f"{stage}_val.yaml"
    p.write_text(f"_base_: {REPO / f'configs/{stage}/demo_cpu.yaml'}\n"
                 f"validation:\n  suite: {{_base_: {REPO / 'configs/eval/demo.yaml'}}}\n{validation}")
    return p


def test_config_validated_at_load(tmp_path):
    ok = _config_file(tmp_path, "  enabled: true\n  datasets: [synth_scenes, synth_rsvg]\n"
                                "  metric: synth_rsvg/mean_iou\n  every_steps: 5\n")
    cfg = load_config(SFTRunConfig, ok)
    assert cfg.validation.enabled and cfg.validation.suite.datasets[0].name == "synth_det"
    assert not load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml").validation.enabled
    bad = {
        "validation.metric=synth_det/mAP": "dataset of the slice",  # not in `datasets`
        "validation.metric=mean_iou": "'<dataset>/<metric>'",
        "validation.mode=maximum": "mode must be one of max, min",
        "validation.every_steps=0": "every_steps must be an integer >= 1",
        "validation.datasets=[synth_rvsg]": "validation.datasets: unknown dataset 'synth_rvsg'.*Did you mean",
    }
    for override, message in bad.items():
        with pytest.raises(UserError, match=message):
            load_config(SFTRunConfig, ok, [override])
    with pytest.raises(UserError, match="suite has no datasets"):
        load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml", ["validation.enabled=true",
                                                                    "validation.suite.datasets=[]"])
    from rl.config import GRPORunConfig

    grpo = load_config(GRPORunConfig, _config_file(tmp_path, "  enabled: true\n  metric: synth_scenes/accuracy\n",
                                                   "grpo"))
    assert grpo.validation.metric == "synth_scenes/accuracy"


class _Scripted:
    """Stands in for the held-out slice: the declared metric follows a fixed sequence, one value per call."""

    values = [0.1, 0.5, 0.3, 0.4]
    calls: list[int] = []

    def __init__(self, section, run_data_root, family, work_dir) -> None:
        type(self).calls = []

    def run(self, model, processor):
        k = len(self.calls)
        self.calls.append(k)
        return {"synth_rsvg/mean_iou": self.values[k], "synth_rsvg/acc@0.5": 0.0}


def test_callback_steps_metrics_and_best_checkpoint(tiny_model_dirs, tiny_world, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    import eval.validation_callback as vc
    from sft.train import main

    monkeypatch.setattr(vc, "Validator", _Scripted)
    out = tmp_path / "run"
    cfg = load_config(SFTRunConfig, _config_file(tmp_path, "  enabled: true\n  datasets: [synth_rsvg]\n"
                                                            "  metric: synth_rsvg/mean_iou\n  every_steps: 2\n"), [
        f"model.path={tiny_model_dirs['qwen3_vl']}", f"data.root={tiny_world[1]}",
        "data.sources=[{path: ., split: train, tasks: [grounding]}]", f"output_dir={out}",
        "trainer.max_steps=6", "trainer.per_device_train_batch_size=2", "trainer.logging_steps=1",
        "trainer.save_strategy=steps", "trainer.save_steps=2", "trainer.save_total_limit=null",
        "trainer.report_to=[]", "trainer.learning_rate=0.05"])
    summary = main(cfg)
    lines = [json.loads(x) for x in (out / "validation" / "metrics.jsonl").read_text().splitlines()]
    # before the first step, every 2 steps, and the last step once (on_train_end does not repeat step 6)
    assert [x["step"] for x in lines] == [0, 2, 4, 6]
    assert [x["value"] for x in lines] == [0.1, 0.5, 0.3, 0.4]
    assert [x["best"] for x in lines] == [True, True, False, False]
    assert json.loads((out / "best" / "validation.json").read_text())["step"] == 2
    assert summary["validation"]["best_step"] == 2 and summary["validation"]["best_value"] == 0.5
    # best/ holds the weights of step 2 (the Trainer's own checkpoint of that step), not the last ones
    best = load_file(out / "best" / "model.safetensors")
    at2 = load_file(out / "checkpoint-2" / "model.safetensors")
    last = load_file(out / "model.safetensors")
    assert best.keys() == at2.keys()
    assert all(torch.equal(best[k], at2[k]) for k in best)
    assert any(not torch.equal(best[k], last[k]) for k in best)  # lr 0.05: the weights moved after step 2
    assert sorted(p.name for p in (out / "best").glob("*.json") if "processor" in p.name or "tokenizer" in p.name) \
        == sorted(p.name for p in out.glob("*.json") if "processor" in p.name or "tokenizer" in p.name) != []
    logged = [e for e in json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())["log_history"]
              if "val/synth_rsvg/mean_iou" in e]
    assert [e["step"] for e in logged] == [0, 2, 4, 6]


def test_real_slice_scores_with_the_suite_scorers(tiny_model_dirs, tiny_world, tmp_path):
    from data_engine.families import get_family
    from eval.validation import Validator
    from georft.config import load_config as load
    from models.loading import ModelSection, load_model, load_processor

    cfg = load(SFTRunConfig, _config_file(tmp_path, "  enabled: true\n  datasets: [synth_scenes, synth_rsvg]\n"
                                                    "  samples_per_task: 2\n  metric: synth_rsvg/mean_iou\n"),
               [f"data.root={tiny_world[1]}", "validation.suite.max_new_tokens=8"])
    v = Validator(cfg.validation, str(tiny_world[1]), get_family("qwen3_vl"), tmp_path / "validation")
    assert [len(r) for r in v.rows.values()] == [2, 2]
    model = load_model(ModelSection(path=tiny_model_dirs["qwen3_vl"], dtype="float32")).train()
    processor = load_processor(tiny_model_dirs["qwen3_vl"], v.suite.min_pixels, v.suite.max_pixels)
    metrics = v.run(model, processor)
    assert model.training  # restored
    assert {"synth_scenes/accuracy", "synth_rsvg/mean_iou", "synth_rsvg/acc@0.5"} <= set(metrics)
    assert metrics["synth_scenes/n"] == 2 and 0.0 <= metrics["synth_rsvg/mean_iou"] <= 1.0


def test_grpo_wiring_logs_and_keeps_best(tiny_model_dirs, tiny_world, tmp_path, monkeypatch):
    import eval.validation_callback as vc
    from rl.config import GRPORunConfig
    from rl.train import main

    monkeypatch.setattr(vc, "Validator", _Scripted)
    monkeypatch.setattr(_Scripted, "values", [0.3, 0.2, 0.6])
    out = tmp_path / "grpo"
    cfg = load_config(GRPORunConfig, _config_file(tmp_path, "  enabled: true\n  datasets: [synth_rsvg]\n"
                                                             "  metric: synth_rsvg/mean_iou\n  every_steps: 1\n",
                                                  "grpo"), [
        f"model.path={tiny_model_dirs['qwen3_vl']}", f"data.root={tiny_world[1]}",
        "data.sources=[{path: ., split: train, tasks: [classification, vqa]}]", f"output_dir={out}",
        "trainer.max_steps=2", "trainer.per_device_train_batch_size=4", "trainer.num_generations=2",
        "trainer.max_completion_length=6", "trainer.logging_steps=1", "trainer.save_strategy=no",
        "trainer.report_to=[]"])
    summary = main(cfg)
    lines = [json.loads(x) for x in (out / "validation" / "metrics.jsonl").read_text().splitlines()]
    assert [(x["step"], x["best"]) for x in lines] == [(0, True), (1, False), (2, True)]
    assert summary["validation"]["best_step"] == 2
    assert json.loads((out / "best" / "validation.json").read_text())["value"] == 0.6
