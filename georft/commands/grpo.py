"""GRPO with task-aware rewards: `georft grpo --config configs/grpo/<name>.yaml [key=value ...]`."""

from __future__ import annotations

import argparse

from georft.commands.stage import add_stage_arguments, run_stage


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stage_arguments(parser, "grpo")


def run(args: argparse.Namespace) -> int:
    from rl.config import GRPORunConfig
    from rl.train import main

    return run_stage(args, GRPORunConfig, main)
