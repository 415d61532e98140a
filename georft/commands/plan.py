"""Memory plan of a GPU pipeline: `georft plan --config configs/pipeline/<gpu>.yaml [key=value ...]`.

Per GPU and stage: weights, gradients and optimizer states under the configured ZeRO stage (DeepSpeed's
estimators), vLLM's colocated share and the KV cache it leaves, and an activation estimate; a warning with the knob
to turn for each stage that does not fit `hardware.gpu_memory_gib`. Runs on CPU (the model is built on the meta
device from its published config).
"""

from __future__ import annotations

import argparse

DEFAULT_FIT_CONFIG = "configs/pipeline/qwen2_5_vl_7b.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="", help="pipeline YAML with a hardware: section (with --fit: default "
                                                     f"{DEFAULT_FIT_CONFIG})")
    parser.add_argument("--fit", action="store_true",
                        help="print the cheapest configuration that fits each stage on --gpus x --gpu-memory, as "
                             "overrides to paste")
    parser.add_argument("--gpus", type=int, default=None, help="with --fit: GPUs (one node)")
    parser.add_argument("--gpu-memory", type=float, default=None, help="with --fit: memory of one GPU in GiB")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. hardware.gpu_memory_gib=141")


def run(args: argparse.Namespace) -> int:
    from data_engine.errors import UserError
    from georft.config import load_config
    from georft.pipeline import PipelineConfig
    from georft.plan import plan_text

    if args.fit:
        from georft.plan_fit import fit_text

        if args.gpus is None or args.gpu_memory is None:
            raise UserError("--fit needs --gpus N and --gpu-memory G (GiB of one GPU)")
        print(fit_text(args.config or DEFAULT_FIT_CONFIG, list(args.overrides), args.gpus, args.gpu_memory))
        return 0
    if not args.config:
        raise UserError("--config is required (or --fit --gpus N --gpu-memory G)")
    cfg = load_config(PipelineConfig, args.config, args.overrides)
    text = plan_text(cfg)
    if text is None:
        raise UserError(f"{args.config}: hardware.gpus is 0 (a CPU pipeline): nothing to plan")
    print(text)
    return 0
