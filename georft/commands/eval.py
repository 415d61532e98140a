"""Evaluate a checkpoint on a suite: `georft eval --model CKPT --suite SUITE --out DIR [key=value ...]`.

Writes DIR/metrics.json and DIR/predictions.jsonl and prints a summary table. SUITE is a YAML path or a name of
configs/eval/ (e.g. `demo`); overrides address the suite (`data_root=runs/demo/data/built`, `batch_size=4`).
Resumable: rerunning skips samples already in the predictions. `--samples K --temperature T` draws K sampled answers
per prompt (DIR/samples/<k>) and adds mean@K and pass@K (`eval.sampling`). Sharded: under `accelerate launch` (or torchrun)
each rank generates its share into predictions.rank<k>.jsonl and rank 0 merges and scores.

    georft eval --model runs/demo/sft --suite demo --out runs/probe/dev/sft heldout=dev    # tuning: the dev split
    georft eval --model runs/demo/rl --suite demo --out runs/demo/eval/test/rl heldout=test   # the sealed test world
    georft eval --predictions old/predictions.jsonl --suite demo --out rescored   # score only, no model

`heldout=dev|test` picks the held-out set (docs/heldout-sets.md): dev reads the suite's datasets under data_root,
test the same datasets under test_root (a world of another seed); metrics.json records which, and also carries the
collapse flags of every dataset (docs/collapse-flags.md).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="checkpoint directory (HF format); not needed with --predictions")
    parser.add_argument("--suite", required=True, help="suite YAML or name under configs/eval/ (e.g. demo)")
    parser.add_argument("--out", required=True, help="output directory (metrics.json, predictions.jsonl)")
    parser.add_argument("--backend", default="hf", help="generation backend: hf (CPU/GPU) or vllm (GPU)")
    parser.add_argument("--limit", type=int, default=None, help="at most N samples per dataset")
    parser.add_argument("--datasets", default="", help="comma-separated dataset names of the suite (default: all)")
    parser.add_argument("--dtype", default="auto", help="HF backend dtype: auto, float32, bfloat16, float16")
    parser.add_argument("--predictions", default="",
                        help="score this predictions file instead of generating (rows: id, dataset, task, target, "
                             "completion, optional frame/prediction)")
    parser.add_argument("--samples", type=int, default=1,
                        help="sampled answers per prompt (K): runs the eval K times into DIR/samples/<k> and adds "
                             "mean@K / pass@K to DIR/metrics.json (needs --temperature > 0)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="sampling temperature (default: the suite's; 0 = greedy)")
    parser.add_argument("overrides", nargs="*", help="dotted key=value suite overrides, e.g. data_root=DIR")


def load_suite(name_or_path: str, overrides: list[str]):
    """The validated suite; its name defaults to the YAML's file stem."""
    from eval.suite import SuiteConfig, suite_path
    from georft.config import load_config

    path = suite_path(name_or_path)
    cfg = load_config(SuiteConfig, path, overrides)
    if not cfg.name:
        cfg.name = path.stem
    return cfg


def make_reward_fn(suite):
    """{task: [RewardSpec]} of the suite (default set when empty) -> fn(row, completion) -> {"<reward>/<part>": v}.

    Reward names are resolved here, so a typo fails before any generation.
    """
    from rewards import as_specs, default_rewards, get_reward
    from rewards.adapter import call_reward

    if not suite.report_rewards:
        return None
    specs = as_specs(suite.rewards) if suite.rewards else default_rewards()
    resolved = {task: [(s, get_reward(s.name)) for s in items] for task, items in specs.items()}

    def reward_fn(row: dict, completion) -> dict:
        out = {}
        for spec, rdef in resolved.get(row["task"], []):
            parts = call_reward(rdef, completion, row, dict(spec.kwargs))
            out.update({f"{spec.name}/{k}": v for k, v in parts.items()})
        return out

    return reward_fn


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from data_engine.errors import UserError
    from data_engine.ranks import is_main_process
    from eval.runner import EvalRequest, finish, generate_predictions, score_predictions_file, summary_table
    from rollout.generate import BACKENDS

    BACKENDS.get(args.backend)  # an unknown backend fails before any data is read
    suite = load_suite(args.suite, args.overrides)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    entries = suite.select(names)
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be >= 1, got {args.limit}")
    if args.temperature is not None:
        if args.temperature < 0:
            raise UserError(f"--temperature must be >= 0, got {args.temperature}")
        suite.temperature = args.temperature
    if args.samples < 1:
        raise UserError(f"--samples must be >= 1, got {args.samples}")
    if args.samples > 1 and (suite.temperature <= 0 or args.predictions):
        raise UserError("--samples K > 1 draws K sampled answers per prompt: it needs --temperature > 0 and a "
                        "--model (not --predictions)")
    out = Path(args.out)
    reward_fn = make_reward_fn(suite)

    def log(msg: str) -> None:
        print(f"georft eval: {msg}", file=sys.stderr, flush=True)  # noqa: T201 - the CLI prints

    if args.predictions:
        req = EvalRequest(suite, entries, args.model or f"predictions:{args.predictions}", out, args.backend)
        doc = score_predictions_file(req, Path(args.predictions), reward_fn, log)
    else:
        if not args.model:
            raise UserError("--model is required (or --predictions FILE to score existing predictions)")
        if args.samples == 1:
            req = EvalRequest(suite, entries, args.model, out, args.backend, args.limit, args.dtype)
            selected = generate_predictions(req, reward_fn, log)
            doc = finish(req, selected, reward_fn, log)
        else:
            doc = _run_samples(args, suite, entries, out, reward_fn, log)
    if doc is not None and is_main_process():
        print(summary_table(doc))  # noqa: T201 - the CLI prints
        for rel in (doc.get("baselines") or {}).values():
            import json

            print(summary_table(json.loads((out / rel / "metrics.json").read_text(encoding="utf-8"))))  # noqa: T201
    return 0


def _run_samples(args, suite, entries, out, reward_fn, log):
    """K evaluations with seeds seed, seed+1, ... into DIR/samples/<k>, then DIR = sample 0 + mean@K / pass@K."""
    import dataclasses

    from eval.runner import EvalRequest, finish, generate_predictions
    from eval.sampling import sample_dir, write_sampled

    docs, seeds = [], []
    for k in range(args.samples):
        suite_k = dataclasses.replace(suite, seed=suite.seed + k)
        log(f"sample {k + 1}/{args.samples} (temperature {suite.temperature}, seed {suite_k.seed})")
        req = EvalRequest(suite_k, entries, args.model, sample_dir(out, k), args.backend, args.limit, args.dtype)
        docs.append(finish(req, generate_predictions(req, reward_fn, log), reward_fn, log))
        seeds.append(suite_k.seed)
    if any(d is None for d in docs):
        return None  # ranks other than 0
    return write_sampled(out, docs, suite.temperature, seeds)

