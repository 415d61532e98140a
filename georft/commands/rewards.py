"""List rewards and score a completion: `georft rewards list`, `georft rewards score --task T --sample F --completion C`."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rewards_command", metavar="SUBCOMMAND", required=True)
    sub.add_parser("list", help="registered rewards: name, tasks, parts, description")
    sc = sub.add_parser("score", help="score one completion against one sample and print the reward dict")
    sc.add_argument("--task", required=True, help="the sample's task (detection, grounding, vqa, ...)")
    sc.add_argument("--sample", required=True, help="JSON file with one schema row (task, target, width, height)")
    sc.add_argument("--completion", required=True, help="completion text, or @FILE to read it from a file")
    sc.add_argument("--reward", default=None, help="reward name or file.py:function (default: the task's main one)")
    sc.add_argument("--frame", default=None, help="model frame as JSON (Frame.to_dict); default: original pixels")
    sc.add_argument("--kwargs", default="{}", help="reward keyword arguments as JSON")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from data_engine.errors import UserError
    from rewards import REWARDS, score

    if args.rewards_command == "list":
        for name, d in REWARDS.items():
            print(f"{name:22s} tasks: {', '.join(d.tasks)}")  # noqa: T201 - CLI output
            print(f"{'':22s} parts: overall, {', '.join(d.parts)}")  # noqa: T201 - CLI output
            print(f"{'':22s} {d.description}")  # noqa: T201 - CLI output
        return 0
    path = Path(args.sample)
    sample = _json_arg(path.read_bytes(), f"--sample {path}")
    frame = _json_arg(args.frame, "--frame") if args.frame else None
    kwargs = _json_arg(args.kwargs, "--kwargs")
    for name, value in (("--sample", sample), ("--kwargs", kwargs), ("--frame", frame)):
        if value is not None and not isinstance(value, dict):
            raise UserError(f"{name} must be a JSON object, got {type(value).__name__}: {value!r:.80}")
    completion = args.completion
    if completion.startswith("@"):
        raw = Path(completion[1:]).read_bytes()
        try:
            completion = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"--completion {completion}: not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})"
                            ) from None
    print(json.dumps(score(args.task, completion, sample, frame=frame, name=args.reward, **kwargs), indent=2))  # noqa: T201 - CLI output
    return 0


def _json_arg(text: str | bytes, what: str):
    """Parsed JSON of a command-line value or file, or a one-line UserError naming it."""
    from data_engine.errors import UserError

    try:
        return json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except UnicodeDecodeError as e:
        raise UserError(f"{what}: not UTF-8 (offset {e.start})") from None
    except (ValueError, RecursionError) as e:
        raise UserError(f"{what}: invalid JSON ({str(e).splitlines()[0][:100]})") from None
