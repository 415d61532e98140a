"""`georft plan`: real model sizes on the meta device, DeepSpeed's estimators, vLLM share, warnings with knobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from georft.config import load_config
from georft.pipeline import PipelineConfig

REPO = Path(__file__).resolve().parents[2]
GIB = 1024**3


@pytest.mark.parametrize("name,params,card", [("Qwen/Qwen2.5-VL-7B-Instruct", 8_292_166_656, 8.29e9),
                                               ("Qwen/Qwen3-VL-8B-Instruct", 8_767_123_696, 8.77e9)])
def test_published_configs_count_the_published_parameters(name, params, card):
    from models.memory_plan import model_size

    size = model_size(name)
    assert size.params == params  # exact count of the meta-device build
    assert abs(size.params - card) / card < 0.001  # the model card's rounded figure


def test_model_states_follow_deepspeed_and_the_byte_counts():
    from models.memory_plan import model_size, model_states

    size = model_size("Qwen/Qwen2.5-VL-7B-Instruct")
    p, largest = size.params, size.largest_layer_params
    w, g, o, ds = model_states(size, 3, 8)
    assert (w, g, o) == (2 * p / 8, 6 * p / 8, 12 * p / 8)
    assert ds == 4 * largest + int(18 * p / 8)  # DeepSpeed's ZeRO-3 estimate without offload
    w, g, o, ds = model_states(size, 2, 8)
    assert (w, ds) == (2 * p, 2 * p + int(18 * p / 8))
    assert model_states(size, 0, 8)[3] == 20 * p  # plain DDP: everything on every GPU


def test_plan_of_the_gpu_pipelines_fits_and_names_knobs_when_it_does_not():
    from georft.plan import plan_pipeline, plan_text
    from models.memory_plan import kv_bytes_per_token

    cfg = load_config(PipelineConfig, REPO / "configs/pipeline/qwen2_5_vl_7b.yaml", [])
    size, (sft, grpo) = plan_pipeline(cfg)
    assert kv_bytes_per_token(size) == 2 * 28 * 4 * 128 * 2  # K and V, 28 layers, 4 KV heads, head_dim 128, bf16
    assert grpo.vllm_share == pytest.approx(0.35 * 80 * GIB) and grpo.vllm_weights == 2 * size.params
    assert sft.total < 80 * GIB and grpo.total < 80 * GIB
    assert "WARNING" not in plan_text(cfg)
    small = load_config(PipelineConfig, REPO / "configs/pipeline/qwen2_5_vl_7b.yaml",
                        ["hardware.gpu_memory_gib=40", "grpo.trainer.vllm_gpu_memory_utilization=0.2"])
    text = plan_text(small)
    assert "WARNING grpo" in text and "grpo.trainer.vllm_gpu_memory_utilization (now 0.2)" in text
    assert "does not hold its weights" in text  # 8 GiB cannot hold 15.4 GiB of bf16 weights


def test_cpu_pipeline_has_no_plan(capsys):
    from georft.cli import main

    assert main(["plan", "--config", str(REPO / "configs/pipeline/demo_cpu.yaml")]) == 2
    assert "hardware.gpus is 0" in capsys.readouterr().err


def test_pipeline_prints_the_plan_first_for_gpu_configs(tmp_path, monkeypatch, capsys):
    import georft.pipeline as pipeline

    ran = []
    monkeypatch.setattr(pipeline, "RUNNERS", {s: (lambda cfg, dirs, s=s: ran.append(s)) for s in pipeline.STAGES})
    for config, planned in (("qwen3_vl_8b", True), ("demo_cpu", False)):
        cfg = load_config(PipelineConfig, REPO / f"configs/pipeline/{config}.yaml", [f"output_dir={tmp_path / config}"])
        pipeline.run_pipeline(cfg, only="compare")
        err = capsys.readouterr().err
        assert ("memory plan (georft plan)" in err) == planned
        if planned:  # before any stage ran
            assert err.index("memory plan") < err.index("compare: running") and "Qwen/Qwen3-VL-8B-Instruct" in err
    assert ran == ["compare", "compare"]
