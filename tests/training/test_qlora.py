"""QLoRA wiring without a GPU: the 4-bit config reaches `from_pretrained`, CPU refuses in one line, config rules."""

from __future__ import annotations

import pytest
import torch

from data_engine.errors import UserError
from models.loading import LoraSection, ModelSection


def _section(path="m", **kw) -> ModelSection:
    return ModelSection(path=path, quantization="4bit", lora=LoraSection(enabled=True), **kw)


def test_kwargs_builder_makes_an_nf4_config():
    from models.loading import from_pretrained_kwargs

    kw = from_pretrained_kwargs(_section(dtype="auto"))
    q = kw["quantization_config"]
    assert q.load_in_4bit and not q.load_in_8bit
    assert q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == torch.bfloat16 and kw["dtype"] == torch.bfloat16
    assert set(q.llm_int8_skip_modules) == {"visual", "lm_head"}
    assert kw["device_map"] == {"": 0}
    assert from_pretrained_kwargs(_section(dtype="float16"))["quantization_config"].bnb_4bit_compute_dtype == torch.float16
    plain = from_pretrained_kwargs(ModelSection(path="m"))
    assert "quantization_config" not in plain and "device_map" not in plain


def test_local_rank_places_the_quantized_model(monkeypatch):
    from models.loading import from_pretrained_kwargs

    monkeypatch.setenv("LOCAL_RANK", "3")
    assert from_pretrained_kwargs(_section())["device_map"] == {"": 3}


def test_cpu_refuses_in_one_line(tiny_model_dirs):
    from models.loading import load_model

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UserError, match=r"^model.quantization=4bit \(QLoRA\) needs a CUDA GPU") as e:
        load_model(_section(tiny_model_dirs["qwen2_5_vl"]))
    assert "\n" not in str(e.value)


def test_4bit_without_lora_is_a_config_error():
    with pytest.raises(UserError, match="model.lora.enabled=true"):
        ModelSection(path="m", quantization="4bit").validate()
    with pytest.raises(UserError, match="model.quantization must be one of none, 4bit"):
        ModelSection(path="m", quantization="8bit").validate()


def test_config_reaches_from_pretrained(tiny_model_dirs, monkeypatch):
    """Everything up to the load runs for real; only the final `from_pretrained` call (which needs bitsandbytes'
    CUDA kernels) and the availability check that guards it are replaced."""
    import transformers

    import models.loading as loading

    seen = {}

    def fake_from_pretrained(path, **kwargs):
        seen.update(path=path, **kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(loading, "check_quantization_available", lambda name: None)
    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", fake_from_pretrained)
    with pytest.raises(RuntimeError, match="stop here"):
        loading.load_model(_section(tiny_model_dirs["qwen3_vl"]))
    assert seen["path"] == tiny_model_dirs["qwen3_vl"]
    assert seen["quantization_config"].load_in_4bit and seen["dtype"] == torch.bfloat16
    assert seen["attn_implementation"] == "sdpa"
