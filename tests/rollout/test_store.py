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
    lines = (tmp_path / "rollouts" / "index.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["step"] == 1
    vqa = r.index()["steps"]["1"]["tasks"]["vqa"]
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


def _pandas_summary(rows: list[dict]) -> dict:
    """The summary computed with pandas (the store's first implementation), as the reference."""
    import pandas as pd

    df = pd.DataFrame(rows)
    out = {}
    for task, g in df.groupby("task", sort=True):
        stats = {}
        for c in ["reward", "advantage", "length"] + sorted(c for c in df.columns if c.startswith("reward/")):
            col = pd.to_numeric(g[c], errors="coerce").replace([float("inf"), -float("inf")], float("nan")).dropna()
            if len(col):
                stats[c] = {"mean": float(col.mean()), "std": float(col.std(ddof=0)), "n": int(len(col))}
        stats["truncated"] = float(g["truncated"].mean())
        stds = pd.to_numeric(g["reward"], errors="coerce").groupby(g["group"]).std(ddof=0).fillna(0.0)
        stats["frac_zero_std_groups"] = float((stds <= 1e-12).mean())
        out[task] = stats
    return {"rows": len(rows), "tasks": out}


def test_index_summary_equals_pandas_reference(tmp_path):
    rows = _rows(3, [1.0, 0.0, 0.5, 0.5, None, None, 0.25, float("nan")])
    rows += _rows(3, [0.1, 0.3, 0.7, 0.7], task="detection")
    for i, r in enumerate(rows):
        r["advantage"], r["length"], r["truncated"] = i * 0.5 - 1, 3 + i, i % 3 == 0
    RolloutWriter(tmp_path).write_step(3, rows)
    got = RolloutReader(tmp_path).index()["steps"]["3"]
    want = _pandas_summary(rows)
    assert got["rows"] == want["rows"] == 12 and got["tasks"].keys() == want["tasks"].keys()
    for task, stats in want["tasks"].items():
        assert got["tasks"][task].keys() == stats.keys()
        for k, v in stats.items():
            assert got["tasks"][task][k] == pytest.approx(v, rel=1e-12, abs=1e-15), (task, k)
    # vqa groups: {1, 0}, {0.5, 0.5}, {None, None}, {0.25, nan}: the last three have no spread -> 3/4.
    assert got["tasks"]["vqa"]["frac_zero_std_groups"] == 0.75


def test_index_appends_one_line_per_step_and_survives_a_torn_line(tmp_path):
    w = RolloutWriter(tmp_path)
    path = tmp_path / "rollouts" / "index.jsonl"
    sizes = []
    for s in range(40):
        w.write_step(s, _rows(s, [1.0, 0.0]))
        sizes.append(path.stat().st_size)
    growth = {b - a for a, b in zip(sizes, sizes[1:], strict=False)}
    assert max(growth) - min(growth) <= 2  # a constant-size append (digits of the step number), not a rewrite
    w.write_step(39, _rows(39, [0.5, 0.5]))  # a step written again (a second generation batch): last line wins
    with open(path, "a") as f:
        f.write('{"step": 40, "file": "step_0000')  # a crash mid-append
    idx = RolloutReader(tmp_path).index()["steps"]
    assert sorted(map(int, idx)) == list(range(40))
    assert idx["39"]["tasks"]["vqa"]["reward"]["mean"] == 0.5
    RolloutWriter(tmp_path).write_step(40, _rows(40, [1.0, 1.0]))  # the next writer drops the torn line first
    lines = path.read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines][-2:] == [39, 40] and len(lines) == 42
    assert RolloutReader(tmp_path).index()["steps"]["40"]["rows"] == 2
