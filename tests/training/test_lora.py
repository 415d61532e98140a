"""LoRA through every stage on the tiny models: SFT -> eval of the adapter -> GRPO from it -> merge -> eval of the
merged folder, the merge's logits, the adapter options (vision / merger / DoRA / merge-then-new-adapter)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from data_engine.errors import UserError
from georft.cli import main as cli
from georft.config import load_config
from rl.config import GRPORunConfig
from sft.config import SFTRunConfig

REPO = Path(__file__).resolve().parents[2]


def _sft(model_dir, built, out, *extra) -> SFTRunConfig:
    return load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml", [
        f"model.path={model_dir}", f"data.root={built}", "data.sources=[{path: ., split: train, tasks: [vqa]}]",
        f"output_dir={out}", "trainer.max_steps=2", "trainer.per_device_train_batch_size=2", "trainer.logging_steps=1",
        "trainer.save_strategy=no", "trainer.report_to=[]", "trainer.dataloader_num_workers=0", *extra,
    ])


def _grpo(model_dir, built, out, *extra) -> GRPORunConfig:
    return load_config(GRPORunConfig, REPO / "configs/grpo/demo_cpu.yaml", [
        f"model.path={model_dir}", f"data.root={built}", "data.sources=[{path: ., split: train, tasks: [classification, vqa]}]",
        f"output_dir={out}", "trainer.max_steps=1", "trainer.per_device_train_batch_size=4", "trainer.num_generations=2",
        "trainer.max_completion_length=8", "trainer.logging_steps=1", "trainer.save_strategy=no",
        "trainer.report_to=[]", "trainer.dataloader_num_workers=0", *extra,
    ])


def _eval(model, built, out) -> list[dict]:
    args = ["eval", "--model", str(model), "--suite", "demo", "--out", str(out), "--datasets",
            "synth_scenes,synth_rsvqa", "--limit", "2", f"data_root={built}", "max_new_tokens=6", "baselines=false"]
    assert cli(args) == 0
    return [json.loads(x) for x in (Path(out) / "predictions.jsonl").read_text().splitlines()]


def _adapter_weights(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "adapter_model.safetensors"))


def _fixed_batch(processor):
    from PIL import Image

    img = Image.new("RGB", (56, 56), (40, 120, 200))
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in the image?"}]}]
    text = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    return processor(text=[text], images=[img], return_tensors="pt")


def test_lora_sft_eval_grpo_merge_eval(tiny_model_dirs, tiny_world, tmp_path):
    """The whole LoRA life cycle on the tiny Qwen2.5-VL, each hand-off a folder as a user would pass it."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from models.adapters import adapter_base, is_adapter_dir
    from rl.train import main as grpo_main
    from sft.train import main as sft_main

    base, built = tiny_model_dirs["qwen2_5_vl"], tiny_world[1]
    # 1. LoRA SFT saves an adapter folder (no config.json) that names its base, with the processor beside it.
    sft_main(_sft(base, built, tmp_path / "sft", "model.lora.enabled=true", "model.lora.r=4"))
    sft = tmp_path / "sft"
    assert is_adapter_dir(sft) and not (sft / "config.json").exists()
    assert adapter_base(sft) == base
    sft_w = _adapter_weights(sft)
    assert sft_w and all("lora_" in k for k in sft_w)
    assert not any(".visual." in k for k in sft_w)  # language model only by default
    assert any(v.abs().sum() > 0 for k, v in sft_w.items() if "lora_B" in k)  # trained (B starts at zero)

    # 2. The adapter folder is a valid --model for eval.
    rows_sft = _eval(sft, built, tmp_path / "eval_sft")
    assert len(rows_sft) == 4 and all(isinstance(r["completion"], str) for r in rows_sft)

    # 3. GRPO from the adapter continues the same adapter (the default), saving an adapter on the same base.
    summary = grpo_main(_grpo(sft, built, tmp_path / "grpo"))
    grpo = tmp_path / "grpo"
    assert summary["steps"] == 1 and is_adapter_dir(grpo) and adapter_base(grpo) == base
    grpo_w = _adapter_weights(grpo)
    assert set(grpo_w) == set(sft_w)  # the same LoRA tensors (r=4 on the same layers), not a new adapter

    # 4. Merge and export a plain folder: the merged model's logits equal base + adapter on a fixed batch.
    assert cli(["export", "--model", str(grpo), "--out", str(tmp_path / "merged"), "--merge"]) == 0
    merged = tmp_path / "merged"
    assert (merged / "config.json").is_file() and not is_adapter_dir(merged)
    assert (merged / "chat_template.jinja").is_file() or "chat_template" in (merged / "tokenizer_config.json").read_text()
    processor = AutoProcessor.from_pretrained(merged)
    batch = _fixed_batch(processor)
    plain = AutoModelForImageTextToText.from_pretrained(merged).eval()
    peft = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base), str(grpo)).eval()
    bare = AutoModelForImageTextToText.from_pretrained(base).eval()
    with torch.no_grad():
        want, got, without = peft(**batch).logits, plain(**batch).logits, bare(**batch).logits
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(without, want, atol=1e-3)  # the adapter matters: the check above can fail

    # 5. The merged folder evaluates like the adapter it came from (greedy: the same completions).
    rows_merged = _eval(merged, built, tmp_path / "eval_merged")
    rows_grpo = _eval(grpo, built, tmp_path / "eval_grpo")
    assert [r["completion"] for r in rows_merged] == [r["completion"] for r in rows_grpo]


