"""Multi-label classification (parser, `multilabel_f1`, metrics equal to scikit-learn) and counting (`count_error`,
counting accuracy / MAE / RMSE): hand-derived values and hack orderings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data_engine.answers import format_multilabel, multilabel_user_prompt
from eval.metrics.multilabel import indicators, multilabel_metrics, sample_f1
from eval.metrics.vqa import count_value, counting_metrics
from eval.parsers import parse
from rewards import score

CLASSES = ["Arable land", "Inland waters", "Transitional woodland, shrub", "Urban fabric", "Land principally "
           "occupied by agriculture, with significant areas of natural vegetation"]
SAMPLE = {"task": "multilabel_classification",
          "target": {"labels": ["Inland waters", "Transitional woodland, shrub"], "classes": CLASSES}}


def test_answer_prompt_and_parse_with_commas_in_class_names():
    text = format_multilabel(SAMPLE["target"]["labels"], CLASSES)
    assert text == "inland waters; transitional woodland, shrub"
    assert "; " in multilabel_user_prompt(CLASSES) and "semicolons" in multilabel_user_prompt(CLASSES)
    out = parse("multilabel_classification", text, classes=CLASSES)
    assert out["labels"] == ["Inland waters", "Transitional woodland, shrub"] and out["format_ok"]
    long = parse("multilabel_classification", CLASSES[4].lower(), classes=CLASSES)  # > the 64-char fuzzy cap
    assert long["labels"] == [CLASSES[4]] and long["format_ok"]
    loose = parse("multilabel_classification", "Inland water\nurban fabric\nurban fabric\nforest", classes=CLASSES)
    assert loose["labels"] == ["Inland waters", "Urban fabric"] and not loose["format_ok"]
    assert loose["n_failed"] == 2  # the repeat and the unknown "forest"
    assert parse("multilabel_classification", "There are none.", classes=CLASSES)["empty"]


def test_multilabel_f1_hand_values_and_hacks():
    def r(text):
        return score("multilabel_classification", text, SAMPLE, name="multilabel_f1")

    assert r("inland waters; transitional woodland, shrub")["overall"] == 1.0
    half = r("inland waters")  # P = 1, R = 1/2 -> F1 = 2/3
    assert half["overall"] == pytest.approx(2 / 3) and half["recall"] == 0.5
    one_wrong = r("inland waters; urban fabric")  # P = R = 1/2
    assert one_wrong["overall"] == pytest.approx(0.5)
    every = r("; ".join(c.lower() for c in CLASSES))  # recall 1 but P = 2/5 -> F1 = 4/7
    assert every["recall"] == 1.0 and every["overall"] == pytest.approx(4 / 7)
    assert every["overall"] < half["overall"]  # naming every class loses to an honest partial answer
    assert r("There are none.")["overall"] == 0.0 and r("")["overall"] == 0.0
    empty = {**SAMPLE, "target": {"labels": [], "classes": CLASSES}}
    assert score("multilabel_classification", "There are none.", empty, name="multilabel_f1")["overall"] == 1.0
    assert score("multilabel_classification", "urban fabric", empty, name="multilabel_f1")["overall"] == 0.0


HELD_OUT = [  # (true label sets, predicted label sets) over 4 classes
    ([[0, 1], [2], [1, 3], [0]], [[0], [2, 3], [1, 3], []]),
    ([[0], [0, 1, 2], [3], [2], [1]], [[0, 1], [0, 2], [3], [3], [0, 1, 2, 3]]),
]


def _mat(sets, n=4):
    m = np.zeros((len(sets), n), dtype=np.uint8)
    for i, s in enumerate(sets):
        m[i, s] = 1
    return m


def test_multilabel_metrics_hand_values():
    t, p = _mat(HELD_OUT[0][0]), _mat(HELD_OUT[0][1])
    # samples: 2*1/(2+1), 2*1/(1+2), 1, 0 -> mean 7/12
    assert sample_f1(t, p).tolist() == pytest.approx([2 / 3, 2 / 3, 1.0, 0.0])
    m = multilabel_metrics(t, p)
    assert m["sample_f1"] == pytest.approx(7 / 12)
    # cells: TP = 4 (0@0, 2@1, 1@2, 3@2), FP = 1 (3@1), FN = 2 (1@0, 0@3) -> micro = 8 / 11
    assert m["micro_f1"] == pytest.approx(8 / 11)
    # per class F1: c0 2/3 (TP1 FN1), c1 2/3 (TP1 FN1), c2 1, c3 2/3 (TP1 FP1) -> macro 0.75
    assert m["macro_f1"] == pytest.approx(0.75)
    # AP = R*P + (1-R)*prevalence: c0 .5*1+.5*.5, c1 .5*1+.5*.5, c2 1, c3 1*.5 -> mean 0.75
    assert m["mAP"] == pytest.approx((0.75 + 0.75 + 1 + 0.5) / 4)
    assert indicators([["a", "zz"], []], ["a", "b"]).tolist() == [[1, 0], [0, 0]]


@pytest.mark.parametrize("case", HELD_OUT)
def test_multilabel_metrics_equal_scikit_learn(case):
    import sklearn.metrics as skm  # the reference (dev extra)
    t, p = _mat(case[0]), _mat(case[1])
    m = multilabel_metrics(t, p)
    seen = (t | p).any(0)
    pos = t.any(0)
    assert m["sample_f1"] == pytest.approx(skm.f1_score(t, p, average="samples", zero_division=1))
    assert m["micro_f1"] == pytest.approx(skm.f1_score(t, p, average="micro"))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(t[:, seen], p[:, seen], average="macro"))
    assert m["mAP"] == pytest.approx(skm.average_precision_score(t[:, pos], p[:, pos], average="macro"))


def test_scorer_and_counting_metrics():
    from eval.runner_score import SCORERS
    from eval.suite import DatasetEntry, SuiteConfig

    rows = [{"id": str(i), "task": "multilabel_classification",
             "target": {"labels": [CLASSES[k] for k in ts], "classes": CLASSES[:4]},
             "prediction": {"labels": [CLASSES[k] for k in ps]}} for i, (ts, ps) in
            enumerate(zip(*HELD_OUT[0], strict=True))]
    m, s = SCORERS["multilabel_classification"](rows, DatasetEntry(name="d", path="."), SuiteConfig())
    assert m["sample_f1"] == pytest.approx(7 / 12) and [x["f1"] for x in s] == pytest.approx([2 / 3, 2 / 3, 1, 0])
    # counting: errors 0, 1, 3 (the non-number counts as 0), and a yes/no row left out
    c = counting_metrics(["3", "two", "many", "yes"], ["3", "3", "3", "yes"])
    assert c == {"count_accuracy": pytest.approx(1 / 3), "count_mae": pytest.approx(4 / 3),
                 "count_rmse": pytest.approx(math.sqrt(10 / 3)), "count_n": 3.0}
    vrows = [{"id": str(i), "task": "vqa", "target": {"question": "q", "answer": a, "qtype": t},
              "prediction": parse("vqa", p)} for i, (p, a, t) in
             enumerate([("3", "3", "count"), ("five", "4", "count"), ("yes", "no", "presence")])]
    vm, _ = SCORERS["vqa"](vrows, DatasetEntry(name="d", path="."), SuiteConfig())
    assert vm["count_accuracy"] == 0.5 and vm["count_mae"] == 0.5 and vm["count_n"] == 2.0


def test_count_error_hand_values_and_hacks():
    s = {"task": "vqa", "target": {"question": "How many ships are there?", "answer": "4", "qtype": "count"}}

    def r(text):
        return score("vqa", text, s, name="count_error")["overall"]

    assert r("4") == 1.0 and r("four") == 1.0
    assert r("5") == pytest.approx(0.75) and r("3") == pytest.approx(0.75) and r("2") == pytest.approx(0.5)
    assert r("8") == 0.0 and r("1000000") == 0.0  # the error is capped at the true count
    zero = {"task": "vqa", "target": {"question": "q", "answer": "0"}}
    assert score("vqa", "1", zero, name="count_error")["overall"] == 0.0  # max(true, 1) = 1
    # hedges and non-numbers score nothing
    for hack in ("many", "3 or 4", "4 4", "", "yes"):
        assert r(hack) == 0.0, hack
    assert count_value("twenty-one") == 21.0 and count_value("3.5") == 3.5 and count_value(None) is None
    yes_no = {"task": "vqa", "target": {"question": "q", "answer": "yes"}}
    assert score("vqa", "yes", yes_no, name="count_error")["overall"] == 0.0  # not a counting row


def test_trivial_baselines_of_the_new_tasks():
    import random

    from eval.baselines import POLICIES, policies_of

    assert [p.name for p in policies_of("multilabel_classification")] == ["frequent_labels"]
    assert [p.name for p in policies_of("referring_detection")] == ["no_objects"]
    rows = [{"target": {"labels": ls, "classes": CLASSES}} for ls in
            (["Arable land", "Urban fabric"], ["Arable land"], ["Inland waters", "Arable land"], ["Urban fabric"])]
    pol = POLICIES["frequent_labels"]
    state = pol.fit(rows)  # Arable land 3/4, Urban fabric 2/4, Inland waters 1/4
    assert state["labels"] == ["Arable land", "Urban fabric"]
    assert pol.answer(state, {"target": SAMPLE["target"]}, random.Random(0)) == "arable land; urban fabric"
    assert pol.fit([{"target": {"labels": ["Inland waters"]}}, {"target": {"labels": ["Urban fabric"]}},
                    {"target": {"labels": ["Arable land"]}}])["labels"] == ["Arable land"]  # none at half: top, ties sorted
