"""Collapse and hacking flags (`eval.collapse`, docs/collapse-flags.md) with hand-derived values."""

from __future__ import annotations

import numpy as np
import pytest

from eval.collapse import (
    answer_key,
    answer_shares,
    collapse_reasons,
    empty_think_share,
    gold_key,
    is_flag_metric,
    row_flags,
    same_share,
    switch_gain_share,
)
from eval.parsers import parse
from rewards.think import think_format

CLASSES = ["airport", "bare land", "harbor", "parking lot", "tank farm"]


def _row(answer: str, label: str) -> dict:
    target = {"label": label, "classes": CLASSES}
    return {"task": "classification", "target": target, "completion": answer, "reasoning": "none",
            "prediction": parse("classification", answer, classes=CLASSES)}


def _score(rows: list[dict]) -> np.ndarray:
    return np.array([float(r["prediction"].get("label") == r["target"]["label"]) for r in rows])


# 200 scenes, 40 of each class (sample i has class i % 5)
LABELS = [CLASSES[i % 5] for i in range(200)]


def test_distinct_and_top_shares_of_200_predictions():
    # 13 distinct answers "c0".."c12" in turn over 200 rows: 200 = 13 * 15 + 5, so c0..c4 appear 16 times
    keys = [answer_key({"completion": f"c{i % 13}", "prediction": {"format_ok": False}}) for i in range(200)]
    s = answer_shares(keys)
    assert (s["distinct"], s["distinct_share"]) == (13, 13 / 200)
    assert (s["top_count"], s["top_share"], s["top_answer"]) == (16, 16 / 200, "t:c0")
    assert answer_shares([]) == {"n": 0, "distinct": 0, "distinct_share": 0.0, "top_answer": None, "top_count": 0,
                                 "top_share": 0.0}


def test_answer_key_folds_spelling_and_rounds_pixels():
    a = {"prediction": {"box": [10.2, 20.4, 50.0, 60.49], "label": "Tank", "format_ok": True, "n_boxes": 1}}
    b = {"prediction": {"box": [9.8, 19.6, 50.3, 59.7], "label": "tank ", "format_ok": True, "n_boxes": 1}}
    assert answer_key(a) == answer_key(b) == 'p:{"box": [10, 20, 50, 60], "label": "tank"}'
    # unparsed: the answer block's folded text; think blocks do not make answers distinct
    t1 = {"completion": "<think>x</think><answer> Yes </answer>", "reasoning": "think_answer", "prediction": None}
    t2 = {"completion": "<think></think><answer>yes</answer>", "reasoning": "think_answer"}
    assert answer_key(t1) == answer_key(t2) == "t:yes"
    # hostile rows never raise
    for bad in (None, 3, "text", {"prediction": "x"}, {"prediction": {"format_ok": True, "v": float("nan")}},
                {"completion": 5}):
        assert isinstance(answer_key(bad), str)


def test_empty_think_share_and_row_flags():
    rows = [{"reasoning": "think_answer", "completion": "<think></think><answer>yes</answer>"}] * 3 + \
           [{"reasoning": "think_answer", "completion": "<think>two ships, so yes</think><answer>yes</answer>"}] + \
           [{"reasoning": "none", "completion": "no"}]
    assert empty_think_share(rows) == 3 / 4
    assert empty_think_share([{"reasoning": "none", "completion": "x"}]) is None
    flags = row_flags(rows)
    # keys: "t:yes" x4 (the parser never ran: no prediction), "t:no" x1
    assert flags == {"distinct_answer_share": 2 / 5, "top_answer_share": 4 / 5, "empty_think_share": 3 / 4}
    assert is_flag_metric("vqa/empty_think_share") and is_flag_metric("same_as_constant_share")
    assert not is_flag_metric("accuracy") and not is_flag_metric("think_format_rate")


