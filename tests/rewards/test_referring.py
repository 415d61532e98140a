"""Referring detection: render -> parse identity, the `referring_iou_f1` reward (hand values, hack orderings) and the
benchmark metrics (hand values)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data_engine.answers import EMPTY_ANSWER, format_referring
from data_engine.frames import Frame
from data_engine.reasoning import wrap_answer
from data_engine.render import task_prompt
from eval.metrics.referring import matched_ious, referring_metrics, sample_scores, size_group
from eval.parsers import parse
from rewards import score

W, H = 400, 200
GT = [[10, 10, 60, 40], [100, 50, 150, 90], [300, 100, 380, 180]]
SAMPLE = {"task": "referring_detection", "width": W, "height": H,
          "target": {"expression": "red ships", "boxes": GT}}
FRAMES = {"qwen2_5_vl": Frame.for_family("absolute", W, H, 224, 112),
          "qwen3_vl": Frame.for_family("norm1000", W, H, 224, 112)}


@pytest.mark.parametrize("family", list(FRAMES))
@pytest.mark.parametrize("mode", ["text", "json"])
@pytest.mark.parametrize("think", [False, True])
def test_render_parse_identity_both_families_modes_and_frames(family, mode, think):
    frame = FRAMES[family]
    text = format_referring(GT, "red ships", frame, mode)
    if think:
        text = wrap_answer(text, "three hulls are red")
    pred = parse("referring_detection", text, frame=frame, reasoning="think_answer" if think else None)
    assert pred["format_ok"] and pred["n_parsed"] == 3 and not pred["empty"]
    # back in original pixels within half a model unit
    tol = 0.5 * max(W / frame.model_w, H / frame.model_h) + 1e-9
    got = sorted(pred["boxes"], key=lambda b: (b[1], b[0]))
    assert np.abs(np.asarray(got) - np.asarray(sorted(GT, key=lambda b: (b[1], b[0])))).max() <= tol
    # rendering the parsed boxes again gives the same text
    again = format_referring(pred["boxes"], "red ships", frame, mode)
    assert again == (text if not think else format_referring(GT, "red ships", frame, mode))
    empty = format_referring([], "red ships", frame, mode)
    assert empty == EMPTY_ANSWER and parse("referring_detection", empty, frame=frame)["empty"]


def test_prompt_asks_for_every_match():
    msgs = task_prompt("referring_detection", SAMPLE["target"], 1, "hbb", "text")
    assert msgs[-1]["content"][-1]["text"] == "find all the red ships"
    assert task_prompt("referring_detection", {"expression": "all red ships", "boxes": []}, 1, "hbb",
                       "text")[-1]["content"][-1]["text"] == "find all red ships"
    assert task_prompt("referring_detection", SAMPLE["target"], 1, "hbb", "json")[-1]["content"][-1]["text"] == (
        "Locate all the red ships in the image, output the bbox coordinates using JSON format")


def _answer(boxes):
    return "\n".join(f"{','.join(str(int(v)) for v in b)} red ships" for b in boxes) or EMPTY_ANSWER


def test_reward_hand_values():
    # perfect: mean IoU 1, F1 1
    out = score("referring_detection", _answer(GT), SAMPLE, name="referring_iou_f1")
    assert out["overall"] == 1.0 and out["n_pred"] == 3 and out["n_true"] == 3
    # one of three exactly: mean IoU 1/3, P = 1, R = 1/3, F1 = 0.5 -> 0.5 * 1/3 + 0.5 * 0.5
    out = score("referring_detection", _answer(GT[:1]), SAMPLE, name="referring_iou_f1")
    assert out["overall"] == pytest.approx(0.5 / 3 + 0.25) and out["f1"] == pytest.approx(0.5)
    # a box half-overlapping the first one: IoU = 25*30 / (50*30 + 50*30 - 750) = 1/3 -> no TP at 0.5
    out = score("referring_detection", _answer([[35, 10, 85, 40]]), SAMPLE, name="referring_iou_f1")
    assert out["mean_iou"] == pytest.approx((1 / 3) / 3) and out["f1"] == 0.0
    # nothing to find: only an explicit "There are none." scores
    empty = {**SAMPLE, "target": {"expression": "blue planes", "boxes": []}}
    assert score("referring_detection", EMPTY_ANSWER, empty, name="referring_iou_f1")["overall"] == 1.0
    assert score("referring_detection", "", empty, name="referring_iou_f1")["overall"] == 0.0
    assert score("referring_detection", _answer(GT[:1]), empty, name="referring_iou_f1")["overall"] == 0.0
    assert score("referring_detection", EMPTY_ANSWER, SAMPLE, name="referring_iou_f1")["overall"] == 0.0


def test_hacks_score_below_an_honest_partial_answer():
    honest = score("referring_detection", _answer(GT[:2]), SAMPLE, name="referring_iou_f1")["overall"]
    grid = [[x, y, x + 50, y + 40] for x in range(0, W, 50) for y in range(0, H, 40)]
    hacks = {
        "whole image": [[0, 0, W, H]],
        "many boxes incl. the true ones": GT + grid,
        "grid": grid,
        "duplicates of one true box": [GT[0]] * 6,
        "first box only, repeated": [GT[0], GT[0]],
    }
    for name, boxes in hacks.items():
        got = score("referring_detection", _answer(boxes), SAMPLE, name="referring_iou_f1")["overall"]
        assert got < honest, (name, got, honest)
    assert score("referring_detection", EMPTY_ANSWER, SAMPLE, name="referring_iou_f1")["overall"] < honest


def test_matching_is_one_to_one_and_maximises_total_iou():
    # pred 0 overlaps both; the optimal matching gives it to gt 1 so pred 1 can take gt 0 exactly
    gt = [[0, 0, 10, 10], [5, 0, 15, 10]]
    pred = [[5, 0, 15, 10], [0, 0, 10, 10], [0, 0, 10, 10]]
    assert sorted(matched_ious(pred, gt).tolist()) == [1.0, 1.0]
    assert matched_ious([], gt).size == 0


def test_metrics_hand_values_and_groups():
    s_perfect = sample_scores(GT, GT, False)
    s_half = sample_scores([GT[0], [200, 0, 210, 10]], GT[:1], False)  # 1 TP of 2 predicted, 1 true
    s_empty_ok = sample_scores([], [], True)
    s_miss = sample_scores([], GT[:1], True)
    assert s_perfect["precision@0.5"] == s_perfect["f1@0.5"] == 1.0
    assert s_half["precision@0.5"] == 0.5 and s_half["recall@0.5"] == 1.0 and s_half["f1@0.5"] == pytest.approx(2 / 3)
    assert s_half["mean_iou"] == 0.5
    assert s_empty_ok["precision@0.5"] == 1.0 and s_miss["precision@0.5"] == 0.0
    # @0.25 is looser: IoU 1/3 counts there, not at 0.5
    loose = sample_scores([[35, 10, 85, 40]], GT[:1], False)
    assert loose["precision@0.25"] == 1.0 and loose["precision@0.5"] == 0.0
    m = referring_metrics([s_perfect, s_half, s_empty_ok, s_miss],
                          [("multi", "medium"), ("single", "medium"), ("none",), ("single", "small")])
    assert m["precision@0.5"] == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    assert m["precision@0.5/single"] == pytest.approx(0.25) and m["precision@0.5/multi"] == 1.0
    assert m["precision@0.5/medium"] == pytest.approx(0.75) and m["n/small"] == 1.0
    assert all(math.isfinite(v) for v in m.values())
    # size groups: the source's own name wins, else COCO areas of the mean true box
    assert size_group([[0, 0, 10, 10]]) == "small" and size_group([[0, 0, 50, 50]]) == "medium"
    assert size_group([[0, 0, 100, 100]]) == "large" and size_group([[0, 0, 5, 5]], "large") == "large"
    assert size_group([]) is None


def test_scorer_splits_single_multi_and_sizes():
    from eval.runner_score import SCORERS
    from eval.suite import DatasetEntry, SuiteConfig

    rows = [{"id": "a", "task": "referring_detection", "target": {"expression": "e", "boxes": GT},
             "prediction": parse("referring_detection", _answer(GT))},
            {"id": "b", "task": "referring_detection", "target": {"expression": "e", "boxes": [GT[0]]},
             "prediction": parse("referring_detection", EMPTY_ANSWER)}]
    m, s = SCORERS["referring_detection"](rows, DatasetEntry(name="d", path="."), SuiteConfig())
    assert m["precision@0.5"] == 0.5 and m["precision@0.5/multi"] == 1.0 and m["precision@0.5/single"] == 0.0
    # mean true-box areas (1500 + 2000 + 6400) / 3 and 1500 px^2: both medium (32^2 <= a < 96^2)
    assert m["precision@0.5/medium"] == 0.5 and m["n/medium"] == 2.0
    assert [x["f1@0.5"] for x in s] == [1.0, 0.0]
