"""Memory plan of a GPU pipeline: `georft plan --config configs/pipeline/<gpu>.yaml [key=value ...]`.

Per GPU and stage: weights, gradients and optimizer states under the configured ZeRO stage (DeepSpeed's
estimators), vLLM's colocated share and the KV cache it leaves, and an activation estimate; a warning with the knob
to turn for each stage that does not fit `hardware.gpu_memory_gib`. Runs on CPU (the model is built on the meta
device from its published config).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="pipeline YAML with a hardware: section")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. hardware.gpu_memory_gib=141")


def run(args: argparse.Namespace) -> int:
    from data_engine.errors import UserError
    from georft.config import load_config
    from georft.pipeline import PipelineConfig
    from georft.plan import plan_text

    cfg = load_config(PipelineConfig, args.config, args.overrides)
    text = plan_text(cfg)
    if text is None:
        raise UserError(f"{args.config}: hardware.gpus is 0 (a CPU pipeline): nothing to plan")
    print(text)
    return 0