def test_merge_mode_starts_a_new_adapter_on_the_merged_base(tiny_model_dirs, tiny_world, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from models.adapters import adapter_base
    from sft.train import build_trainer

    base, built = tiny_model_dirs["qwen3_vl"], tiny_world[1]
    model = AutoModelForImageTextToText.from_pretrained(base)
    adapter = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    adapter.save_pretrained(tmp_path / "ad")
    AutoProcessor.from_pretrained(base).save_pretrained(tmp_path / "ad")
    cfg = _sft(tmp_path / "ad", built, tmp_path / "run", "model.lora.from_adapter=merge", "model.lora.enabled=true",
               "model.lora.r=3", "model.lora.target_modules=[v_proj]")
    trainer, _, _ = build_trainer(cfg)
    merged = tmp_path / "run" / "merged_base"
    assert (merged / "config.json").is_file()
    peft_cfg = trainer.model.peft_config["default"]
    assert peft_cfg.r == 3 and "v_proj" in peft_cfg.target_modules and "q_proj" not in peft_cfg.target_modules
    assert peft_cfg.base_model_name_or_path == str(merged)
    trainer.save_model(str(tmp_path / "run"))
    assert adapter_base(tmp_path / "run") == str(merged)


def test_vision_and_merger_targets_and_dora(tiny_model_dirs, tiny_world, tmp_path):
    from sft.train import build_trainer

    cfg = _sft(tiny_model_dirs["qwen3_vl"], tiny_world[1], tmp_path, "model.lora.enabled=true",
               "model.lora.vision=true", "model.lora.merger=true", "model.lora.dora=true")
    trainer, _, _ = build_trainer(cfg)
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert any(".visual.blocks." in n and "lora_A" in n for n in trainable)
    assert any(".visual.merger." in n and "lora_A" in n for n in trainable)
    assert any("deepstack_merger" in n and "lora_A" in n for n in trainable)
    assert any("lora_magnitude_vector" in n for n in trainable)  # DoRA
    # only adapter weights train; every adapted language layer is one of the named projections
    assert all("lora_" in n for n in trainable)
    llm = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable if ".visual." not in n}
    assert llm == {"q_proj", "k_proj", "v_proj", "o_proj"}


def test_default_targets_leave_the_vision_tower_alone_even_where_names_repeat(tiny_model_dirs, tiny_world, tmp_path):
    # Qwen2.5-VL's vision MLP has gate_proj/up_proj/down_proj like the language model's: a bare name list would adapt
    # both; the generated pattern adapts the language model's only.
    from sft.train import build_trainer

    cfg = _sft(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], tmp_path, "model.lora.enabled=true",
               "model.lora.target_modules=[gate_proj]")
    trainer, _, _ = build_trainer(cfg)
    adapted = {n.split(".lora_")[0] for n, p in trainer.model.named_parameters() if "lora_A" in n}
    assert adapted and all(".language_model." in n and n.endswith("gate_proj") for n in adapted)


def test_misspelt_target_is_one_line_with_suggestion(tiny_model_dirs, tiny_world, tmp_path):
    from sft.train import build_trainer

    cfg = _sft(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], tmp_path, "model.lora.enabled=true",
               "model.lora.target_modules=[q_prj]")
    with pytest.raises(UserError, match='q_prj.*Did you mean "q_proj"'):
        build_trainer(cfg)


def test_adapter_without_base_is_one_line(tmp_path):
    from models.adapters import config_dir

    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 4}))
    with pytest.raises(UserError, match="base_model_name_or_path is missing"):
        config_dir(tmp_path)


def test_vllm_backend_serves_a_merged_copy_of_an_adapter(tiny_model_dirs, tmp_path, monkeypatch):
    """Up to the engine (which needs a GPU): an adapter given to the vLLM backend is merged once into the eval
    folder and that plain folder is what vLLM is built from; a second open reuses it."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    import rollout.generate as generate
    from eval.runner import open_backend
    from georft.commands.eval import load_suite
    from models.adapters import is_adapter_dir

    base = tiny_model_dirs["qwen2_5_vl"]
    peft = get_peft_model(AutoModelForImageTextToText.from_pretrained(base),
                          LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    peft.save_pretrained(tmp_path / "ad")
    AutoProcessor.from_pretrained(base).save_pretrained(tmp_path / "ad")
    built = []

    class FakeEngine:
        def __init__(self, model_path, processor, **kw):
            built.append(model_path)

    monkeypatch.setattr(generate, "require_vllm", lambda: None)
    monkeypatch.setattr(generate, "VLLMBackend", FakeEngine)
    suite = load_suite("demo", [])
    open_backend("vllm", str(tmp_path / "ad"), suite, work_dir=tmp_path / "eval")
    merged = tmp_path / "eval" / "merged_model"
    assert built == [str(merged)] and (merged / "config.json").is_file() and not is_adapter_dir(merged)
    stamp = (merged / "model.safetensors").stat().st_mtime_ns
    open_backend("vllm", str(tmp_path / "ad"), suite, work_dir=tmp_path / "eval")
    assert built == [str(merged)] * 2 and (merged / "model.safetensors").stat().st_mtime_ns == stamp  # reused
    want = peft.merge_and_unload().state_dict()
    got = AutoModelForImageTextToText.from_pretrained(merged).state_dict()
    assert set(got) == set(want) and all(torch.allclose(got[k], want[k], atol=1e-6) for k in want)
