"""Rewards: hand-derived values, perfect answers score 1, and every known hack scores below an honest answer."""

import json

import numpy as np
import pytest

from data_engine.answers import format_detection, format_grounding, format_zoom_call
from data_engine.errors import UserError
from data_engine.frames import Frame
from rewards import score

CLASSES = ["plane", "ship", "harbor", "small-vehicle", "tennis-court"]


def sq(x, y, s=10):
    return [x, y, x + s, y, x + s, y + s, x, y + s]


DET = {
    "task": "detection",
    "width": 200,
    "height": 200,
    "target": json.dumps({"classes": CLASSES, "objects": [
        {"label": "plane", "poly": sq(0, 0)}, {"label": "ship", "poly": sq(50, 50)},
        {"label": "harbor", "poly": sq(100, 100, 20)}, {"label": "plane", "poly": sq(150, 10)}]}),
}
PIX = Frame.identity(200, 200)


def det(text, **kw):
    return score("detection", text, DET, **kw)


def test_detection_perfect_is_one_and_partial_hand_derived():
    objs = json.loads(DET["target"])["objects"]
    assert det(format_detection(objs, CLASSES, PIX, "poly"))["overall"] == 1.0
    assert det(format_detection(objs, CLASSES, PIX, "hbb"))["overall"] == 1.0
    # two of four boxes exact, nothing else: iou = 2/4, tp = 2, f1 = 2*2/(2+4) = 2/3 -> 0.5*0.5 + 0.5*2/3 = 0.58333
    r = det("0,0,10,10 plane\n50,50,60,60 ship")
    assert r["iou"] == pytest.approx(0.5) and r["f1"] == pytest.approx(2 / 3)
    assert r["precision"] == 1.0 and r["recall"] == 0.5 and r["overall"] == pytest.approx(7 / 12)
    # one box shifted by 5 px: IoU = 50/150 = 1/3 < 0.5, so no TP: iou = (1/3)/4, f1 = 0 -> overall = 1/24
    r = det("5,0,15,10 plane")
    assert r["overall"] == pytest.approx(1 / 24)


def test_detection_model_frame_round_trip_is_near_one():
    frame = Frame("absolute", 200, 200, 112, 112)
    objs = json.loads(DET["target"])["objects"]
    r = det(format_detection(objs, CLASSES, frame, "poly"), frame=frame)
    assert r["f1"] == 1.0 and r["overall"] > 0.9


def test_detection_hacks_score_below_an_honest_partial_answer():
    honest = det("0,0,10,10 plane\n50,50,60,60 ship")["overall"]  # 7/12, above
    hacks = {
        "empty": "",
        "none": "There are none.",
        "whole image": "0,0,200,200 plane",
        "duplicates": "0,0,10,10 plane\n" * 20 + "50,50,60,60 ship",
        "spam": "\n".join(f"{x},{y},{x + 10},{y + 10} plane" for x in range(0, 200, 10) for y in range(0, 200, 10)),
        "every class": "\n".join(f"0,0,10,10 {c}\n50,50,60,60 {c}" for c in CLASSES),
        "garbage": "1,2,3,4,5,6,7 plane\nnan,nan,1,1 ship\n" * 5,
    }
    for name, text in hacks.items():
        assert det(text)["overall"] < honest, name


def _poly_line(poly, label):
    return ",".join(str(v) for v in poly) + f" {label}"


def test_detection_bowtie_answer_is_a_malformed_box():
    objs = json.loads(DET["target"])["objects"]
    lines = [_poly_line(o["poly"], o["label"]) for o in objs]
    assert det("\n".join(lines))["overall"] == pytest.approx(1.0, abs=1e-12)
    # the first box's corners in bow-tie order (second and third swapped): its hull is the right box, but it is
    # malformed: it matches nothing, n_pred stays 4 -> iou 3/4, tp 3 -> f1 6/8 -> overall 3/4; format 0
    p = objs[0]["poly"]
    lines[0] = _poly_line([p[0], p[1], p[4], p[5], p[2], p[3], p[6], p[7]], objs[0]["label"])
    r = det("\n".join(lines))
    assert r["overall"] == pytest.approx(0.75, abs=1e-12) and r["iou"] == pytest.approx(0.75, abs=1e-12)
    assert r["n_failed"] == 1.0 and r["n_pred"] == 4.0 and r["format"] == 0.0
    # a hack list entry: every box written as a bow-tie scores below an honest partial answer
    honest = det("0,0,10,10 plane\n50,50,60,60 ship")["overall"]
    bows = "\n".join(_poly_line([q[0], q[1], q[4], q[5], q[2], q[3], q[6], q[7]], o["label"])
                     for o in objs for q in [o["poly"]])
    assert det(bows)["overall"] == 0.0 < honest


