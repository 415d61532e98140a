"""Grounding description: GeoChat [grounding] turns, render -> parse identity in both families, the
`grounding_description` reward (text × box; hand values and hacks) and its metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_engine.answers import format_grounded_description
from data_engine.frames import Frame
from data_engine.reasoning import wrap_answer
from eval.parsers import parse
from rewards import score
from tests.data_engine.conftest import write_image
from tests.data_engine.test_adapters import run

W, H = 200, 100
OBJECTS = [{"phrase": "two red ships", "box": [10, 10, 60, 40]}, {"phrase": "two red ships", "box": [100, 50, 150, 90]},
           {"phrase": "a white plane", "box": [150, 10, 190, 40]}]
REF = "There are two red ships and a white plane in the scene."
SAMPLE = {"task": "grounding_description", "target": {"references": [REF], "objects": OBJECTS}}
FRAMES = [Frame.for_family("absolute", W, H, 112, 56), Frame.for_family("norm1000", W, H, 112, 56)]


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("think", [False, True])
def test_render_parse_identity(frame, think):
    text = format_grounded_description(REF, OBJECTS, frame)
    assert text.startswith("There are <|object_ref_start|>two red ships<|object_ref_end|><|box_start|>")
    out = parse("grounding_description", wrap_answer(text) if think else text, frame=frame,
                reasoning="think_answer" if think else None)
    assert out["format_ok"] and out["caption"] == REF
    assert [o["phrase"] for o in out["objects"]] == [o["phrase"] for o in OBJECTS]
    tol = 0.5 * max(W / frame.model_w, H / frame.model_h) + 1e-9
    assert np.abs(np.asarray(out["boxes"]) - np.asarray([o["box"] for o in OBJECTS])).max() <= tol


def test_plain_inline_boxes_parse_but_are_not_the_trained_format():
    out = parse("grounding_description", "There are two red ships [10, 10, 60, 40] near land.")
    assert out["objects"] == [{"phrase": "There are two red ships", "box": [10.0, 10.0, 60.0, 40.0]}]
    assert out["caption"] == "There are two red ships near land." and not out["format_ok"]
    # a phrase that is not in the text is appended with its boxes
    tail = format_grounded_description("A harbor.", OBJECTS[2:], Frame.identity(W, H))
    assert tail == "A harbor. <|object_ref_start|>a white plane<|object_ref_end|><|box_start|>(150,10),(190,40)<|box_end|>"


def _r(text):
    return score("grounding_description", text, SAMPLE, name="grounding_description")


def test_reward_hand_values_and_hacks():
    fr = Frame.identity(W, H)
    perfect = _r(format_grounded_description(REF, OBJECTS, fr))
    assert perfect["overall"] == pytest.approx(1.0) and perfect["text"] == 1.0 and perfect["box"] == 1.0
    # one of three boxes exactly: box = 0.5 * 1/3 + 0.5 * F1(P=1, R=1/3) = 1/6 + 1/4; text 1 -> overall 5/12
    partial = _r(format_grounded_description(REF, OBJECTS[2:], fr))
    assert partial["box"] == pytest.approx(5 / 12) and partial["overall"] == pytest.approx(5 / 12)
    hacks = {
        "text only": REF,
        "boxes only": "".join(f"<|box_start|>({b[0]},{b[1]}),({b[2]},{b[3]})<|box_end|>" for b in
                              [o["box"] for o in OBJECTS]),
        "whole image": format_grounded_description(REF, [{"phrase": "two red ships", "box": [0, 0, W, H]}], fr),
        "box spam": format_grounded_description(REF, OBJECTS + [{"phrase": "a white plane", "box": [x, 0, x + 10, 10]}
                                                                 for x in range(0, 190, 10)], fr),
        "repeated text": format_grounded_description(" ".join([REF] * 4), OBJECTS, fr),
    }
    for name, text in hacks.items():
        assert _r(text)["overall"] < partial["overall"], name


def test_geochat_grounding_turns_and_scorer(tmp_path):
    from eval.runner_score import SCORERS
    from eval.suite import DatasetEntry, SuiteConfig

    write_image(tmp_path / "a.png", 200, 100)
    data = [{"id": "g", "image": "a.png", "conversations": [
        {"from": "human", "value": "<image>\n[grounding] describe the image"},
        {"from": "gpt", "value": "There are <p>two ships</p> {<5><10><30><40>|<0>}{<50><50><75><90>} near a pier."},
        {"from": "human", "value": "[grounding] again"}, {"from": "gpt", "value": "There is a pier {<5><10><30><40>}."}]}]
    (tmp_path / "GeoChat_Instruct.json").write_text(json.dumps(data))
    rows, skips = run("geochat", tmp_path, annotations="GeoChat_Instruct.json")
    assert [r["task"] for r in rows] == ["grounding_description"]
    t = rows[0]["target"]
    assert t["references"] == ["There are two ships near a pier."]
    assert t["objects"] == [{"phrase": "two ships", "box": [10, 10, 60, 40]}, {"phrase": "two ships", "box": [100, 50, 150, 90]}]
    assert [s.reason for s in skips] == ["malformed box"] and "no <p>phrase</p>" in skips[0].detail
    pred = parse("grounding_description", format_grounded_description(t["references"][0], t["objects"][:1],
                                                                       Frame.identity(200, 100)))
    m, s = SCORERS["grounding_description"]([{"id": "x", "task": "grounding_description", "target": t,
                                              "prediction": pred}], DatasetEntry(name="d", path="."), SuiteConfig())
    assert m["box_precision@0.5"] == 1.0 and m["box_recall@0.5"] == 0.5 and s[0]["box_f1@0.5"] == pytest.approx(2 / 3)
    assert m["rouge_l"] == pytest.approx(1.0)
