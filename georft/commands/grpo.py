"""GRPO with task-aware rewards: `georft grpo --config configs/grpo/<name>.yaml [key=value ...]`."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="GRPO config YAML (configs/grpo/*.yaml)")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. trainer.max_steps=10")


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from georft.config import check_trl_sections, load_config, save_config
    from rl.config import GRPORunConfig

    cfg = load_config(GRPORunConfig, args.config, args.overrides)
    check_trl_sections(cfg, args.config)
    main_process = os.environ.get("RANK", "0") == "0"
    if main_process:
        save_config(cfg, Path(cfg.output_dir) / "config.yaml")
    from rl.train import main

    summary = main(cfg)
    if main_process:
        print(json.dumps(summary, indent=2, default=str))
    return 0
