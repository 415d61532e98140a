"""Two-stage pipeline: `georft pipeline --config configs/pipeline/<name>.yaml [key=value ...] [--from S | --only S]`.

Stages: base_model -> data -> sft -> grpo -> eval -> compare. Complete stages are skipped; see georft/pipeline.py.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from georft.pipeline import STAGES

    parser.add_argument("--config", required=True, help="pipeline YAML (configs/pipeline/*.yaml)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--from", dest="from_stage", metavar="STAGE", help=f"redo STAGE and later ({', '.join(STAGES)})")
    group.add_argument("--only", metavar="STAGE", help="redo only STAGE")
    group.add_argument("--stage", dest="stages", action="append", metavar="STAGE",
                       help="run only STAGE if it is incomplete, redoing nothing (repeatable; used by scripts/)")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. grpo.trainer.max_steps=5")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from data_engine.ranks import is_main_process
    from georft.config import check_trl_sections, load_config
    from georft.pipeline import PipelineConfig, run_pipeline

    cfg = load_config(PipelineConfig, args.config, args.overrides)
    check_trl_sections(cfg, args.config)
    status = run_pipeline(cfg, from_stage=args.from_stage, only=args.only, stages=args.stages)
    out = Path(cfg.output_dir)
    if not is_main_process():
        return 0
    print("stages: " + ", ".join(f"{k} {v}" for k, v in status.items()))
    report = out / "report" / "report.html"
    if report.is_file():
        print(f"report:    {report}")
        print(f"           {out / 'report' / 'report.md'}")
    print(f"dashboard: georft dashboard {out}")
    return 0
