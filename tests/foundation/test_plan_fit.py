"""`georft plan` for LoRA, QLoRA, frozen parts and offload; `--fit`; the memory-sized recipes validate and fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from georft.config import load_config
from georft.pipeline import PipelineConfig
from models.loading import LoraSection, ModelSection

REPO = Path(__file__).resolve().parents[2]
GIB = 1024**3
Q7 = "Qwen/Qwen2.5-VL-7B-Instruct"
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RECIPES = ["qwen2_5_vl_3b_1x24gb", "qwen2_5_vl_7b_1x80gb_lora", "qwen2_5_vl_7b_4x80gb", "qwen2_5_vl_7b",
           "qwen3_vl_8b_1x80gb_lora", "qwen3_vl_8b"]


def test_lora_trainable_parameters_by_hand():
    from models.memory_plan import train_spec

    spec = train_spec(Q7, ModelSection(path=Q7, lora=LoraSection(enabled=True, r=64, target_modules=ALL)))
    # per layer r x (in + out): q, o 3584->3584; k, v 3584->512; gate, up 3584->18944; down 18944->3584; 28 layers
    per_layer = 64 * (2 * 7168 + 2 * (3584 + 512) + 3 * (3584 + 18944))
    assert spec.trainable == 28 * per_layer == 161_480_704
    assert not spec.vision_trains
    dora = train_spec(Q7, ModelSection(path=Q7, lora=LoraSection(enabled=True, r=64, target_modules=ALL, dora=True)))
    assert dora.trainable - spec.trainable == 28 * (3584 + 512 + 512 + 3584 + 18944 + 18944 + 3584)  # magnitudes


def test_frozen_vision_and_qlora_counts():
    from models.memory_plan import model_size, train_spec

    size = model_size(Q7)
    frozen = train_spec(Q7, ModelSection(path=Q7, freeze_vision=True))
    merger = 5120 * 5120 + 5120 + 5120 * 3584 + 3584 + 1280  # the patch merger (two linears + its norm) still trains
    assert frozen.trainable == size.params - size.vision_params + merger and not frozen.vision_trains
    q = train_spec(Q7, ModelSection(path=Q7, quantization="4bit", lora=LoraSection(enabled=True, r=8)))
    per_layer = 2 * 3584 * 3584 + 2 * 3584 * 512 + 3 * 3584 * 18944  # the language model's linear weights
    assert q.quantized == 28 * per_layer


def test_general_model_states_equal_deepspeeds_estimates():
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    from models.memory_plan import TrainSpec, model_size, model_states, model_states_for

    size = model_size(Q7)
    full = TrainSpec(size.params)
    for zero in (0, 1, 2, 3):
        assert model_states_for(size, full, zero, 8)[3] == pytest.approx(model_states(size, zero, 8)[3])
    # offload: DeepSpeed's own cpu_offload estimates (ZeRO-2; ZeRO-3 optimizer only, and with parameters)
    _, ds2 = estimate_zero2_model_states_mem_needs(size.params, 8, 1, cpu_offload=True)
    assert model_states_for(size, full, 2, 8, offload_optimizer=True)[3] == pytest.approx(ds2)
    _, ds3, _ = estimate_zero3_model_states_mem_needs(size.params, size.largest_layer_params, 8, 1, cpu_offload=True,
                                                      cpu_offload_params=False)
    assert model_states_for(size, full, 3, 8, offload_optimizer=True)[3] == pytest.approx(ds3, rel=1e-6)
    _, ds3p, _ = estimate_zero3_model_states_mem_needs(size.params, size.largest_layer_params, 8, 1, cpu_offload=True,
                                                       cpu_offload_params=True)
    assert model_states_for(size, full, 3, 8, offload_optimizer=True, offload_params=True)[3] == pytest.approx(ds3p)
    # LoRA on one GPU: frozen bf16 weights + 20 B per adapter parameter; QLoRA: the quantized weights at NF4's size
    lora = TrainSpec(1000, 0, False)
    assert model_states_for(size, lora, 0, 1)[3] == 2 * (size.params - 1000) + 20 * 1000
    qlora = TrainSpec(1000, 10**9, False)
    assert model_states_for(size, qlora, 0, 1)[3] == pytest.approx(
        2 * (size.params - 1000 - 10**9) + 4.127 / 8 * 10**9 + 20 * 1000)


@pytest.mark.parametrize("name", RECIPES)
def test_each_recipe_validates_fits_and_starts_with_its_launch_command(name):
    from georft.plan import plan_pipeline, plan_text

    path = REPO / f"configs/pipeline/{name}.yaml"
    cfg = load_config(PipelineConfig, path, [])
    _, plans = plan_pipeline(cfg)
    for p in plans:
        assert p.total <= cfg.hardware.gpu_memory_gib * GIB, (name, p.stage, p.total / GIB)
    assert "WARNING" not in plan_text(cfg)
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and f"configs/pipeline/{name}.yaml" in first and "scripts/single_node.sh" in first
    # the launcher's accelerate config matches the hardware section the plan assumed
    accel = "deepspeed_zero3.yaml" if cfg.hardware.zero_stage == 3 else "ddp.yaml"
    assert (f"ACCEL_CONFIG=configs/accelerate/{accel}" in first) or ("ACCEL_CONFIG" not in first and accel.startswith("deepspeed_zero3"))
    assert f"NGPUS={cfg.hardware.gpus}" in first or ("NGPUS" not in first and cfg.hardware.gpus == 8)
    t = cfg.grpo.trainer
    gen = t["per_device_train_batch_size"] * cfg.hardware.gpus * t.get("gradient_accumulation_steps", 1)
    assert gen % t["num_generations"] == 0 and gen == 128  # every recipe keeps the 8-GPU generation batch


@pytest.mark.slow  # ~20 plans of two 7B-class configs
def test_fit_prints_pasteable_overrides_that_fit():
    from georft.plan import plan_pipeline
    from georft.plan_fit import fit_text

    path = str(REPO / "configs/pipeline/qwen2_5_vl_7b.yaml")
    text = fit_text(path, ["base_model.path=Qwen/Qwen2.5-VL-3B-Instruct"], 1, 24)
    lines = text.splitlines()
    assert lines[2].startswith("sft: LoRA r=64") and lines[4].startswith("grpo: LoRA r=64")
    assert "gradient accumulation x 8" in lines[1]
    overrides = lines[lines.index("pipeline overrides (paste after the config):") + 1].split()
    assert "hardware.gpu_memory_gib=24" in overrides and "sft.model.lora.enabled=true" in overrides
    cfg = load_config(PipelineConfig, path, ["base_model.path=Qwen/Qwen2.5-VL-3B-Instruct", *overrides])
    assert all(p.total <= 24 * GIB for p in plan_pipeline(cfg)[1])
    # full fine-tuning is the first rung when it fits: 8 x 80 GB
    big = fit_text(path, [], 8, 80)
    assert "sft: full fine-tuning, ZeRO-2" in big and "grpo: full fine-tuning" in big


def test_fit_without_memory_is_one_line(capsys):
    from georft.cli import main

    assert main(["plan", "--fit", "--gpus", "1"]) == 2
    assert "--fit needs --gpus N and --gpu-memory G" in capsys.readouterr().err
