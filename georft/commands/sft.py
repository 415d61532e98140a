"""Supervised fine-tuning: `georft sft --config configs/sft/<name>.yaml [key=value ...]`."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="SFT config YAML (configs/sft/*.yaml)")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. trainer.max_steps=10")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from georft.config import check_trl_sections, load_config, save_config
    from sft.config import SFTRunConfig

    cfg = load_config(SFTRunConfig, args.config, args.overrides)
    check_trl_sections(cfg, args.config)
    if _is_main_process():
        save_config(cfg, Path(cfg.output_dir) / "config.yaml")
    from sft.train import main

    summary = main(cfg)
    if _is_main_process():
        print(json.dumps(summary, indent=2))
    return 0


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
