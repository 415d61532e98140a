"""kill -9 of `georft eval` and of `georft data build`, and a full disk while writing an eval, the rollout store or a
checkpoint (issue 27, "Not yet tested"; slow tier, replayed by `make test-hostile`).

- eval: killed mid-run (its last line torn), then rerun: predictions.jsonl holds every sample once and the metrics
  equal an uninterrupted run's;
- data build: killed while the new dataset is being written, then loaded: the previous complete build (or the new
  one), never a half-written dataset; the rerun completes;
- full disk (writes made to fail with ENOSPC part-way, since a small tmpfs cannot be mounted everywhere): one line
  on stderr, and the previous complete state still resumes.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from georft.cli import main as cli

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "eval"))
from test_runner import CALL, ScriptedBackend, _suite, build_dataset  # noqa: E402 - the eval tests' fixtures


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "georft.cli", *args], cwd=REPO, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    try:
        while not ready():
            assert proc.poll() is None, f"ended (exit {proc.returncode}) before the kill: {proc.stderr.read()[-2000:]}"
            assert time.time() < deadline, "the moment to kill never came"
            time.sleep(0.002)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.is_file() else 0


def _ids(path: Path) -> list[str]:
    return [json.loads(x)["id"] for x in path.read_text().splitlines()]


# ---------------------------------------------------------------------------------------------------------- eval
def test_eval_killed_mid_run_then_rerun_equals_an_uninterrupted_run(tmp_path, tiny_model_dirs, capsys):
    built = build_dataset(tmp_path / "data", n_cls=10, n_zoom=0)
    suite = _suite(tmp_path, [{"name": "d", "path": str(built)}], max_new_tokens=4, batch_size=1)
    ckpt = tiny_model_dirs["qwen2_5_vl"]
    args = lambda out: ["eval", "--model", ckpt, "--suite", str(suite), "--out", str(out)]  # noqa: E731
    assert cli(args(tmp_path / "ref")) == 0
    ref = json.loads((tmp_path / "ref" / "metrics.json").read_text())

    out = tmp_path / "killed"
    preds = out / "predictions.jsonl"
    _kill_when(_start(args(out)), lambda: _lines(preds) >= 4)
    done = _lines(preds)
    assert 4 <= done < 10 and not (out / "metrics.json").exists()
    with preds.open("ab") as fh:  # as if the kill had landed in the middle of writing the next line
        fh.write(b'{"id": "cls_9", "dataset": "d", "task": "classi')
    capsys.readouterr()
    assert cli(args(out)) == 0
    assert f"{10 - done} to generate" in capsys.readouterr().err  # the done samples are not redone
    assert sorted(_ids(preds)) == sorted(_ids(tmp_path / "ref" / "predictions.jsonl"))  # none lost or repeated
    assert len(_ids(preds)) == 10
    got = json.loads((out / "metrics.json").read_text())
    assert got["metrics"] == ref["metrics"]
    answers = lambda p: [(r["id"], r["completion"]) for r in map(json.loads, p.read_text().splitlines())]  # noqa: E731
    assert answers(preds) == answers(tmp_path / "ref" / "predictions.jsonl")


def _full_disk_after(n_ok: int, monkeypatch, cls, name: str):
    """Make `cls.name(self, row)` write half its line and raise ENOSPC from its (n_ok + 1)-th call on."""
    calls = {"n": 0}
    original = getattr(cls, name)

    def write(self, row):
        calls["n"] += 1
        if calls["n"] > n_ok:
            self._fh.write(json.dumps(row, default=str)[:20])
            self._fh.flush()
            raise OSError(errno.ENOSPC, "No space left on device", str(getattr(self._fh, "name", "")))
        return original(self, row)

    monkeypatch.setattr(cls, name, write)


def test_a_full_disk_during_eval_is_one_line_and_the_rerun_completes(tmp_path, monkeypatch, capsys):
    import eval.runner as runner
    from data_engine.families import get_family
    from eval import runner_io

    monkeypatch.setattr(runner, "open_backend", lambda *a, **k: (ScriptedBackend(CALL), get_family("qwen2_5_vl")))
    built = build_dataset(tmp_path / "data", n_cls=6, n_zoom=1)
    suite = _suite(tmp_path, [{"name": "d", "path": str(built)}], report_rewards=False)
    args = lambda out: ["eval", "--model", "ckpt", "--suite", str(suite), "--out", str(out)]  # noqa: E731
    assert cli(args(tmp_path / "ref")) == 0
    ref = json.loads((tmp_path / "ref" / "metrics.json").read_text())

    with monkeypatch.context() as m:
        _full_disk_after(3, m, runner_io.RowWriter, "write")
        capsys.readouterr()
        assert cli(args(tmp_path / "o")) == 1
        err = capsys.readouterr().err
    assert "Traceback" not in err and len([ln for ln in err.splitlines() if ": error: " in ln]) == 1, err
    assert "error: disk full writing" in err and "predictions.jsonl" in err and "resumes" in err
    assert not (tmp_path / "o" / "metrics.json").exists()
    assert cli(args(tmp_path / "o")) == 0  # space freed: the three complete rows are kept, the rest generated
    assert sorted(_ids(tmp_path / "o" / "predictions.jsonl")) == sorted(_ids(tmp_path / "ref" / "predictions.jsonl"))
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["metrics"] == ref["metrics"]


# ---------------------------------------------------------------------------------------------------- data build
def _build_state(out: Path) -> tuple[int, str] | None:
    """(rows, recipe) of the dataset at `out` when it loads, else None; a loadable dataset must be complete."""
    from data_engine.build import load_built, load_summary
    from data_engine.errors import UserError

    try:
        ds = load_built(out)
    except (UserError, FileNotFoundError):
        return None
    summary = load_summary(out)  # a dataset that loads has its summary, and they agree
    assert len(ds) == summary["num_samples"]
    return len(ds), summary["recipe"]


def test_data_build_killed_while_writing_leaves_the_previous_build_then_completes(tmp_path):
    from data_engine.build import build
    from data_engine.synth import synthesize

    recipe_a = synthesize(tmp_path / "raw_a", seed=0, size="tiny")
    recipe_b = synthesize(tmp_path / "raw_b", seed=1, size="tiny")
    out = tmp_path / "built"
    a = build(recipe_a, out, progress=False)
    state_a = (a["num_samples"], a["recipe"])
    assert _build_state(out) == state_a
    args = ["data", "build", "--recipe", str(recipe_b), "--out", str(out)]
    partial = lambda: any(tmp_path.glob(".built.partial-*"))  # noqa: E731 - the new dataset is being written
    for _ in range(3):
        _kill_when(_start(args), partial)
        assert _build_state(out) == state_a  # the previous complete build, untouched
        # a dataset file appearing in the half-written folder is not enough for anyone to load it
        assert all(_build_state(p) is None for p in tmp_path.glob(".built.partial-*"))
    # A kill between the two renames that swap the builds: the next build puts the previous one back first.
    os.replace(out, tmp_path / ".built.replaced-999")
    assert _build_state(out) is None  # nothing loads (one-line error), rather than half a dataset
    proc = _start(args)
    assert proc.wait(timeout=900) == 0, proc.stderr.read()[-2000:]
    proc.stderr.close()
    rows_b, recipe = _build_state(out)
    assert recipe == str(Path(recipe_b).resolve()) and rows_b > 0
    assert not list(tmp_path.glob(".built.*"))  # no partial or set-aside build left behind


# ------------------------------------------------------------------------------------------------- rollout store
def test_a_full_disk_while_writing_the_rollout_store_keeps_the_previous_steps(tmp_path, monkeypatch):
    from rollout import store
    from rollout.store import RolloutReader, RolloutWriter

    rows = lambda s: [{"step": s, "group": "g", "sample_id": "a", "task": "vqa", "reward": 1.0 * s,  # noqa: E731
                       "images": [], "completion": "x" * 100}]
    w = RolloutWriter(tmp_path)
    w.write_step(0, rows(0))
    w.write_step(1, rows(1))
    real = Path.write_bytes

    def half_then_full(self, data):
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    with monkeypatch.context() as m:
        m.setattr(Path, "write_bytes", half_then_full)
        with pytest.raises(OSError) as e:
            w.write_step(2, rows(2))
    assert e.value.errno == errno.ENOSPC
    assert sorted(p.name for p in (tmp_path / "rollouts").iterdir()) == [
        "index.jsonl", "step_00000000.parquet", "step_00000001.parquet"]  # no half-written temporary left
    r = RolloutReader(tmp_path)
    assert r.steps() == [0, 1] and r.read_all().column("reward").to_pylist() == [0.0, 1.0]
    assert sorted(r.index()["steps"]) == ["0", "1"]
    # A resumed run (space freed) writes the step again.
    RolloutWriter(tmp_path).write_step(2, rows(2))
    assert RolloutReader(tmp_path).steps() == [0, 1, 2]
    assert store.list_steps(tmp_path) == [0, 1, 2]


# -------------------------------------------------------------------------------------------------- checkpoint
def test_a_full_disk_while_writing_a_checkpoint_is_one_line_and_the_run_resumes(tmp_path, tiny_world,
                                                                                tiny_model_dirs, monkeypatch,
                                                                                capsys):
    import transformers

    from models.loading import checkpoint_problem, last_complete_checkpoint

    run = tmp_path / "sft"
    args = ["sft", "--config", str(REPO / "configs/sft/demo_cpu.yaml"), f"output_dir={run}",
            f"model.path={tiny_model_dirs['qwen2_5_vl']}", f"data.root={tiny_world[1]}",
            "trainer.max_steps=4", "trainer.save_steps=2", "trainer.save_total_limit=null",
            "trainer.per_device_train_batch_size=2", "trainer.logging_steps=1", "trainer.report_to=[]",
            "trainer.dataloader_num_workers=0"]
    real = transformers.Trainer._save_optimizer_and_scheduler

    def full_at_step_4(self, output_dir):
        if str(output_dir).endswith("checkpoint-4"):
            raise RuntimeError("[enforce fail at inline_container.cc] . PytorchStreamWriter failed writing file "
                               "data/0: file write failed") from OSError(errno.ENOSPC, "No space left on device")
        return real(self, output_dir)

    with monkeypatch.context() as m:
        m.setattr(transformers.Trainer, "_save_optimizer_and_scheduler", full_at_step_4)
        capsys.readouterr()
        assert cli(args) == 1
        err = capsys.readouterr().err
    assert "Traceback" not in err and "error: disk full" in err, err
    assert checkpoint_problem(run / "checkpoint-4") is not None  # half-written
    assert last_complete_checkpoint(str(run)) == str(run / "checkpoint-2")
    kept = (run / "checkpoint-2" / "trainer_state.json").stat().st_mtime_ns
    assert cli([*args, "trainer.resume_from_checkpoint=true"]) == 0
    state = json.loads((run / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and checkpoint_problem(run / "checkpoint-4") is None
    # resumed, not restarted: checkpoint-2 was not written again, and the log goes on from its steps
    assert (run / "checkpoint-2" / "trainer_state.json").stat().st_mtime_ns == kept
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4]
