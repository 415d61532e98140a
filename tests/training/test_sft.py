"""SFT stage on the tiny models and the tiny synthetic world: loss masking, freezing, resume, bad images, configs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from georft.config import load_config
from sft.config import SFTRunConfig

REPO = Path(__file__).resolve().parents[2]


def _cfg(model_dir, built, out, *extra) -> SFTRunConfig:
    return load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml", [
        f"model.path={model_dir}", f"data.root={built}", "data.sources=[{path: ., split: train}]", f"output_dir={out}",
        "trainer.max_steps=2", "trainer.per_device_train_batch_size=2", "trainer.logging_steps=1",
        "trainer.save_strategy=no", "trainer.report_to=[]", *extra,
    ])


def test_labels_cover_only_assistant_tokens(tiny_model_dirs, tiny_world, tmp_path):
    from sft.train import build_trainer

    cfg = _cfg(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], tmp_path, "data.sources.0.tasks=[vqa]")
    trainer, processor, _ = build_trainer(cfg)
    row = trainer.train_dataset[0]
    batch = trainer.data_collator([row])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    answer = row["messages"][-1]["content"][0]["text"]
    expected = processor.tokenizer(answer + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
    labelled = [i for i, lab in enumerate(labels) if lab != -100]
    # Token by token: the labelled positions are exactly the answer + end-of-turn, contiguous, at the end.
    assert [ids[i] for i in labelled] == expected
    assert labelled == list(range(len(ids) - len(expected), len(ids)))
    assert [labels[i] for i in labelled] == expected


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_frozen_parts_unchanged_trainable_changed(tiny_model_dirs, tiny_world, tmp_path, arch):
    from models.loading import _parts
    from sft.train import build_trainer

    cfg = _cfg(tiny_model_dirs[arch], tiny_world[1], tmp_path, "model.freeze_vision=true", "model.freeze_merger=true")
    trainer, _, _ = build_trainer(cfg)
    vision, merger, llm = _parts(trainer.model)
    before = [p.detach().clone() for p in vision + merger + llm]
    trainer.train()
    after = [p.detach() for p in vision + merger + llm]
    n_frozen = len(vision) + len(merger)
    assert all(torch.equal(a, b) for a, b in zip(before[:n_frozen], after[:n_frozen], strict=True))
    changed = [not torch.equal(a, b) for a, b in zip(before[n_frozen:], after[n_frozen:], strict=True)]
    assert sum(changed) >= 0.9 * len(changed)  # (almost) every language-model tensor moved in 2 steps
    assert all(not p.requires_grad for p in vision + merger)


def test_main_saves_loadable_checkpoint_and_summary(tiny_model_dirs, tiny_world, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from sft.train import main

    summary = main(_cfg(tiny_model_dirs["qwen3_vl"], tiny_world[1], tmp_path / "run"))
    assert summary["steps"] == 2 and summary["skipped_samples"]["total"] == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 2
    AutoModelForImageTextToText.from_pretrained(tmp_path / "run")
    AutoProcessor.from_pretrained(tmp_path / "run")


def test_resume_continues_the_same_data_order(tiny_model_dirs, tiny_world, tmp_path):
    """4 steps straight == 2 steps, checkpoint, then resume for 2 more (same batches, same weights)."""
    from sft.train import main

    common = ("trainer.max_steps=4", "trainer.save_strategy=steps", "trainer.save_steps=2", "trainer.save_total_limit=null",
              "trainer.learning_rate=1e-3")
    main(_cfg(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], tmp_path / "straight", *common))
    main(_cfg(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], tmp_path / "resumed", *common))
    # Simulate a kill after step 2: drop everything past checkpoint-2, then resume.
    resumed = tmp_path / "resumed"
    shutil.rmtree(resumed / "checkpoint-4")
    (resumed / "model.safetensors").unlink()
    main(_cfg(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], resumed, *common,
              f"trainer.resume_from_checkpoint={resumed / 'checkpoint-2'}"))
    from safetensors.torch import load_file

    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    log_a = [e["loss"] for e in json.loads((tmp_path / "straight/checkpoint-4/trainer_state.json").read_text())["log_history"] if "loss" in e]
    log_b = [e["loss"] for e in json.loads((resumed / "checkpoint-4/trainer_state.json").read_text())["log_history"] if "loss" in e]
    assert log_a == pytest.approx(log_b, abs=1e-6)


def test_corrupt_image_is_skipped_and_counted(tiny_model_dirs, tiny_world, tmp_path):
    from data_engine.build import load_built
    from sft.train import main

    ds = load_built(tiny_world[1])
    bad = [r["images"][0] for r in ds if r["task"] == "classification" and r["split"] == "train"]
    # Corrupt images: the classification rows point at files of garbage bytes in a private folder.
    for path in bad:
        tmp_img = tmp_path / "imgs" / Path(path).name
        tmp_img.parent.mkdir(exist_ok=True)
        tmp_img.write_bytes(b"not an image")
    ds = ds.map(lambda r: {"images": [str(tmp_path / "imgs" / Path(p).name) if p in bad else p for p in r["images"]]})
    built = tmp_path / "built"
    ds.save_to_disk(str(built))
    # classification among few tasks, so the 16 samples of 2 steps surely draw some of its corrupt images
    summary = main(_cfg(tiny_model_dirs["qwen2_5_vl"], built, tmp_path / "run", "trainer.per_device_train_batch_size=8",
                        "data.sources.0.tasks=[classification, vqa]"))
    assert summary["steps"] == 2
    skipped = summary["skipped_samples"]
    assert skipped["total"] >= 1
    assert all(r.startswith(("UnidentifiedImageError", "OSError")) for r in skipped["by_reason"])


def test_gpu_recipes_build_their_trl_configs(monkeypatch):
    """The GPU configs cannot train here; they load, validate and build SFTConfig (bf16 off only on this CPU)."""
    from sft.train import trl_config

    for name in ("qwen2_5_vl_7b_rscovlm", "qwen3_vl_8b_rscovlm"):
        cfg = load_config(SFTRunConfig, REPO / f"configs/sft/{name}.yaml", ["trainer.bf16=false"])
        args = trl_config(cfg)
        assert args.learning_rate == 2e-6 and args.lr_scheduler_type == "cosine" and args.weight_decay == 0.1
        assert args.per_device_train_batch_size * args.gradient_accumulation_steps * 8 == 32
        assert args.max_length is None and args.assistant_only_loss
        assert cfg.data.min_pixels == 64 * cfg.data.max_pixels // 1296