def test_same_share_and_switch_share():
    assert same_share(["a", "b", "c", "d"], ["a", "x", "c", "y"]) == 0.5
    with pytest.raises(ValueError):
        same_share(["a"], [])
    # +1 on samples 0 and 1 (switched to "K"), +1 on 2 (switched to "z", not a collapse answer), -1 on 3 (switched
    # to "K" too): net gain 2, switched samples 0, 1, 3 carry 1 + 1 - 1 = 1 of it
    share = switch_gain_share(np.array([0, 0, 0, 1.0]), np.array([1, 1, 1, 0.0]), ["a", "b", "c", "d"],
                              ["K", "K", "z", "K"], [{"K"}] * 4)
    assert share == pytest.approx(1 / 2)
    assert switch_gain_share(np.zeros(2), np.zeros(2), ["a", "b"], ["a", "b"], [set(), set()]) is None


def test_gold_key_reads_the_target_like_an_answer():
    row = _row("harbor", "harbor")
    assert gold_key(row) == answer_key(row)
    assert gold_key({"task": "no such task", "target": {}}) is None
    assert gold_key({"task": "classification"}) is None


def test_gain_carried_by_switching_to_the_constant_answer_is_flagged():
    # A: right on the 8 airport samples i = 0, 5, ..., 35 only; elsewhere it names the next class, never "harbor"
    # on a harbor scene. B: A's answers, except "harbor" on every sample A got wrong among the first 100 (gold
    # harbor: 20 of those) -> B gains +1 on those 20 harbor samples, loses nothing (A was wrong there too).
    def a_answer(i: int) -> str:
        lab = LABELS[i]
        return lab if lab == "airport" and i < 40 else CLASSES[(CLASSES.index(lab) + 1) % 5]

    rows_a = [_row(a_answer(i), LABELS[i]) for i in range(200)]
    rows_b = [_row("harbor" if i < 100 and a_answer(i) != LABELS[i] else a_answer(i), LABELS[i]) for i in range(200)]
    sa, sb = _score(rows_a), _score(rows_b)
    assert sb.sum() - sa.sum() == 20
    # B says harbor on the 92 wrong samples of the first 100 plus the 20 bare-land samples after 100 (A's "next
    # class"): 112 of 200 = 0.56 >= 0.25 (repeated) and >= 1.5 * 0.2 (the truth's harbor share)
    reasons, numbers = collapse_reasons(rows_a, rows_b, sa, sb)
    assert numbers["top_share"] == pytest.approx(112 / 200)
    assert numbers["switch_share"] == pytest.approx(1.0)
    # 5 distinct answers: above the floor min(0.10, 0.5 * 5 / 200) = 0.0125, so only the switch rule fires
    assert numbers["distinct_floor"] == pytest.approx(0.0125) and len(reasons) == 1 and "switching" in reasons[0]
    # the same gain through the majority-class baseline's answer ("harbor" for every sample) is flagged alike
    base = [_row("harbor", LABELS[i]) for i in range(200)]
    reasons, numbers = collapse_reasons(rows_a, rows_b, sa, sb, baseline_rows=base)
    assert numbers["same_as_baseline_share"] == pytest.approx(112 / 200) and reasons


def test_constant_answer_everywhere_is_flagged_for_few_distinct_answers():
    rows_a = [_row(CLASSES[(CLASSES.index(lab) + 1) % 5], lab) for lab in LABELS]  # always wrong
    rows_b = [_row("harbor", lab) for lab in LABELS]  # right on the 40 harbor scenes
    reasons, numbers = collapse_reasons(rows_a, rows_b, _score(rows_a), _score(rows_b))
    assert numbers["distinct_share"] == 1 / 200 < numbers["distinct_floor"]
    assert any("1 distinct answers over 200 samples" in r for r in reasons)


def test_genuine_gain_is_not_flagged():
    # A as above (always wrong); B right on 16 samples of EVERY class (80 in all), A's answers elsewhere:
    # B's answers follow the truth's class shares, so no answer is over-represented
    rows_a = [_row(CLASSES[(CLASSES.index(lab) + 1) % 5], lab) for lab in LABELS]
    rows_b = [_row(lab if i < 80 else rows_a[i]["completion"], lab) for i, lab in enumerate(LABELS)]
    sa, sb = _score(rows_a), _score(rows_b)
    assert sb.sum() - sa.sum() == 80
    reasons, numbers = collapse_reasons(rows_a, rows_b, sa, sb,
                                        baseline_rows=[_row("harbor", lab) for lab in LABELS])
    assert reasons == []
    assert numbers["top_share"] == pytest.approx(40 / 200) and numbers["switch_share"] == 0.0


