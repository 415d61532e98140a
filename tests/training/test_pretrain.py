"""`georft model pretrain`: a resumable run on a world of its own seed, its curve, and the shipped model's manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from data_engine.errors import UserError
from georft.config import load_config
from georft.pretrain import MANIFEST, PretrainConfig, curve_point, sha256_of, verify_manifest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models/pretrained/qwen3_vl_s"


def test_manifest_catches_a_changed_or_missing_file(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "config.json").write_text("{}")
    digests = {n: sha256_of(tmp_path / n) for n in ("model.safetensors", "config.json")}
    (tmp_path / MANIFEST).write_text(json.dumps({"command": "georft model pretrain --config X", "sha256": digests}))
    assert verify_manifest(tmp_path)["sha256"] == digests
    (tmp_path / "model.safetensors").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")  # an LFS pointer
    with pytest.raises(UserError, match=r"model.safetensors: checksum differs .* georft model pretrain --config X"):
        verify_manifest(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(UserError, match="model.safetensors: missing"):
        verify_manifest(tmp_path)
    assert verify_manifest(tmp_path / "nowhere") is None  # a user checkpoint without a manifest is not checked


def test_pretraining_refuses_the_demo_world_seed():
    with pytest.raises(UserError, match="world.seed must not be 0"):
        load_config(PretrainConfig, REPO / "configs/pretrain/qwen3_vl_s.yaml", ["world.seed=0"])


def test_curve_point_reads_the_eval_metrics():
    doc = {"metrics": {"synth_rsvg": {"mean_iou": 0.25, "acc@0.5": 0.1, "n": 100},
                       "synth_det": {"mAP": 0.125, "f1": 0.5, "precision": 0.9}}}
    assert curve_point(doc, "constant:") == {"constant:synth_rsvg/mean_iou": 0.25, "constant:synth_rsvg/acc@0.5": 0.1,
                                             "constant:synth_det/mAP": 0.125, "constant:synth_det/f1": 0.5}


@pytest.mark.skipif(not SHIPPED.is_dir(), reason="no shipped pre-trained model in this checkout")
def test_the_shipped_model_matches_its_manifest_and_command():
    manifest = verify_manifest(SHIPPED)
    assert manifest["command"] == "georft model pretrain --config configs/pretrain/qwen3_vl_s.yaml"
    assert {"model.safetensors", "config.json", "tokenizer.json", "processor_config.json"} <= set(manifest["sha256"])
    assert manifest["world"]["seed"] not in (0,)  # never the demo's training world
    assert manifest["curve"] and manifest["curve"][-1]["step"] == manifest["steps"]
    config = json.loads((SHIPPED / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl"


@pytest.mark.slow
def test_pretrain_end_to_end_resumes_scores_and_ships(tmp_path):
    """2 steps on a tiny world of seed 5, a checkpoint at step 1, the curve at steps 1 and 2, then the shipped copy
    is verified by the pipeline's base-model stage; a re-run trains nothing and gives the same curve."""
    from georft.pretrain import main

    sizes = ["model.hidden_size=128", "model.intermediate_size=256", "model.num_layers=2", "model.vision_depth=2",
             "model.vision_hidden_size=64", "model.vision_intermediate_size=128", "model.vision_heads=2",
             "model.min_pixels=4096", "model.max_pixels=16384", "sft.data.min_pixels=4096",
             "sft.data.max_pixels=16384"]
    cfg = load_config(PretrainConfig, REPO / "configs/pretrain/qwen3_vl_s.yaml", [
        f"output_dir={tmp_path / 'run'}", f"ship_dir={tmp_path / 'ship'}", "world.seed=5", "world.size=tiny",
        "sft.trainer.max_steps=2", "sft.trainer.save_steps=1", "sft.trainer.per_device_train_batch_size=2",
        "sft.trainer.report_to=[]", "sft.trainer.dataloader_num_workers=0", "curve.limit=2",
        "curve.overrides=[min_pixels=4096, max_pixels=16384, max_new_tokens=8]", *sizes])
    result = main(cfg)
    assert [p["step"] for p in result["curve"]] == [1, 2]
    assert {"synth_rsvg/mean_iou", "synth_det/mAP", "constant:synth_rsvg/mean_iou"} <= set(result["curve"][0])
    manifest = verify_manifest(tmp_path / "ship")
    assert manifest["steps"] == 2 and manifest["world"] == {"seed": 5, "size": "tiny"}
    assert (tmp_path / "run/curve.md").read_text().startswith("| step |")

    again = main(cfg)  # complete: no training, cached curve points
    assert again["curve"] == result["curve"]

    from georft.pipeline import PipelineConfig, _run_base_model

    pipe = load_config(PipelineConfig, REPO / "configs/pipeline/demo_cpu.yaml",
                       [f"output_dir={tmp_path / 'pipe'}", f"base_model.path={tmp_path / 'ship'}"])
    assert _run_base_model(pipe, pipe.stage_dirs)["manifest"] is True
    shutil.copy(tmp_path / "run/init/config.json", tmp_path / "ship/config.json")  # an edited file
    with pytest.raises(UserError, match="config.json: checksum differs"):
        _run_base_model(pipe, pipe.stage_dirs)
