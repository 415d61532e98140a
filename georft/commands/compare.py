"""Compare eval outputs in one report: `georft compare DIR_A DIR_B [DIR_C ...] --out REPORT`.

Writes REPORT/report.md and a self-contained REPORT/report.html (images embedded) with the metric tables and deltas
against the first directory, bar charts, per-task reward parts, and the samples that changed most.

    georft compare runs/demo/eval/base runs/demo/eval/sft runs/demo/eval/rl --out runs/demo/report
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dirs", nargs="+", help="eval output directories (metrics.json + predictions.jsonl); "
                                                "the first is the baseline of the deltas")
    parser.add_argument("--out", required=True, help="report directory")
    parser.add_argument("--names", default="", help="comma-separated run names (default: the directory names)")
    parser.add_argument("--top", type=int, default=6, help="samples shown per task as most won / most lost")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from data_engine.errors import UserError
    from eval.report import build_report

    names = [n.strip() for n in args.names.split(",") if n.strip()] or None
    if names is not None and len(names) != len(args.dirs):
        raise UserError(f"--names has {len(names)} names for {len(args.dirs)} directories")
    paths = build_report([Path(d) for d in args.dirs], Path(args.out), names=names, top=args.top)
    for p in paths:
        print(p)  # noqa: T201 - the CLI prints
    return 0
