"""The overview's training-dynamics chart (eval.report.dynamics, from trainer_state.json) and its collapse chart
(eval.collapse.row_flags per task and step of the rollouts), with values derived by hand from the test run."""

from __future__ import annotations

import json

import pytest
from conftest import TRAINER_LOG

from eval.report.dynamics import dynamics_series, find_trainer_state


def _smoothed(fig: dict, name: str, axis: str) -> dict:
    return next(t for t in fig["data"] if t["name"] == name and t.get("meta") and t["yaxis"] == axis)


def test_dynamics_series_reads_the_log_and_derives_tokens_per_s():
    s = dynamics_series(TRAINER_LOG)
    assert s["loss"] == ([1, 3], [0.5, 0.3]) and s["kl"] == ([1, 3], [0.01, 0.05])
    assert s["tokens_per_s"] == ([3], [500.0])  # (5000 - 1000) / ((3 - 1) x 4.0)
    assert s["clip_ratio/region_mean"] == ([1, 3], [0.02, 0.04])
    assert "train_runtime" not in s


def test_trainer_state_falls_back_to_the_newest_checkpoint(tmp_path):
    for step in (5, 40, 9):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert find_trainer_state(tmp_path) == tmp_path / "checkpoint-40" / "trainer_state.json"
    (tmp_path / "trainer_state.json").write_text("{}")
    assert find_trainer_state(tmp_path) == tmp_path / "trainer_state.json"


def test_overview_charts_hold_dynamics_and_collapse(client):
    charts = {c["id"]: c for c in client.get("/run/0/charts.json").json()}
    assert list(charts)[:4] == ["reward", "signal", "dynamics", "collapse"]
    dyn = charts["dynamics"]["figure"]
    titles = [dyn["layout"][k]["title"]["text"] for k in sorted(dyn["layout"]) if k.startswith("yaxis")]
    assert set(titles) == {"loss", "KL to the reference", "entropy", "clip ratio", "grad norm", "learning rate",
                           "step time (s)", "tokens / s"}
    loss = next(t for t in dyn["data"] if t["name"] == "grpo_run" and t["yaxis"] == "y" and "meta" not in t)
    assert (loss["x"], loss["y"]) == ([1, 3], [0.5, 0.3])
    col = charts["collapse"]["figure"]
    # step 0, VQA: answers yes, no, yes, yes -> 2 distinct of 4, "yes" 3 of 4; no think block -> all empty
    axes = {col["layout"][k]["title"]["text"]: k.replace("axis", "") for k in col["layout"] if k.startswith("yaxis")}
    raw = {(t["name"], t["yaxis"]): t for t in col["data"] if "meta" not in t}
    assert raw[("vqa", axes["distinct-answer share"])]["y"][0] == 0.5
    assert raw[("vqa", axes["most common answer's share"])]["y"][0] == 0.75
    assert raw[("vqa", axes["empty-reasoning share"])]["y"][0] == 1.0
    assert raw[("vqa", axes["well-formed share"])]["y"][0] == pytest.approx(0.5)  # think_ok on gens 0 and 2
    assert raw[("caption", axes["most common answer's share"])]["y"] == [1.0, 1.0, 1.0]  # 4 identical captions
    assert json.dumps(charts)  # plain JSON
