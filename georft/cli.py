"""`georft` command line: one sub-command per stage or tool.

Each sub-command lives in `georft/commands/<name>.py` with `add_arguments(parser)` and `run(args) -> int`; heavy
imports (torch, transformers, trl) happen inside `run`, so `georft --help` stays fast. User mistakes
(`data_engine.errors.UserError`, missing files, bad config) print one line on stderr and exit 2; set
`GEORFT_DEBUG=1` for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Sub-commands in the order `georft --help` lists them: (name, module, one-line help). Only commands that work
# are listed; later stages add their line when they land.
COMMANDS: list[tuple[str, str, str]] = [
    ("model", "georft.commands.model", "build offline tiny Qwen-VL models"),
    ("data", "georft.commands.data", "synthesize, build and inspect datasets (synth / build / show)"),
    ("sft", "georft.commands.sft", "supervised fine-tuning on the multi-task mixture (TRL SFTTrainer)"),
    ("grpo", "georft.commands.grpo", "GRPO with task-aware rewards (TRL GRPOTrainer)"),
    ("eval", "georft.commands.eval", "evaluate a checkpoint on a suite"),
    ("export", "georft.commands.export", "write a checkpoint or merged LoRA adapter as a plain Hugging Face folder"),
    ("predict", "georft.commands.predict", "run a checkpoint on your own images or GeoTIFF scenes (overlays, GeoJSON)"),
    ("compare", "georft.commands.compare", "compare eval outputs (e.g. base vs SFT vs RL) in one report"),
    ("dashboard", "georft.commands.dashboard", "inspect rollouts and eval outputs in a local web app"),
    ("pipeline", "georft.commands.pipeline", "run data -> SFT -> GRPO -> eval -> compare end to end"),
    ("plan", "georft.commands.plan", "per-GPU memory plan of a GPU pipeline (weights, optimizer, vLLM, activations)"),
    ("rewards", "georft.commands.rewards", "list rewards and score a completion"),
    ("config", "georft.commands.config", "validate configs and print the resolved config"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="georft",
        description="GeoRFT: SFT + GRPO for remote-sensing vision-language models.",
    )
    parser.add_argument("--version", action="version", version=f"georft {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module, help_text in COMMANDS:
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip().splitlines()[0])
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _version() -> str:
    from georft import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported anywhere (see README, threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("georft: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - user errors become one line; everything else keeps its traceback
        full = _disk_full(e)
        if full is not None and not os.environ.get("GEORFT_DEBUG"):
            print(f"georft {args.command}: error: disk full{f' writing {full}' if full else ''} (No space left on "
                  "device); free space and rerun: the run resumes from its last complete state", file=sys.stderr)
            return 1
        if os.environ.get("GEORFT_DEBUG") or not _is_user_error(e):
            raise
        print(f"georft {args.command}: error: {e}", file=sys.stderr)
        return 2


def _disk_full(e: BaseException) -> str | None:
    """The file being written when a full disk (or quota) raised `e` ("" when unknown), else None. Looks through
    the exception's causes: torch and the Trainer re-raise the OSError as their own errors."""
    import errno

    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return str(e.filename or "")
        if "No space left on device" in str(e):
            return ""
        e = e.__cause__ or e.__context__
    return None


def _is_user_error(e: BaseException) -> bool:
    from data_engine.errors import UserError

    return isinstance(e, (UserError, FileNotFoundError, NotADirectoryError, IsADirectoryError))


if __name__ == "__main__":
    sys.exit(main())
