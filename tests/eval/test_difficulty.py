"""Offline difficulty filter: from K sampled eval runs, exactly the prompts right in some but not all runs are kept,
every other prompt is counted, and the output is a built dataset a GRPO mixture can use."""

from __future__ import annotations

import json

import pytest

from data_engine.build import load_built, load_summary
from data_engine.errors import UserError
from eval.difficulty import ALL_RIGHT, ALL_WRONG, KEEP, classify, filter_difficulty


def _sampled_eval(tmp_path, built, per_run: list[dict[str, dict]]):
    """An eval dir as `georft eval --samples K` writes it: samples/<k>/predictions.jsonl and metrics.json."""
    out = tmp_path / "eval"
    for k, rows in enumerate(per_run):
        d = out / "samples" / str(k)
        d.mkdir(parents=True)
        with (d / "predictions.jsonl").open("w") as fh:
            for i, scores in rows.items():
                fh.write(json.dumps({"id": i, "dataset": "scenes", "task": "classification", "scores": scores}) + "\n")
    doc = {"metrics": {}, "datasets": {"scenes": {"path": str(built), "split": "train"}},
           "sampling": {"samples": len(per_run), "temperature": 1.0, "seeds": list(range(len(per_run)))}}
    (out / "metrics.json").write_text(json.dumps(doc))
    return out


def test_keeps_exactly_the_prompts_right_in_some_runs(tiny_world, tmp_path):
    built = tiny_world[1]
    ds = load_built(built)
    ids = [i for i, t, s in zip(ds["id"], ds["task"], ds["split"], strict=True)
           if t == "classification" and s == "train"][:6]
    assert len(ids) == 6
    p = ids
    c = [{"correct": 1.0}, {"correct": 0.0}]
    runs = [
        {p[0]: c[0], p[1]: c[1], p[2]: c[0], p[3]: c[1], p[4]: c[0], p[5]: c[0], "ghost": c[0]},
        {p[0]: c[0], p[1]: c[1], p[2]: c[1], p[3]: c[0], p[4]: c[0], p[5]: {"iou": 0.3}, "ghost": c[1]},
        {p[0]: c[0], p[1]: c[1], p[2]: c[1], p[3]: c[0], p[5]: c[0], "ghost": c[0]},
    ]
    outcome, skips = classify([[{"id": i, "dataset": "scenes", "scores": s} for i, s in r.items()] for r in runs])
    assert outcome == {("scenes", p[0]): ALL_RIGHT, ("scenes", p[1]): ALL_WRONG, ("scenes", p[2]): KEEP,
                       ("scenes", p[3]): KEEP, ("scenes", "ghost"): KEEP}
    assert {(s["id"], s["reason"]) for s in skips} == {(p[4], "in 2 of the 3 sampled runs"),
                                                       (p[5], "no 0/1 score 'correct'")}

    summary = filter_difficulty(_sampled_eval(tmp_path, built, runs), tmp_path / "hard")
    out = load_built(tmp_path / "hard")
    assert sorted(out["id"]) == sorted([p[2], p[3]])
    assert set(out["split"]) == {"train"} and set(out["task"]) == {"classification"}
    d = summary["difficulty"]
    # records in = kept + dropped + skipped: 7 = 2 + 1 + 1 + 3 (p4, p5 and "ghost", which the build does not hold)
    assert (d["records_in"], d["kept"], d["dropped_all_right"], d["dropped_all_wrong"], d["skipped"]) == (7, 2, 1, 1, 3)
    assert load_summary(tmp_path / "hard")["num_samples"] == 2

    # the output is a mixture source as it stands
    from data_engine.data_config import SourceSection
    from data_engine.mixture import load_sources

    _, order = load_sources([SourceSection(path=str(tmp_path / "hard"), split="train")])
    assert len(order) == 2


@pytest.mark.slow
def test_cli(tiny_world, tmp_path, capsys):
    from georft.cli import main

    ds = load_built(tiny_world[1])
    i = next(i for i, t in zip(ds["id"], ds["task"], strict=True) if t == "classification")
    ev = _sampled_eval(tmp_path, tiny_world[1], [{i: {"correct": 1.0}}, {i: {"correct": 0.0}}])
    assert main(["data", "filter-difficulty", "--eval", str(ev), "--out", str(tmp_path / "h")]) == 0
    assert "1 prompts in, 1 kept" in capsys.readouterr().out


def test_refusals(tiny_world, tmp_path):
    ds = load_built(tiny_world[1])
    i = next(i for i, t in zip(ds["id"], ds["task"], strict=True) if t == "classification")
    ev = _sampled_eval(tmp_path, tiny_world[1], [{i: {"correct": 1.0}}, {i: {"correct": 0.0}}])
    same = _sampled_eval(tmp_path / "b", tiny_world[1], [{i: {"correct": 1.0}}, {i: {"correct": 1.0}}])
    with pytest.raises(UserError, match="nothing to write"):
        filter_difficulty(same, tmp_path / "h2")
    (ev / "metrics.json").write_text(json.dumps({"datasets": {}}))
    with pytest.raises(UserError, match="not a sampled eval"):
        filter_difficulty(ev, tmp_path / "h3")