def test_detection_empty_ground_truth():
    empty = dict(DET, target=json.dumps({"classes": CLASSES, "objects": []}))
    assert score("detection", "There are none.", empty)["overall"] == 1.0
    assert score("detection", "there is nothing", empty)["overall"] == 1.0
    assert score("detection", "", empty)["overall"] == 0.0
    assert score("detection", "0,0,10,10 plane", empty)["overall"] == 0.0


GRD = {"task": "grounding", "width": 200, "height": 100, "target": {"expression": "roof", "box": [20, 20, 60, 60]}}


def test_grounding_iou_and_distance():
    assert score("grounding", format_grounding([20, 20, 60, 60], "roof", PIX), GRD)["overall"] == 1.0
    # half overlap: [40,20,80,60] -> I = 20*40 = 800, U = 2400, IoU 1/3; centre offset 20 px, diag = sqrt(200^2+100^2)
    r = score("grounding", "40,20,80,60 roof", GRD)
    assert r["iou"] == pytest.approx(1 / 3)
    assert r["overall"] == pytest.approx(0.9 / 3 + 0.1 * (1 - 20 / np.hypot(200, 100)))
    near = score("grounding", "62,20,102,60 roof", GRD)["overall"]
    far = score("grounding", "150,20,190,60 roof", GRD)["overall"]
    assert 0 < far < near  # no overlap in either: the distance term still orders them
    assert score("grounding", "0,0,200,100 roof", GRD)["overall"] < r["overall"]  # whole image loses
    assert score("grounding", "", GRD)["overall"] == 0.0


def test_vqa_and_classification():
    s = {"task": "vqa", "target": {"question": "Is there a ship?", "answer": "yes"}}
    assert score("vqa", "Yes.", s)["overall"] == 1.0
    assert score("vqa", "yes or no", s)["overall"] == 0.0
    assert score("vqa", "", s)["overall"] == 0.0
    mc = {"task": "vqa", "target": {"question": "q", "answer": "C", "choices": ["A. x", "B. y", "C. z"]}}
    assert score("vqa", "The best answer is: C", mc)["overall"] == 1.0
    assert score("vqa", "A", mc)["overall"] == 0.0
    c = {"task": "classification", "target": {"label": "dense-residential", "classes": ["dense-residential", "forest"]}}
    assert score("classification", "Dense residential", c)["overall"] == 1.0
    assert score("classification", "forest", c)["overall"] == 0.0
    assert score("classification", "dense residential or forest", c)["overall"] == 0.0


ZOOM = {"task": "zoom_vqa", "width": 1000, "height": 1000,
        "target": {"question": "What color is the car?", "answer": "red", "evidence": [[400, 400, 500, 500]]}}


def test_zoom_chain_gating_validity_and_budget():
    good = format_zoom_call([350, 350, 550, 550]) + "\nred"
    r = score("zoom_vqa", good, ZOOM)
    assert r == {"overall": 1.0, "acc": 1.0, "steps_valid": 1.0, "coverage": 1.0, "zoom": 1.0, "n_steps": 1.0,
                 "budget_penalty": 0.0, "format": 1.0}
    honest_no_zoom = score("zoom_vqa", "red", ZOOM)["overall"]
    assert honest_no_zoom == pytest.approx(0.7)  # 1 - zoom_weight
    assert score("zoom_vqa", format_zoom_call([350, 350, 550, 550]) + "\nblue", ZOOM)["overall"] == 0.0  # gated
    # zoom on the wrong place: valid step, coverage 0 -> 0.7
    assert score("zoom_vqa", format_zoom_call([0, 0, 100, 100]) + "\nred", ZOOM)["overall"] == pytest.approx(0.7)
    # always zooming: the same box 4 times. Step 1 valid; steps 2-4 repeat the current view (area 1.0 > 0.9 of
    # it: no zoom) -> steps_valid 1/4, zoom 0.25; 3 calls over budget -> penalty 0.6:
    # (0.7 + 0.3 * 0.25) * (1 - 0.6) = 0.31
    spam = format_zoom_call([350, 350, 550, 550]) * 4 + "\nred"
    assert score("zoom_vqa", spam, ZOOM)["overall"] == pytest.approx(0.31)
    assert 0.31 < honest_no_zoom
    # whole-image "zoom" does not zoom in (area > 0.9 view), tiny box fails min side, inverted box fails
    for box in ([0, 0, 1000, 1000], [400, 400, 410, 410], [550, 550, 350, 350]):
        assert score("zoom_vqa", format_zoom_call(box) + "\nred", ZOOM)["steps_valid"] == 0.0
    # without evidence, zooming only costs budget
    no_ev = dict(ZOOM, target=dict(ZOOM["target"], evidence=[]))
    assert score("zoom_vqa", "red", no_ev)["overall"] == 1.0
    assert score("zoom_vqa", good, no_ev)["overall"] == pytest.approx(0.8)


