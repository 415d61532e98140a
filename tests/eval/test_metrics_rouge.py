"""ROUGE-1 F / ROUGE-L F equal Google's rouge-score (use_stemmer=True, score_multi) and a hand-derived value."""

from __future__ import annotations

import pytest

from eval.metrics.captions import rouge_f, rouge_tokenize

CASES = {
    "a": ("two buildings are built .", ["two new buildings appear .", "two buildings are constructed on the land ."]),
    "b": ("the scene is the same as before .", ["the scene is the same as before .", "there is no change ."]),
    "c": ("Many houses were BUILT near the roads!", ["many houses are built beside a road .", "roads and houses"]),
    "d": ("", ["a road is built ."]),
    "e": ("running runners ran; 3 buildings", ["the runner runs past 3 building", "nothing"]),
    "f": ("a a a a", ["a b a c", "b"]),
}


def test_rouge_f_equals_rouge_score_package():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    cands = {k: c for k, (c, _) in CASES.items()}
    refs = {k: r for k, (_, r) in CASES.items()}
    ours = rouge_f(cands, refs)
    for k, (c, r) in CASES.items():
        ref = scorer.score_multi(r, c)
        assert ours["per_id"][k]["rouge_1_f"] == pytest.approx(ref["rouge1"].fmeasure, abs=1e-12), k
        assert ours["per_id"][k]["rouge_l_f"] == pytest.approx(ref["rougeL"].fmeasure, abs=1e-12), k
    n = len(CASES)
    assert ours["rouge_1_f"] == pytest.approx(sum(v["rouge_1_f"] for v in ours["per_id"].values()) / n)


def test_rouge_f_hand_values():
    # "two buildings are built" vs "two new buildings appear": stems two/build/are/built | two/new/build/appear;
    # unigram overlap {two, build} = 2 of 4 and 4 -> F = 0.5; LCS "two build" = 2 -> F = 0.5.
    out = rouge_f({1: "two buildings are built ."}, {1: ["two new buildings appear ."]})
    assert out["rouge_1_f"] == pytest.approx(0.5) and out["rouge_l_f"] == pytest.approx(0.5)
    assert rouge_tokenize("Buildings, ROADS!", None) == ["buildings", "roads"]
    # without stemming "buildings" and "building" differ
    assert rouge_f({1: "buildings"}, {1: ["building"]}, stem=False)["rouge_1_f"] == 0.0
    assert rouge_f({1: "buildings"}, {1: ["building"]})["rouge_1_f"] == 1.0
