"""LRS-VQA's official WordNet rule (issue 29 §2): the worked pairs of the official evaluator (NLTK on WordNet 3.0,
Debian's wordnet-base installed by `make test`), both normalisations, and the OA / AA report per source."""

from __future__ import annotations

import pytest

from data_engine.errors import UserError
from eval.metrics.lrs_vqa import lrs_vqa_report, wups_credit
from eval.metrics.wordnet import wordnet
from eval.runner_score import score_rows
from eval.suite import DatasetEntry, SuiteConfig

# (gt, prediction, official credit, RSCoVLM credit): path similarities by hand from WordNet 3.0 (gray.n.01 and
# grey.n.01 are one synset: 1.0; two.n.01 holds the lemma "2"; round.s.01 = circular; "trees" -> tree by morphy;
# ship.n.01 - boat.n.01 is 1/3 through vessel; building - house 1/2)
PAIRS = [
    ("gray", "Grey", True, True),
    ("2", "two", True, True),
    ("circular", "round", True, True),
    ("tree", "trees", True, True),
    ("ship", "boat", False, False),
    ("building", "house", False, False),
    ("parking lot", "parking area", False, False),  # multi-word: no synsets, exact match only
    ("yes", "Yes.", False, True),
    ("rural", " rural ", False, True),
    ("yes", None, False, False),
    ("yes", "", False, False),
]


@pytest.mark.parametrize(("gt", "pred", "official", "rscovlm"), PAIRS)
def test_worked_pairs(gt, pred, official, rscovlm):
    assert wups_credit(gt, pred, "official") is official
    assert wups_credit(gt, pred, "rscovlm") is rscovlm


def test_it_is_wordnet_3_0_and_the_ship_boat_similarity_is_a_third():
    wn = wordnet()
    assert wn.get_version() == "3.0"
    assert wn.synset("ship.n.01").path_similarity(wn.synset("boat.n.01")) == pytest.approx(1 / 3)
    assert "2" in [lem.name() for lem in wn.synset("two.n.01").lemmas()]


@pytest.mark.parametrize("junk", ["\x00", "a" * 5000, "((", "\ud800", "   ", "ок", "1e308", "_" * 3])
def test_hostile_answers_never_raise(junk):
    assert wups_credit("yes", junk) in (True, False)


def test_missing_wordnet_is_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GEORFT_WORDNET", str(tmp_path))
    from eval.metrics.wordnet import wordnet_dir

    with pytest.raises(UserError, match="WordNet 3.0 not found .*wordnet-base"):
        wordnet_dir()


def test_report_oa_aa_per_source_by_hand():
    qids = ["STAR_1", "STAR_2", "STAR_3", "FAIR_1", "FAIR_2", "GLH_1"]
    cats = ["color", "color", "count", "color", "count", None]  # the last has no category: dropped
    gts = ["gray", "white", "2", "red", "3", "yes"]
    preds = ["grey", "black", "two", "Red.", "three", "yes"]
    rep = lrs_vqa_report(preds, gts, cats, qids, "official")
    # official credits: grey 1, black 0, two 1, "red." 0 (no strip), three 1 -> 3 / 5
    assert rep["OA"] == pytest.approx(3 / 5)
    assert rep["acc/color"] == pytest.approx(1 / 3) and rep["acc/count"] == 1.0
    assert rep["AA"] == pytest.approx((1 / 3 + 1) / 2)
    assert rep["STAR/OA"] == pytest.approx(2 / 3) and rep["STAR/AA"] == pytest.approx((1 / 2 + 1) / 2)
    assert rep["FAIR/OA"] == pytest.approx(1 / 2) and "GLH/OA" not in rep and rep["n"] == 5
    rs = lrs_vqa_report(preds, gts, cats, qids, "rscovlm")
    assert rs["OA"] == pytest.approx(4 / 5) and rs["FAIR/OA"] == 1.0


def _row(qid, gt, pred, cat):
    return {"id": f"lrs/{qid}", "task": "vqa", "target": {"question": "q", "answer": gt, "qtype": cat},
            "prediction": {"answer": pred, "format_ok": True}}


def test_suite_answer_rule_adds_the_official_scores():
    rows = [_row("STAR_1", "gray", "grey", "color"), _row("FAIR_1", "ship", "boat", "category")]
    suite = SuiteConfig(name="t", datasets=[DatasetEntry(name="lrs", path=".", answer_rule="lrs_vqa")])
    m = score_rows(rows, suite.datasets[0], suite)
    assert m["accuracy"] == 0.0  # normalised exact match: grey != gray
    assert m["lrs_official/OA"] == 0.5 and m["lrs_rscovlm/STAR/OA"] == 1.0 and m["lrs_official/FAIR/OA"] == 0.0
    assert [r["scores"]["wups_correct"] for r in rows] == [1.0, 0.0]
    plain = SuiteConfig(name="t", datasets=[DatasetEntry(name="lrs", path=".")])
    assert not any(k.startswith("lrs_") for k in score_rows(rows, plain.datasets[0], plain))


def test_unknown_answer_rule_fails_at_load():
    suite = SuiteConfig(name="t", datasets=[DatasetEntry(name="x", path=".", answer_rule="wups")])
    with pytest.raises(UserError, match="answer_rule must be one of exact, lrs_vqa"):
        suite.validate()
