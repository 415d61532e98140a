"""Scale-out on CPU with the real engines (slow tier: `make test-slow`).

- 2 processes (torchrun, gloo backend): SFT runs, both ranks see the same data order, rank 0 saves.
- DeepSpeed ZeRO-2 in one process (its first run JIT-builds a CPU op, ~85 s, cached afterwards).
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sft_args(model_dir, built, out, *extra) -> list[str]:
    return ["sft", "--config", str(REPO / "configs/sft/demo_cpu.yaml"), f"model.path={model_dir}",
            f"data.root={built}", "data.sources=[{path: ., split: train}]", f"output_dir={out}", "trainer.max_steps=2",
            "trainer.per_device_train_batch_size=2", "trainer.save_strategy=no", "trainer.report_to=[]",
            "trainer.logging_steps=1", *extra]


def _env(**kw) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", **kw}


def test_two_process_cpu_sft(tiny_model_dirs, tiny_world, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "georft.cli", *_sft_args(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], tmp_path / "run",
                                          "trainer.save_strategy=steps", "trainer.save_steps=2")]
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 2 and (tmp_path / "run" / "model.safetensors").is_file()
    # World size 2 (gloo on CPU): each rank gets ceil(N / 2) samples, i.e. ceil(ceil(N / 2) / 2) steps per epoch
    # at 2 per device (half of the single-process count), so 2 steps are 2 / that of an epoch.
    state = json.loads((tmp_path / "run" / "checkpoint-2" / "trainer_state.json").read_text())
    n = summary["samples"]
    assert state["epoch"] == pytest.approx(2 / math.ceil(math.ceil(n / 2) / 2), rel=1e-9)


def test_deepspeed_zero2_one_process(tiny_model_dirs, tiny_world, tmp_path):
    pytest.importorskip("deepspeed")
    env = _env(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()),
               DS_BUILD_OPS="0")
    cmd = [sys.executable, "-m", "georft.cli",
           *_sft_args(tiny_model_dirs["qwen2_5_vl"], tiny_world[1], tmp_path / "run",
                      f"trainer.deepspeed={REPO / 'configs/deepspeed/zero2.json'}")]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 2
