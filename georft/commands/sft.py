"""Supervised fine-tuning: `georft sft --config configs/sft/<name>.yaml [key=value ...]`."""

from __future__ import annotations

import argparse

from georft.commands.stage import add_stage_arguments, run_stage


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stage_arguments(parser, "sft")


def run(args: argparse.Namespace) -> int:
    from sft.config import SFTRunConfig
    from sft.train import main

    return run_stage(args, SFTRunConfig, main)
