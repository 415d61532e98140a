"""Generation backends: HF batched generation agrees with one-by-one generation; vLLM fails clearly without GPU."""

from __future__ import annotations

import importlib.util

import pytest
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from data_engine.errors import UserError
from rollout.generate import BACKENDS, HFBackend, Request, SamplingSpec, require_vllm


def _requests() -> list[Request]:
    def req(text, color, size):
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
        return Request(msgs, [Image.new("RGB", size, color)])

    # Different prompt lengths and image sizes, so left padding matters.
    return [req("find the plane", (200, 30, 30), (112, 84)), req("is there a ship in the image?", (30, 30, 200), (56, 56))]


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_hf_batched_equals_single(tiny_model_dirs, arch):
    path = tiny_model_dirs[arch]
    backend = HFBackend(AutoModelForImageTextToText.from_pretrained(path), AutoProcessor.from_pretrained(path), 8)
    spec = SamplingSpec(max_new_tokens=6)
    batched = backend.generate(_requests(), spec)
    single = [backend.generate([r], spec)[0] for r in _requests()]
    assert [g.text for g in batched] == [g.text for g in single]
    for g in batched:
        # A random model rarely stops: without an end token the completion uses the whole budget.
        assert g.truncated == (g.num_tokens == 6)


def test_backend_registry_did_you_mean():
    assert set(BACKENDS.names()) == {"hf", "vllm"}
    with pytest.raises(UserError, match='Did you mean "vllm"'):
        BACKENDS.get("vlm")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_missing_is_one_clear_line():
    with pytest.raises(UserError, match=r"needs vLLM: pip install -e '\.\[gpu\]'"):
        require_vllm()
