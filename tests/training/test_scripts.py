"""Launchers for real hardware: `--dry-run` prints well-formed commands whose configs validate.

They cannot run here (no GPU); each printed command is parsed by the tool that would run it: accelerate's launch
parser, trl's vllm-serve parser, and georft's own CLI plus the pipeline config with its overrides.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from georft.cli import build_parser
from georft.config import load_config
from georft.pipeline import PipelineConfig

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ["single_node.sh", "multi_node.sh", "grpo_vllm_server.sh", "slurm_pipeline.sbatch"]
CONFIGS = ["configs/pipeline/qwen2_5_vl_7b.yaml", "configs/pipeline/qwen3_vl_8b.yaml"]


def _dry_run(script: str, config: str) -> list[list[str]]:
    out = subprocess.run(["bash", str(REPO / "scripts" / script), config, "--dry-run"], cwd=REPO, check=True,
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "NNODES": "2"}).stdout
    return [shlex.split(line) for line in out.splitlines() if line.strip()]


def _check_georft(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.command == "pipeline" and args.config in CONFIGS
    cfg = load_config(PipelineConfig, REPO / args.config, args.overrides)
    assert cfg.sft.model.path and cfg.grpo.model.path


def _check(cmd: list[str]) -> str:
    while cmd and "=" in cmd[0] or cmd[:1] == ["env"]:  # env VAR=... prefixes
        cmd = cmd[1:]
    if cmd[0] == "georft":
        _check_georft(cmd[1:])
        return "georft"
    if cmd[:2] == ["accelerate", "launch"]:
        from accelerate.commands.launch import launch_command_parser

        ns = launch_command_parser().parse_args(cmd[2:])
        assert ns.module and ns.training_script == "georft.cli"
        assert Path(ns.config_file).is_file()
        _check_georft(ns.training_script_args)
        return "accelerate"
    if cmd[:2] == ["trl", "vllm-serve"]:
        from trl import TrlParser
        from trl.scripts.vllm_serve import ScriptArguments

        (args,) = TrlParser(ScriptArguments).parse_args_into_dataclasses(cmd[2:])
        assert args.model.endswith("/sft")
        return "vllm"
    raise AssertionError(f"unexpected command {cmd}")


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("script", SCRIPTS)
def test_dry_run_commands_are_well_formed(script, config):
    kinds = [_check(cmd) for cmd in _dry_run(script, config)]
    assert "accelerate" in kinds
    if script == "grpo_vllm_server.sh":
        assert kinds == ["vllm", "accelerate"]
    else:
        assert kinds[0] == "georft" and kinds.count("accelerate") == 3
