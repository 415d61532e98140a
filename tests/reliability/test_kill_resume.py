"""kill -9 of a real `georft pipeline` run during SFT and during GRPO, while a checkpoint is being written, then a
rerun: each stage continues from its newest COMPLETE checkpoint and finishes with nothing lost or duplicated
(issue 19, items 1 and 2; slow tier: `make test-slow`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rollout.store import RolloutReader

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _command(run: Path) -> list[str]:
    return [
        sys.executable, "-m", "georft.cli", "pipeline", "--config", str(REPO / "configs/pipeline/demo_cpu.yaml"),
        "--stage", "base_model", "--stage", "data", "--stage", "sft", "--stage", "grpo",
        f"output_dir={run}", "data.synth_size=tiny",
        "sft.trainer.max_steps=8", "sft.trainer.save_steps=2", "sft.trainer.save_total_limit=null",
        "sft.trainer.per_device_train_batch_size=2", "sft.trainer.logging_steps=1", "sft.trainer.report_to=[]",
        "sft.trainer.dataloader_num_workers=0",
        "grpo.trainer.max_steps=6", "grpo.trainer.save_steps=2", "grpo.trainer.save_total_limit=null",
        "grpo.trainer.per_device_train_batch_size=4", "grpo.trainer.num_generations=2",
        "grpo.trainer.max_completion_length=12", "grpo.trainer.logging_steps=1", "grpo.trainer.report_to=[]",
        "grpo.trainer.dataloader_num_workers=0",
    ]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _kill_when_checkpoint_starts(run: Path, folder: Path, timeout: float = 900) -> bool:
    """Start the pipeline, kill -9 it the moment `folder` appears (the Trainer is writing that checkpoint).

    Returns:
        True when the kill landed mid-write (no trainer_state.json yet, the Trainer's last file).
    """
    proc = subprocess.Popen(_command(run), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout
    try:
        while not folder.exists():
            assert proc.poll() is None, f"the pipeline ended (exit {proc.returncode}) before {folder} appeared"
            assert time.time() < deadline, f"{folder} did not appear in {timeout} s"
            time.sleep(0.002)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    mid_write = not (folder / "trainer_state.json").is_file()
    if not mid_write:  # the save outran the poll: leave what a kill one write earlier leaves (a truncated config)
        (folder / "config.json").write_text('{"model_ty')
    return mid_write


def _rerun(run: Path) -> str:
    done = subprocess.run(_command(run), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_kill_during_sft_then_grpo_checkpoints_resumes_each_stage(tmp_path):
    run = tmp_path / "run"
    sft_mid = _kill_when_checkpoint_starts(run, run / "sft" / "checkpoint-4")
    assert not (run / "sft" / ".complete").exists()
    log, grpo_mid = _rerun_until(run, stop_at=run / "grpo" / "checkpoint-4")
    assert f"sft: resuming from {run / 'sft' / 'checkpoint-2'}" in log
    assert f"skipping incomplete checkpoint {run / 'sft' / 'checkpoint-4'}" in log
    assert json.loads((run / "sft" / "summary.json").read_text())["steps"] == 8
    state = json.loads((run / "sft" / "checkpoint-8" / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "loss" in e] == list(range(1, 9))  # each step once

    # GRPO: killed as checkpoint-4 is written, the rerun continues from checkpoint-2 with the store trimmed.
    log = _rerun(run)
    assert f"grpo: resuming from {run / 'grpo' / 'checkpoint-2'}" in log
    assert f"skipping incomplete checkpoint {run / 'grpo' / 'checkpoint-4'}" in log
    assert json.loads((run / "grpo" / "summary.json").read_text())["steps"] == 6
    reader = RolloutReader(run / "grpo")
    assert reader.steps() == list(range(6))
    rows = reader.read_all().to_pandas()
    assert len(rows) == 6 * 4 and not rows.duplicated(["step", "group", "generation"]).any()
    assert (run / "grpo" / ".complete").exists() and (run / "sft" / ".complete").exists()
    # Whether each kill landed while the checkpoint was being written (else its config.json was truncated by hand).
    print(f"\nkill -9 landed mid-checkpoint: sft {sft_mid}, grpo {grpo_mid}")


def _rerun_until(run: Path, stop_at: Path) -> tuple[str, bool]:
    """Rerun the pipeline (it resumes SFT, finishes it, starts GRPO) and kill it as `stop_at` is being written;
    returns the rerun's log and whether the kill landed mid-write."""
    log = run / "rerun.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(_command(run), cwd=REPO, env=_env(), stdout=fh, stderr=fh, start_new_session=True)
        try:
            deadline = time.time() + 1800
            while not stop_at.exists():
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.time() < deadline
                time.sleep(0.002)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    mid_write = not (stop_at / "trainer_state.json").is_file()
    if not mid_write:
        (stop_at / "config.json").write_text('{"model_ty')
    return log.read_text(), mid_write
