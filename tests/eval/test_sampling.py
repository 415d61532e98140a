"""mean@K / pass@K: hand-derived aggregation, and `georft eval --samples K --temperature T` end to end on a tiny
model."""

from __future__ import annotations

import json

import pytest

from eval.sampling import aggregate
from georft.cli import main as cli


def _row(sid, **scores):
    return {"id": sid, "dataset": "vqa", "scores": scores}


def test_mean_and_pass_at_k_by_hand():
    docs = [{"metrics": {"vqa": {"accuracy": 0.5, "n": 2, "note": "x"}}},
            {"metrics": {"vqa": {"accuracy": 1.0, "n": 2, "note": "x"}}}]
    rows = [[_row("a", correct=0.0, iou=0.2), _row("b", correct=0.0, iou=0.4)],
            [_row("a", correct=1.0, iou=0.6), _row("b", correct=0.0, iou=0.5)]]
    got = aggregate(docs, rows)["vqa"]
    # accuracy averaged over the two runs; a right in one of its two answers, b in none; iou is not 0/1
    assert got == {"mean@2/accuracy": 0.75, "pass@2/correct": 0.5}


def test_eval_samples_end_to_end(tiny_model_dirs, tiny_world, tmp_path, capsys):
    out = tmp_path / "ev"
    args = ["eval", "--model", tiny_model_dirs["qwen2_5_vl"], "--suite", "demo", "--out", str(out), "--limit", "2",
            "--datasets", "synth_rsvqa,synth_scenes", f"data_root={tiny_world[1]}", "max_new_tokens=6"]
    assert cli([*args, "--samples", "2"]) == 2
    assert "needs --temperature > 0" in capsys.readouterr().err
    assert cli([*args, "--samples", "2", "--temperature", "1.0"]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    runs = [json.loads((out / "samples" / str(k) / "metrics.json").read_text()) for k in range(2)]
    for ds in ("synth_rsvqa", "synth_scenes"):
        m = doc["metrics"][ds]
        assert m["accuracy"] == runs[0]["metrics"][ds]["accuracy"]
        assert m["mean@2/accuracy"] == pytest.approx((runs[0]["metrics"][ds]["accuracy"]
                                                      + runs[1]["metrics"][ds]["accuracy"]) / 2)
        assert max(r["metrics"][ds]["accuracy"] for r in runs) <= m["pass@2/correct"] <= 1.0
    assert doc["sampling"] == {"samples": 2, "temperature": 1.0, "seeds": [0, 1], "runs": ["samples/0", "samples/1"]}
    assert (out / "predictions.jsonl").read_text() == (out / "samples" / "0" / "predictions.jsonl").read_text()
    assert doc["baselines"]["constant"] == "samples/0/baselines/constant"
    assert (out / doc["baselines"]["constant"] / "metrics.json").is_file()
