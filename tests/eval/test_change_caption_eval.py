"""georft eval on change captions: fixed predictions against hand values, and the tiny model on the tiny world."""

from __future__ import annotations

import json

import pytest

from georft.cli import main as cli
from tests.eval.test_runner import _row, _score_only, _suite

CHANGED = {"references": ["two buildings are built .", "two new buildings appear ."], "changed": True}
SAME = {"references": ["the scene is the same as before .", "there is no change ."], "changed": False}


@pytest.fixture
def no_java(monkeypatch):
    # METEOR starts a JVM (~20 s); the skip path is what a machine without Java takes
    monkeypatch.setattr("eval.runner_score.java_metrics", lambda *a, **k: {"meteor": None, "skipped": "no java"})
    monkeypatch.setattr("eval.runner_score.java_skip_reason", lambda: "no java")


def test_change_caption_metrics_of_fixed_predictions(tmp_path, no_java):
    rows = [_row("lcc", "p1", "change_caption", CHANGED, "two buildings are built ."),
            _row("lcc", "p2", "change_caption", CHANGED, "the scene is the same as before ."),
            _row("lcc", "p3", "change_caption", SAME, "there is no change ."),
            _row("lcc", "p4", "change_caption", SAME, "")]
    m = _score_only(tmp_path, rows)["metrics"]["lcc"]
    # verdicts: p1 right, p2 wrong (says none on a changed pair), p3 right, p4 wrong (empty describes no "no change")
    assert m["change_accuracy"] == 0.5
    # ROUGE per pair (best reference): p1 and p3 equal a reference (1), p2 shares no stemmed word with either
    # reference (0), p4 is empty (0)
    assert m["rouge_1_f"] == pytest.approx(0.5) and m["rouge_l_f"] == pytest.approx(0.5)
    assert m["skipped/meteor"] == 1.0 and "meteor" not in m
    assert {"bleu_4", "rouge_l", "cider_d", "n"} <= set(m) and m["n"] == 4


def test_tiny_model_eval_on_bitemporal_pairs(tmp_path, tiny_world, tiny_model_dirs, no_java):
    suite = _suite(tmp_path, [{"name": "lcc", "path": str(tiny_world[1]), "split": "val",
                               "tasks": ["change_caption"]}], max_new_tokens=4, batch_size=2)
    args = ["eval", "--model", tiny_model_dirs["qwen3_vl"], "--suite", str(suite), "--out", str(tmp_path / "o")]
    assert cli(args) == 0
    doc = json.loads((tmp_path / "o" / "metrics.json").read_text())
    m = doc["metrics"]["lcc"]
    rows = [json.loads(x) for x in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    assert m["n"] == len(rows) > 0 and all(r["task"] == "change_caption" and len(r["images"]) == 2 for r in rows)
    assert {"cider_d", "rouge_1_f", "rouge_l_f", "change_accuracy"} <= set(m)
    assert all({"rouge_1_f", "change_correct"} <= set(r["scores"]) for r in rows)
