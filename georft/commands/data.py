"""Data: `georft data synth --out DIR [--seed N] [--size small] [--heldout-only]`,
`georft data build --recipe R --out DIR [--strict]`, `georft data show DIR`,
`georft data filter-difficulty --eval EVAL_DIR --out DIR [--score correct]`."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    synth = sub.add_parser("synth", help="write the synthetic remote-sensing world in the real dataset formats")
    synth.add_argument("--out", required=True, help="output folder (gets a recipe.yaml for `georft data build`)")
    synth.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    synth.add_argument("--size", default="small", choices=["tiny", "small", "medium"],
                       help="tiny: a handful per task (tests); small: demo default; medium: larger")
    synth.add_argument("--heldout-only", action="store_true",
                       help="write the val split only: a sealed test world of another seed (docs/heldout-sets.md)")
    build = sub.add_parser("build", help="integrate the sources of a recipe into one dataset")
    build.add_argument("--recipe", required=True, help="recipe YAML with a 'sources:' list")
    build.add_argument("--out", required=True, help="output folder (Arrow dataset + build_summary.json)")
    build.add_argument("--strict", action="store_true", help="fail at the first bad record (file and line)")
    show = sub.add_parser("show", help="print the summary of a built dataset")
    show.add_argument("dir", help="a `georft data build` output folder")
    show.add_argument("--max-skips", type=int, default=50, help="skipped records listed one by one (default 50)")
    hard = sub.add_parser("filter-difficulty",
                          help="keep the prompts a sampled eval got right in some but not all samples (GRPO source)")
    hard.add_argument("--eval", required=True, help="the --out folder of `georft eval --samples K --temperature T`")
    hard.add_argument("--out", required=True, help="output folder: a built dataset of the kept rows")
    hard.add_argument("--score", default="correct", help="the 0/1 per-sample score counted (default: correct)")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "synth":
        import time

        from data_engine.synth import synthesize

        t0 = time.perf_counter()
        recipe = synthesize(args.out, seed=args.seed, size=args.size, heldout_only=args.heldout_only)
        print(f"wrote the synthetic world (seed {args.seed}, size {args.size}) in {time.perf_counter() - t0:.1f} s")  # noqa: T201 - CLI output
        print(f"build it with: georft data build --recipe {recipe} --out <DIR>")  # noqa: T201 - CLI output
        return 0
    from data_engine.build import build, format_summary, load_summary

    if args.data_command == "filter-difficulty":
        from eval.difficulty import filter_difficulty

        summary = filter_difficulty(args.eval, args.out, score=args.score)
        print(format_summary(summary))  # noqa: T201 - CLI output
        print(f"saved {summary['num_samples']} prompts to {args.out}; use it as a GRPO source: "  # noqa: T201
              f"{{path: {args.out}, split: <the evaluated split>}}")
        return 0
    if args.data_command == "build":
        summary = build(args.recipe, args.out, strict=args.strict)
        print(format_summary(summary))  # noqa: T201 - CLI output
        print(f"saved {summary['num_samples']} samples to {args.out} in {summary['seconds']} s")  # noqa: T201 - CLI output
        return 0
    print(format_summary(load_summary(args.dir), max_skips=args.max_skips))  # noqa: T201 - CLI output
    return 0
