"""Launchers for real hardware: `--dry-run` prints well-formed commands whose configs validate.

They cannot run here (no GPU); each printed command is parsed by the tool that would run it: accelerate's launch
parser, trl's vllm-serve parser, and georft's own CLI plus the pipeline config with its overrides.
"""

from __future__ import annotations

import json
import os
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


def _header_command(config: Path) -> list[str]:
    """The launch command on a config's first line (`# <command>   (comment)`)."""
    line = config.read_text().splitlines()[0].lstrip("# ").split("  ")[0]
    return shlex.split(line)


def _dry_run(script: str, config: str) -> list[list[str]]:
    out = subprocess.run(["bash", str(REPO / "scripts" / script), config, "--dry-run"], cwd=REPO, check=True,
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "NNODES": "2"}).stdout
    return [shlex.split(line) for line in out.splitlines() if line.strip()]


def _check_georft(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "grpo":  # a GRPO config's own header command
        from rl.config import GRPORunConfig

        cfg = load_config(GRPORunConfig, REPO / args.config, args.overrides)
        assert cfg.model.path and cfg.trainer["vllm_mode"] == "server"
        return
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

        args, rest = TrlParser(ScriptArguments).parse_args_into_dataclasses(cmd[2:], return_remaining_strings=True)
        assert args.model.endswith("/sft") or args.model.endswith("_rscovlm")
        # Forwarded to `vllm serve` as-is (the vLLM tier parses them with vLLM's own parser): the pixel budget.
        assert rest[0] == "--mm-processor-kwargs" and set(json.loads(rest[1])) == {"min_pixels", "max_pixels"}
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


@pytest.mark.parametrize("config", sorted(p.name for p in (REPO / "configs/grpo").glob("*vllm_server*.yaml")))
def test_server_config_header_command_runs_its_script(config):
    """The server-mode GRPO config's own header command is a script call that takes this config."""
    cmd = _header_command(REPO / "configs/grpo" / config)
    assert cmd[:2] == ["bash", "scripts/grpo_vllm_server.sh"] and cmd[2] == f"configs/grpo/{config}"
    kinds = [_check(c) for c in _dry_run("grpo_vllm_server.sh", cmd[2])]
    assert kinds == ["vllm", "accelerate"]


def test_gpu_acceptance_refuses_to_run_without_a_gpu(tmp_path):
    """The acceptance run needs a GPU: here it says so in one line and exits 2 (it has not run on any GPU yet)."""
    import sys

    done = subprocess.run(["bash", str(REPO / "scripts/gpu_acceptance.sh"), str(tmp_path / "acc")], cwd=REPO,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})
    assert done.returncode == 2 and "no CUDA GPU visible" in done.stderr


def test_acceptance_agreement_counts_equal_parsed_predictions(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("agreement", REPO / "scripts/acceptance_agreement.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = [{"dataset": "d", "id": str(i), "prediction": {"answer": str(i % 3)}} for i in range(5)]
    other = [dict(r, prediction={"answer": "x"}) if i == 4 else r for i, r in enumerate(rows)]
    for name, rs in (("a", rows), ("b", other)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rs))
    assert mod.main([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--min", "0.8"]) == 0
    assert "4/5 parsed predictions equal" in capsys.readouterr().out
    assert mod.main([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--min", "0.9"]) == 1
    (tmp_path / "c.jsonl").write_text(json.dumps(rows[0]) + "\n")
    assert mod.main([str(tmp_path / "a.jsonl"), str(tmp_path / "c.jsonl")]) == 1


def _acceptance_rows(prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    """{row name: georft argv} of the acceptance script's rows whose name starts with one of `prefixes`, with the
    script's variables replaced by sample paths."""
    import shlex

    text = (REPO / "scripts/gpu_acceptance.sh").read_text().replace("\\\n", " ")
    subs = {'"${LORA[@]}"': "model.lora.enabled=true model.lora.r=16", '"${GEORFT[@]}"': "GEORFT", "$REPO": str(REPO),
            "$M": "/tmp/acc/m", "$OUT": "/tmp/acc"}
    rows = {}
    for line in text.splitlines():
        line = line.strip()
        if not any(line.startswith(f'check "{p}') for p in prefixes):
            continue
        for k, v in subs.items():
            line = line.replace(k, v)
        argv = shlex.split(line)[1:]
        name = argv[0]
        if name.startswith(prefixes):
            rest = argv[2:]
            rows[name] = rest[rest.index("GEORFT") + 1:]
    return rows


def test_acceptance_lora_rows_parse_and_their_configs_validate():
    from georft.cli import build_parser
    from georft.config import load_config
    from rl.config import GRPORunConfig
    from sft.config import SFTRunConfig

    rows = _acceptance_rows(("lora_", "qlora_"))
    assert list(rows) == ["lora_sft", "lora_grpo_vllm", "lora_merge", "lora_eval_vllm", "qlora_sft"]
    parser = build_parser()
    for name, argv in rows.items():
        args = parser.parse_args(argv)
        if args.command in ("sft", "grpo"):
            cls = SFTRunConfig if args.command == "sft" else GRPORunConfig
            cfg = load_config(cls, args.config, args.overrides)
            cfg.model.validate()
            if name.startswith("lora_sft") or name == "qlora_sft":
                assert cfg.model.lora.enabled
    assert rows["lora_grpo_vllm"][rows["lora_grpo_vllm"].index("grpo") + 3] == "model.path=/tmp/acc/m/lora_sft"
    assert "--merge" in rows["lora_merge"] and "/tmp/acc/m/lora_grpo" in rows["lora_merge"]
    assert rows["lora_eval_vllm"][rows["lora_eval_vllm"].index("--model") + 1] == "/tmp/acc/m/lora_merged"
    assert "model.quantization=4bit" in rows["qlora_sft"]


def test_single_node_takes_the_recipes_accelerate_config():
    env = {**os.environ, "ACCEL_CONFIG": "configs/accelerate/ddp.yaml", "NGPUS": "1"}
    out = subprocess.run(["bash", "scripts/single_node.sh", "configs/pipeline/qwen2_5_vl_3b_1x24gb.yaml", "--dry-run"],
                         cwd=REPO, capture_output=True, text=True, env=env, check=True).stdout
    sft = next(x for x in out.splitlines() if "--stage sft" in x)
    assert f"--config_file {REPO}/configs/accelerate/ddp.yaml --num_processes 1" in sft