def test_zoom_chain_multi_turn_messages_and_turns():
    msgs = [{"role": "assistant", "content": format_zoom_call([175, 175, 275, 275])},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Here's the zoomed-in image."}]},
            {"role": "assistant", "content": "Red"}]
    frame = Frame("norm1000", 2000, 2000, 1000, 1000)  # model box x2 -> original [350, 350, 550, 550]
    assert score("zoom_vqa", msgs, ZOOM | {"width": 2000, "height": 2000}, frame=frame)["overall"] == 1.0
    turns = [{"box": [350, 350, 550, 550], "view": [0, 0, 1000, 1000]}]
    assert score("zoom_vqa", msgs, ZOOM, turns=turns)["overall"] == 1.0
    outside = [{"box": [350, 350, 550, 550], "view": [600, 600, 1000, 1000]}]
    assert score("zoom_vqa", msgs, ZOOM, turns=outside)["steps_valid"] == 0.0


def test_format_reward_and_unknown_task():
    assert score("detection", "0,0,10,10 plane", DET, name="format")["overall"] == 1.0
    assert score("detection", "plane at 0,0,10,10", DET, name="format")["overall"] == 0.0
    assert score("zoom_vqa", format_zoom_call([1, 2, 300, 400]) + "\nred", ZOOM, name="format")["overall"] == 1.0
    assert score("zoom_vqa", "<tool_call>{bad</tool_call>red", ZOOM, name="format")["overall"] == 0.0
    with pytest.raises(UserError, match="no reward for task"):
        score("chat", "hi", {"target": {}})


def test_user_reward_by_path():
    s = {"task": "vqa", "id": "s1", "target": {"answer": "yes"}}
    assert score("vqa", "a red car", s, name="tests/rewards/assets/my_reward.py:short_answer") == {
        "overall": 1.0, "n_words": 3.0}
    with pytest.raises(UserError, match=r"'tests/rewards/assets/my_reward.py:broken' raised on sample 's1'"):
        score("vqa", "x", s, name="tests/rewards/assets/my_reward.py:broken")
    with pytest.raises(UserError, match="no function"):
        score("vqa", "x", s, name="tests/rewards/assets/my_reward.py:nope")


CAP = {"task": "caption", "target": {"references": ["many planes are parked near the terminal",
                                                    "several planes parked at an airport"]}}


def test_caption_cider_scaled_and_cached_df(tmp_path):
    from eval.metrics.cider import cider_d
    from rewards.caption import build_df, cider_d_batch, training_df

    rows = [CAP, {"task": "caption", "target": {"references": ["a dense forest", "green trees"]}},
            {"task": "vqa", "target": {"answer": "yes"}}]
    df = training_df(rows, tmp_path, fingerprint="fp1")
    assert (tmp_path / "cider_df_fp1.json").is_file() and df.n_images == 2
    assert training_df([], tmp_path, fingerprint="fp1") is df  # memo / disk cache, not rebuilt from []
    cand = "many planes are parked near the terminal"
    want = cider_d({0: cand}, {0: CAP["target"]["references"]}, df)[1][0]
    r = score("caption", cand, CAP, df=df)
    assert r["cider"] == pytest.approx(want) and r["overall"] == pytest.approx(min(want, 3) / 3)
    # identical to a reference: with this df the score exceeds the scale 3 -> overall exactly 1
    assert want > 3 and r["overall"] == 1.0
    assert score("caption", "a dense forest", CAP, df=df)["overall"] < r["overall"]
    assert score("caption", "", CAP, df=df)["overall"] == 0.0
    batch = cider_d_batch([cand, "planes", ""], [CAP, CAP, CAP], df=build_df([CAP["target"]["references"], ["x"]]))
    assert [b["overall"] for b in batch][2] == 0.0 and batch[0]["overall"] >= batch[1]["overall"]
