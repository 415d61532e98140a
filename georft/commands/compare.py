"""Compare eval outputs in one report: `georft compare DIR_A DIR_B [DIR_C ...] --out REPORT [--json]`.

Writes REPORT/report.md, a self-contained REPORT/report.html (images embedded) and REPORT/compare.json: the metric
tables and deltas against the first directory, the trivial baselines the runner wrote beside the first directory
that has them, paired bootstrap 95 % intervals of every difference between checkpoints and against the best
baseline, bar charts, per-task reward parts, and the samples that changed most. `--json` prints compare.json.

    georft compare runs/demo/eval/test/sft runs/demo/eval/test/rl --out runs/demo/report/test

The report and compare.json say which held-out set the numbers come from (eval dirs of different sets are refused;
docs/heldout-sets.md), and a significant rise that comes with collapse is listed as such in the verdict, not
counted as a gain (docs/collapse-flags.md).

`--layout geovlm_r1` instead writes REPORT/geovlm_r1.md and .json: the seed paper's table (configs/paper_tables/),
one column per run (directories of one run share a name in --names, e.g. its classification and caption suites)
beside the paper's numbers, cells marked † where our protocol differs (`eval.report.paper_table`):

    georft compare runs/sft/whu_rs19 runs/sft/nwpu_captions --names sft,sft --layout geovlm_r1 --out runs/tables
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dirs", nargs="+", help="eval output directories (metrics.json + predictions.jsonl); "
                                                "the first is the reference of the per-metric deltas")
    parser.add_argument("--out", required=True, help="report directory")
    parser.add_argument("--names", default="", help="comma-separated run names (default: the directory names)")
    parser.add_argument("--top", type=int, default=6, help="samples shown per task as most won / most lost")
    parser.add_argument("--json", action="store_true", help="print compare.json (values, baselines, intervals) "
                                                            "instead of the written paths")
    parser.add_argument("--resamples", type=int, default=1000, help="paired bootstrap resamples (>= 1000)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval confidence level")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--layout", default="", help="write a seed paper's table instead (configs/paper_tables/<NAME>."
                                                     "yaml, e.g. geovlm_r1); --names may repeat a run's name")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from data_engine.errors import UserError
    from eval.report import build_report

    names = [n.strip() for n in args.names.split(",") if n.strip()] or None
    if names is not None and len(names) != len(args.dirs):
        raise UserError(f"--names has {len(names)} names for {len(args.dirs)} directories")
    if args.layout:
        import json

        from eval.report.paper_table import paper_table

        runs = list(zip(names or [Path(d).name for d in args.dirs], [Path(d) for d in args.dirs], strict=True))
        md, doc = paper_table(runs, args.layout)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{args.layout}.md").write_text(md, encoding="utf-8")
        (out / f"{args.layout}.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
        print(json.dumps(doc, indent=1) if args.json else md, end="")  # noqa: T201 - the CLI prints
        return 0
    paths = build_report([Path(d) for d in args.dirs], Path(args.out), names=names, top=args.top,
                         n_resamples=args.resamples, confidence=args.confidence, seed=args.seed)
    if args.json:
        print(paths[2].read_text(encoding="utf-8"), end="")  # noqa: T201 - the CLI prints
        return 0
    for p in paths:
        print(p)  # noqa: T201 - the CLI prints
    return 0