def test_think_format_minimum_reasoning_length():
    empty = "<think></think><answer>yes</answer>"
    reasoned = "<think>two ships at the pier</think><answer>yes</answer>"
    assert think_format(empty, {})["overall"] == 1.0  # default: the frame alone is paid, as before
    assert think_format(empty, {}, min_reasoning_chars=10)["overall"] == 0.0
    got = think_format(reasoned, {}, min_reasoning_chars=10)
    assert got == {"overall": 1.0, "think_format": 1.0, "reasoning_chars": 21.0}
    assert think_format(reasoned, {}, min_reasoning_chars=22)["overall"] == 0.0
    assert think_format(None, {}, min_reasoning_chars="x")["overall"] == 0.0  # hostile input never raises


def test_think_format_kwarg_is_checked_at_load():
    from data_engine.errors import UserError
    from rewards.config import as_specs

    as_specs({"vqa": [{"name": "think_format", "kwargs": {"min_reasoning_chars": 20}}]})
    with pytest.raises(UserError, match="min_reasoning_chars must be an integer >= 0"):
        as_specs({"vqa": [{"name": "think_format", "kwargs": {"min_reasoning_chars": -1}}]})


def test_every_evaluable_task_of_the_synthetic_world_has_a_gold_key(tiny_world):
    import json

    from datasets import load_from_disk

    from data_engine.tasks import evaluable_tasks

    keys: dict[str, set[str]] = {}
    for r in load_from_disk(str(tiny_world[1])):
        if r["split"] == "val" and r["task"] in evaluable_tasks():
            k = gold_key({"task": r["task"], "target": json.loads(r["target"]), "width": r["width"],
                          "height": r["height"]})
            assert k is not None and k.startswith("p:"), (r["task"], r["id"])
            keys.setdefault(r["task"], set()).add(k)
    assert set(keys) == set(evaluable_tasks())
    # the empty mask answer and "There are none." are keyed as the parser reads a model's answer
    assert answer_key({"prediction": parse("semantic_segmentation", "There is none.")}) == \
        'p:{"empty": true, "mask": null}'


def test_compare_marks_a_collapse_gain_in_the_verdict(tmp_path):
    """Through `georft eval` and `georft compare` on the hand-made world: 'river' on every scene (truth: river 3 of
    5) is a significant +0.6 that switching to one repeated answer carries -> collapse, not up; VQA answered right
    (yes, no, 2, 1) -> up."""
    import json

    from test_baselines import handmade_world, run_eval, write_built  # tests/eval is on sys.path

    from georft.cli import main as cli

    built = write_built(tmp_path / "built", handmade_world())
    run_eval(tmp_path, built, {}, "sft")
    rl = {f"c{k}": "river" for k in range(5)} | {"q1": "yes", "q2": "no", "q3": "2", "q4": "1"}
    doc = run_eval(tmp_path, built, rl, "rl")
    assert doc["metrics"]["cls"]["top_answer_share"] == 1.0 and doc["metrics"]["cls"]["same_as_constant_share"] == 1.0
    assert cli(["compare", str(tmp_path / "sft"), str(tmp_path / "rl"), "--out", str(tmp_path / "rep")]) == 0
    cmp = json.loads((tmp_path / "rep" / "compare.json").read_text())
    (pair,) = cmp["verdict"]["pairs"]
    assert pair["up"] == ["vqa/vqa"]
    (flagged,) = pair["collapse"]
    assert flagged["dataset"] == "cls/classification" and flagged["switch_share"] == 1.0
    assert flagged["top_share"] == 1.0 and flagged["same_as_baseline_share"] == 1.0
    assert cmp["collapse_thresholds"]["carried_min"] == 0.5
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "rl − sft: significantly up on 1 (vqa/vqa)" in md
    assert "up but COLLAPSE, not counted as a gain, on 1 (cls/classification: 100% of the gain" in md
