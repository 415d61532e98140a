"""What `georft sft` and `georft grpo` share: one config YAML plus overrides -> resolved config saved -> main(cfg)."""

from __future__ import annotations

import argparse


def add_stage_arguments(parser: argparse.ArgumentParser, folder: str) -> None:
    parser.add_argument("--config", required=True, help=f"config YAML (configs/{folder}/*.yaml)")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. trainer.max_steps=10")


def run_stage(args: argparse.Namespace, schema: type, main) -> int:
    """Load and check the config, save it next to the run (rank 0 only), run `main(cfg)`, print its summary."""
    import json
    from pathlib import Path

    from data_engine.ranks import is_main_process
    from georft.config import check_trl_sections, load_config, save_config

    cfg = load_config(schema, args.config, args.overrides)
    check_trl_sections(cfg, args.config)
    main_process = is_main_process()
    if main_process:
        save_config(cfg, Path(cfg.output_dir) / "config.yaml")
    summary = main(cfg)
    if main_process:
        print(json.dumps(summary, indent=2, default=str))
    return 0
