"""Lexical caption rewards `rouge_l`, `levenshtein_ratio`, `jaccard`: hand values and hack orderings."""

from __future__ import annotations

import pytest

from data_engine.errors import UserError
from eval.metrics.captions import rouge_l
from rewards import score

REFS = ["many planes are parked near the terminal", "several planes at an airport"]
SAMPLE = {"task": "caption", "target": {"references": REFS}}


def _r(name, text, **kw):
    return score("caption", text, SAMPLE, name=name, **kw)


def test_jaccard_hand_values():
    # {planes, at, the, airport} vs ref 2 {several, planes, at, an, airport}: 3 shared of 6 = 1/2;
    # vs ref 1 (7 words): {planes, the} of 9 = 2/9 -> best 1/2
    assert _r("jaccard", "Planes at the airport.")["overall"] == pytest.approx(1 / 2)
    assert _r("jaccard", "several planes at an airport")["overall"] == 1.0
    assert _r("jaccard", "")["overall"] == 0.0 and _r("jaccard", "forest river")["overall"] == 0.0


def test_rouge_l_is_the_evaluators_single_reference_rouge():
    text = "many planes parked at the terminal"
    want = max(rouge_l({0: text}, {0: [r]})["rouge_l"] for r in REFS)
    assert _r("rouge_l", text)["overall"] == pytest.approx(want)
    # by hand against ref 1: LCS "many planes parked the terminal" = 5; P = 5/6, R = 5/7; F(1.2) = 2.44 P R / (R + 1.44 P)
    p, r = 5 / 6, 5 / 7
    assert want == pytest.approx(2.44 * p * r / (r + 1.44 * p))


def test_levenshtein_ratio_hand_values():
    # "several planes at a airport" -> ref 2 with one insertion ("an"): 1 - 1 / 28
    assert _r("levenshtein_ratio", "several planes at a airport")["overall"] == pytest.approx(1 - 1 / 28)
    assert _r("levenshtein_ratio", "several planes at an airport")["overall"] == 1.0


@pytest.mark.parametrize("name", ["rouge_l", "jaccard", "levenshtein_ratio"])
def test_repeating_a_reference_phrase_scores_below_an_honest_caption(name):
    if name == "levenshtein_ratio":
        pytest.importorskip("rapidfuzz")
    honest = _r(name, "several planes parked at an airport")["overall"]
    for hack in ("planes planes planes planes planes planes", "several planes at an airport " * 4, "",
                 "many planes are parked near the terminal several planes at an airport"):
        assert _r(name, hack)["overall"] < honest, hack


def test_region_caption_prompt_writes_the_box_in_each_familys_frame_and_caption_rewards_score_it():
    from data_engine.frames import Frame
    from data_engine.render import task_prompt

    target = {"box": [20, 30, 80, 70], "references": ["a red ship"]}
    qwen25 = Frame.for_family("absolute", 200, 100, 112, 56)  # x * 0.56, y * 0.56
    qwen3 = Frame.for_family("norm1000", 200, 100, 112, 56)  # x / 200 * 1000, y / 100 * 1000
    text = task_prompt("region_caption", target, 1, "hbb", "text", qwen25)[-1]["content"][-1]["text"]
    assert text == "Describe the object in <|box_start|>(11,17),(45,39)<|box_end|> in a short phrase."
    text3 = task_prompt("region_caption", target, 1, "hbb", "text", qwen3)[-1]["content"][-1]["text"]
    assert "<|box_start|>(100,300),(400,700)<|box_end|>" in text3
    with pytest.raises(UserError, match="needs the image's frame"):
        task_prompt("region_caption", target, 1, "hbb", "text")
    s = {"task": "region_caption", "target": target}
    assert score("region_caption", "a red ship", s, name="jaccard")["overall"] == 1.0
    assert score("region_caption", "a red ship", s, name="cider_d")["overall"] > score(
        "region_caption", "a white plane", s, name="cider_d")["overall"]
