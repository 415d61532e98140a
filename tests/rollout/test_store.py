"""Rollout store: schema, atomic files, index summary, resume truncation."""

from __future__ import annotations

import json

import pytest

from rollout.store import COLUMNS, RolloutReader, RolloutWriter, list_steps


def _rows(step: int, rewards: list[float], task: str = "vqa") -> list[dict]:
    return [
        {
            "step": step, "group": f"g{i // 2}", "sample_id": f"s{i // 2}", "task": task, "source": "synth",
            "generation": i % 2, "prompt": "q", "completion": "yes", "turns": "[]", "prediction": '{"answer": "yes"}',
            "target": '{"answer": "yes"}', "reward": r, "advantage": 0.0, "images": ["/x.png"], "width": 64, "height": 48, "length": 2,
            "truncated": False, f"reward/{task}/accuracy": r,
        }
        for i, r in enumerate(rewards)
    ]


def test_write_read_schema_and_index(tmp_path):
    w = RolloutWriter(tmp_path)
    w.write_step(1, _rows(1, [1.0, 0.0, 0.5, 0.5]))
    r = RolloutReader(tmp_path)
    t = r.read_step(1)
    assert t.num_rows == 4
    assert list(t.schema.names) == [*COLUMNS, "reward/vqa/accuracy"]
    idx = json.loads((tmp_path / "rollouts" / "index.json").read_text())
    vqa = idx["steps"]["1"]["tasks"]["vqa"]
    # rewards 1, 0, 0.5, 0.5 -> mean 0.5; groups g0 = {1, 0} (std 0.5), g1 = {0.5, 0.5} (std 0) -> half zero-std.
    assert vqa["reward"]["mean"] == pytest.approx(0.5)
    assert vqa["frac_zero_std_groups"] == pytest.approx(0.5)
    assert r.read_step(1, columns=["reward"], filters=[("generation", "=", 0)]).column("reward").to_pylist() == [1.0, 0.5]


def test_non_finite_rewards_become_null(tmp_path):
    RolloutWriter(tmp_path).write_step(0, _rows(0, [float("nan"), 1.0]))
    assert RolloutReader(tmp_path).read_step(0).column("reward").to_pylist() == [None, 1.0]


def test_resume_truncates_later_steps(tmp_path):
    w = RolloutWriter(tmp_path)
    for s in range(1, 6):
        w.write_step(s, _rows(s, [1.0, 0.0]))
    # Checkpoint at step 3; steps 4 and 5 were generated before the crash and will be generated again.
    w2 = RolloutWriter(tmp_path)
    assert w2.truncate_after(3) == [4, 5]
    for s in (4, 5):
        w2.write_step(s, _rows(s, [0.0, 0.0]))
    assert list_steps(tmp_path) == [1, 2, 3, 4, 5]
    assert RolloutReader(tmp_path).read_all().num_rows == 10
    assert sorted(int(k) for k in RolloutReader(tmp_path).index()["steps"]) == [1, 2, 3, 4, 5]
    assert not [p for p in (tmp_path / "rollouts").iterdir() if ".tmp" in p.name]


def test_unknown_column_rejected(tmp_path):
    rows = _rows(0, [1.0])
    rows[0]["rewrd"] = 1.0
    with pytest.raises(ValueError, match="unknown columns"):
        RolloutWriter(tmp_path).write_step(0, rows)
