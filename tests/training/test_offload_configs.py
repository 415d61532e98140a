"""The offload and FSDP2 launcher configs load with accelerate's own readers and say what the plan assumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name,params", [("deepspeed_zero3_offload", False), ("deepspeed_zero3_offload_params", True)])
def test_zero3_offload_configs(name, params, monkeypatch):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DeepSpeedPlugin

    monkeypatch.chdir(REPO)
    cfg = load_config_from_file(f"configs/accelerate/{name}.yaml")
    ds_file = cfg.deepspeed_config["deepspeed_config_file"]
    ds = json.loads(Path(ds_file).read_text())["zero_optimization"]
    assert ds["stage"] == 3 and ds["offload_optimizer"]["device"] == "cpu"
    assert ("offload_param" in ds) == params
    plugin = DeepSpeedPlugin(hf_ds_config=ds_file)  # accelerate's own parse of the DeepSpeed JSON
    assert plugin.zero_stage == 3
    assert plugin.is_zero3_init_enabled() is not None
    first = Path(f"configs/accelerate/{name}.yaml").read_text().splitlines()[0]
    assert f"ACCEL_CONFIG=configs/accelerate/{name}.yaml" in first


def test_plan_fit_names_existing_launcher_configs():
    from georft.plan_fit import accelerate_config, ladder

    for gpus in (1, 4):
        for rung in ladder(gpus):
            assert (REPO / accelerate_config(rung)).is_file(), rung


def test_fsdp2_config():
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(REPO / "configs/accelerate/fsdp2.yaml"))
    assert str(cfg.distributed_type).endswith("FSDP") and cfg.fsdp_config["fsdp_version"] == 2
    # TRANSFORMER_BASED_WRAP without a class list wraps by the model's _no_split_modules: both families have them
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLForConditionalGeneration

    assert "fsdp_transformer_layer_cls_to_wrap" not in cfg.fsdp_config
    for cls in (Qwen2_5_VLForConditionalGeneration, Qwen3VLForConditionalGeneration):
        assert cls._no_split_modules
