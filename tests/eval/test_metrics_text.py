"""Grounding, VQA, choice letters, zoom accuracy and classification metrics, by hand."""

from __future__ import annotations

import pytest

from eval.metrics.classification import classification_accuracy, normalize_label
from eval.metrics.grounding import grounding_metrics
from eval.metrics.vqa import extract_choice_letter, normalize_answer, vqa_accuracy, zoom_accuracy


def test_grounding_by_hand():
    gts = [[0, 0, 10, 10]] * 4
    preds = [
        [0, 0, 10, 10],  # IoU 1, I 100, U 100
        [5, 0, 15, 10],  # half offset: I 50, U 150, IoU 1/3
        None,  # miss: IoU 0, I 0, U = GT area 100
        [0, 0, 10, 6],  # inside: I 60, U 100, IoU 0.6
    ]
    r = grounding_metrics(preds, gts)
    assert r["acc@0.5"] == 0.5  # IoU 1 and 0.6
    assert r["acc@0.6"] == 0.5  # 0.6 >= 0.6
    assert r["acc@0.7"] == 0.25 and r["acc@0.9"] == 0.25
    assert r["mean_iou"] == pytest.approx((1 + 1 / 3 + 0 + 0.6) / 4, abs=1e-15)
    assert r["cum_iou"] == pytest.approx((100 + 50 + 0 + 60) / (100 + 150 + 100 + 100), abs=1e-15)  # 7/15
    assert r["n"] == 4 and r["n_missing"] == 1
    strict = grounding_metrics(preds, gts, strict=True)
    assert strict["acc@0.6"] == 0.25  # 0.6 > 0.6 is false


def test_grounding_quads():
    # 45-degree square in its 2x2 HBB: IoU 1/2 -> counted at 0.5, not at 0.6
    r = grounding_metrics([[1, 0, 2, 1, 1, 2, 0, 1]], [[0, 0, 2, 2]])
    assert r["mean_iou"] == pytest.approx(0.5, abs=1e-15)
    assert r["acc@0.5"] == 1.0 and r["acc@0.6"] == 0.0
    assert r["cum_iou"] == pytest.approx(2 / 4, abs=1e-15)


@pytest.mark.parametrize(
    "raw, norm",
    [
        ("Yes.", "yes"),
        ("TRUE", "yes"),
        ("yeah", "yes"),
        ("No", "no"),
        ("false", "no"),
        ("none", "no"),
        ("Two", "2"),
        ("twenty-one", "21"),
        ("There are three planes.", "there are 3 planes"),
        ("the Airport", "airport"),
        ("an apple", "apple"),
        ("2.5", "2.5"),
        ("1,000", "1000"),
        ("Answer: rural", "rural"),
        ("well-known road!", "well-known road"),
        ("  between 10 and 100 m2 ", "between 10 and 100 m2"),
        (None, ""),
    ],
)
def test_normalize_answer_table(raw, norm):
    assert normalize_answer(raw) == norm


def test_vqa_accuracy_per_type():
    preds = ["Yes", "no", "3", "two", None, "urban"]
    gts = ["yes", "yes", "three", "2", "rural", ["Urban", "city"]]
    types = ["presence", "presence", "count", "count", "rural_urban", "rural_urban"]
    r = vqa_accuracy(preds, gts, types)
    # correct: 1, 0, 1, 1, 0 (None), 1 -> 4/6
    assert r["accuracy"] == pytest.approx(4 / 6, abs=1e-15)
    assert r["per_type"] == {"presence": 0.5, "count": 1.0, "rural_urban": 0.5}
    assert r["mean_over_types"] == pytest.approx(2 / 3, abs=1e-15)
    assert r["mean_over_non_count_types"] == 0.5


@pytest.mark.parametrize(
    "text, letter",
    [
        ("B", "B"),
        ("(C)", "C"),
        ("D.", "D"),
        ("The best answer is: C", "C"),
        ("answer: (E)", "E"),
        ("Option B", "B"),
        ("A. the airport", "A"),
        ("I think it is (E) because", "E"),
        ("A large airport", None),
        ("nothing here", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_choice_letter(text, letter):
    assert extract_choice_letter(text) == letter


def test_zoom_accuracy():
    r = zoom_accuracy(["no", "yes", "2"], ["yes", "yes", "two"], ["yes", "yes", "2"])
    assert r["accuracy_direct"] == pytest.approx(2 / 3, abs=1e-15)
    assert r["accuracy_zoom"] == 1.0
    assert r["delta"] == pytest.approx(1 / 3, abs=1e-15)


def test_classification_accuracy():
    assert normalize_label("Dense_Residential.") == "dense residential"
    r = classification_accuracy(
        ["airport", "Dense-Residential", None, "forest"], ["Airport", "dense_residential", "forest", "forest"]
    )
    # correct: 1, 1, 0, 1 -> 3/4; per class airport 1, dense residential 1, forest 1/2 -> mean 5/6
    assert r["accuracy"] == 0.75
    assert r["per_class"] == {"airport": 1.0, "dense residential": 1.0, "forest": 0.5}
    assert r["mean_class_accuracy"] == pytest.approx(5 / 6, abs=1e-15)
