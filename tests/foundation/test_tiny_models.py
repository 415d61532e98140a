"""Tiny offline Qwen-VL models: load offline, generate, save round trip, forward/backward, image-token count."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from data_engine.families import get_family
from data_engine.resize import image_tokens, smart_resize

ARCHS = ("qwen2_5_vl", "qwen3_vl")


def _conversation(answer: str | None = None) -> list[dict]:
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "find the plane"}]}]
    if answer is not None:
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return msgs


@pytest.mark.parametrize("arch", ARCHS)
def test_loads_offline_and_generates(tiny_model_dirs, arch):
    path = tiny_model_dirs[arch]
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert model.config.model_type == arch
    n_params = sum(p.numel() for p in model.parameters())
    assert 2e5 < n_params < 5e6, n_params
    text = processor.apply_chat_template(_conversation(), add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    inputs = processor(text=[text], images=[Image.new("RGB", (112, 84), (90, 120, 60))], return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


@pytest.mark.parametrize("arch", ARCHS)
def test_image_tokens_match_processor_grid_and_backward(tiny_model_dirs, arch):
    path = tiny_model_dirs[arch]
    family = get_family(arch)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)
    # 200x150 -> smart resize by hand: factor 28: round(150/28)=5 -> 140, round(200/28)=7 -> 196 -> 5*7=35 tokens;
    # factor 32: round(150/32)=5 -> 160 (4.69), round(200/32)=6 -> 192 (6.25) -> 5*6=30 tokens.
    expected = {"qwen2_5_vl": 35, "qwen3_vl": 30}[arch]
    h, w = smart_resize(150, 200, family.factor, 4 * family.factor**2, 1024 * 32 * 32)
    assert image_tokens(h, w, family.factor) == expected
    image = Image.new("RGB", (200, 150), (200, 40, 40))
    text = processor.apply_chat_template(_conversation("1,2,3,4 plane"))
    batch = processor(text=[text], images=[image], return_tensors="pt")
    grid = batch["image_grid_thw"][0]
    n_image_tokens = int((batch["input_ids"] == model.config.image_token_id).sum())
    assert n_image_tokens == int(grid.prod()) // family.merge_size**2 == expected
    batch["labels"] = batch["input_ids"].clone()
    model.train()
    loss = model(**batch).loss
    assert torch.isfinite(loss)
    loss.backward()
    vision_grad = next(p.grad for n, p in model.named_parameters() if "visual" in n and p.grad is not None)
    assert vision_grad is not None and float(vision_grad.abs().sum()) > 0  # gradient reaches the vision tower


@pytest.mark.parametrize("arch", ARCHS)
def test_save_pretrained_round_trip(tiny_model_dirs, arch, tmp_path):
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dirs[arch])
    processor = AutoProcessor.from_pretrained(tiny_model_dirs[arch])
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    again = AutoModelForImageTextToText.from_pretrained(tmp_path)
    for (n1, p1), (n2, p2) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2)
    assert AutoProcessor.from_pretrained(tmp_path).tokenizer.get_vocab() == processor.tokenizer.get_vocab()


def test_special_tokens_and_digits(tiny_model_dirs):
    tok = AutoProcessor.from_pretrained(tiny_model_dirs["qwen2_5_vl"]).tokenizer
    for t in ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<tool_call>"):
        assert len(tok.tokenize(t)) == 1, t
    assert tok.tokenize("1234") == ["1", "2", "3", "4"]  # Qwen splits numbers into single digits
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert "{% generation %}" not in (tok.chat_template or "")  # stock template; TRL swaps in its training one


def _digest(path: Path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes() + (path / "tokenizer.json").read_bytes()).hexdigest()


def test_deterministic_for_a_seed(tiny_model_dirs, tmp_path):
    from models.tiny import build_tiny

    again = build_tiny("qwen2_5_vl", tmp_path / "a", seed=0)
    other = build_tiny("qwen2_5_vl", tmp_path / "b", seed=1)
    assert _digest(again) == _digest(Path(tiny_model_dirs["qwen2_5_vl"]))
    assert _digest(other) != _digest(again)
