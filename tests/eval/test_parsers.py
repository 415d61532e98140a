"""Output parsers: hand-derived cases, tolerance cases, and format -> parse round trips."""

import math

import numpy as np
import pytest

from data_engine.answers import format_detection, format_grounding, format_zoom_call
from data_engine.boxes import order_poly_vertices
from data_engine.errors import UserError
from data_engine.frames import Frame, quantize, to_model
from eval.geometry import rotated_iou
from eval.parsers import match_label, parse, parse_tool_calls

# 200x100 original shown at 100x50: model = original / 2, so parsed values are doubled.
ABS = Frame("absolute", 200, 100, 100, 50)
N1K = Frame("norm1000", 640, 480, 1000, 1000)
CLASSES = ["plane", "small-vehicle", "harbor"]


def test_detection_hbb_text_maps_to_original_pixels():
    out = parse("detection", "5,5,15,10 plane\n20,0,10,4 small vehicle", ABS, CLASSES, box_type="hbb")
    # second box has x2 < x1: re-ordered to [10, 0, 20, 4], then doubled.
    assert [o["poly"] for o in out["objects"]] == [[10, 10, 30, 10, 30, 20, 10, 20], [20, 0, 40, 0, 40, 8, 20, 8]]
    assert [o["label"] for o in out["objects"]] == ["plane", "small-vehicle"]
    assert out["format_ok"] and out["n_parsed"] == 2 and out["n_failed"] == 0


def test_detection_tolerances_are_counted():
    text = "Sure! Here they are:\n- plane: 1, 2, 3, 4\n(5,6,7,8) SHIPS\nnan,1,2,3 plane\n1,2,3,4,5,6 plane\n1e999,0,1,1 harbor"
    out = parse("detection", text, None, CLASSES)
    assert [o["poly"] for o in out["objects"]] == [[1, 2, 3, 2, 3, 4, 1, 4], [5, 6, 7, 6, 7, 8, 5, 8]]
    assert [o["label"] for o in out["objects"]] == ["plane", None]  # "ships" is no class: unknown, not guessed
    assert (out["n_prose"], out["n_nonfinite"], out["n_bad_arity"], out["n_unknown_label"]) == (1, 2, 1, 1)
    assert out["n_failed"] == 3 and not out["format_ok"]


def test_detection_json_mode_and_broken_json():
    good = '```json\n[\n\t{"quadrant bbox": [0, 0, 10, 0, 10, 10, 0, 10], "label": "harbor"}\n]\n```'
    out = parse("detection", good, ABS, CLASSES, box_type="poly")
    assert out["mode"] == "json" and out["format_ok"] and out["objects"][0]["poly"] == [0, 0, 20, 0, 20, 20, 0, 20]
    # truncated list with a trailing comma and one undecodable item: the readable item is kept.
    broken = '[{"bbox_2d": [1,2,3,4], "label": "plane",}, {"bbox_2d": [1,2,,], "label": "plane"}, {"bbox_2d": [1'
    out = parse("detection", broken, None, CLASSES)
    assert len(out["objects"]) == 1 and out["n_failed"] == 1 and not out["format_ok"]


@pytest.mark.parametrize(
    "text,empty,ok",
    [("There are none.", True, True), ("there is no plane here", True, False), ("[]", True, True),
     ("None.", True, False), ("planes everywhere", False, False), ("", False, False)],
)
def test_detection_none_variants(text, empty, ok):
    out = parse("detection", text, ABS, CLASSES)
    assert (out["empty"], out["format_ok"], out["objects"]) == (empty, ok, [])


def test_label_matching_has_a_cutoff():
    assert match_label("Small-Vehicle", CLASSES) == "small-vehicle"
    assert match_label("small_vehicles", CLASSES) == "small-vehicle"
    assert match_label("harbour", CLASSES) == "harbor"  # difflib ratio 2*6/13 = 0.923 >= 0.85
    for junk in ("vehicle", "x", "tennis court", "plane plane plane plane", "p l a n e"):
        assert match_label(junk, CLASSES) is None


def test_grounding_first_box_and_format():
    out = parse("grounding", "5,5,15,10 the red roof", ABS)
    assert out["box"] == [10, 10, 30, 20] and out["format_ok"] and out["n_boxes"] == 1
    out = parse("grounding", "it is at 3,4,1,2\nor 0,0,5,5", None)
    assert out["box"] == [1, 2, 3, 4] and out["n_boxes"] == 2 and not out["format_ok"]
    out = parse("grounding", '```json\n[\n\t{"bbox_2d": [1, 2, 3, 4], "label": "roof"}\n]\n```', ABS)
    assert out["box"] == [2, 4, 6, 8] and out["format_ok"]
    assert parse("grounding", "no idea", ABS)["box"] is None


def test_text_answers():
    assert parse("vqa", "<think>hmm</think><answer>Answer: Yes</answer>")["answer"] == "Yes"
    v = parse("vqa", "yes\nno")
    assert v["answer"] == "yes no" and not v["format_ok"]
    c = parse("classification", "Small vehicle", classes=CLASSES)
    assert c["label"] == "small-vehicle" and c["format_ok"]
    assert parse("classification", "plane or harbor", classes=CLASSES)["label"] is None
    assert parse("caption", "  Many planes\n are parked. ")["caption"] == "Many planes are parked."
    assert not parse("caption", "")["format_ok"]
    with pytest.raises(UserError, match="no output parser"):
        parse("chat", "hi")


def test_zoom_calls_nested_multiple_and_broken():
    call = format_zoom_call([10, 20, 30, 40])
    out = parse("zoom_vqa", call + "\nHere's the zoomed-in image.\n" + call + "\nship", ABS)
    assert out["n_calls"] == 2 and out["n_parsed"] == 2 and out["calls"][0]["box"] == [20, 40, 60, 80]
    assert out["answer"] == "Here's the zoomed-in image. ship"  # whatever is outside calls is the answer text
    nested = "<tool_call><tool_call>" + call[len("<tool_call>"):] + "</tool_call> yes"
    out = parse("zoom_vqa", nested, None)
    # the empty outer tag is a failed call; the inner one parses.
    assert (out["n_calls"], out["n_parsed"], out["n_failed"]) == (2, 1, 1) and out["answer"] == "yes"
    calls, _ = parse_tool_calls('<tool_call>{"name": "image_zoom_in", "arguments": {"bbox": [1,2,3,4]</tool_call>')
    assert calls[0]["box"] == [1, 2, 3, 4] and calls[0]["repaired"] and not calls[0]["valid_syntax"]
    calls, _ = parse_tool_calls('<tool_call>{"name": "rm_rf", "arguments": {"bbox": [1,2,3,4]}}</tool_call>')
    assert calls[0]["box"] is None
    assert parse("zoom_vqa", [{"role": "assistant", "content": call}, {"role": "tool", "content": "x"},
                              {"role": "assistant", "content": "no"}])["answer"] == "no"


def _random_quads(rng, n, w, h):
    """Rotated rectangles fully inside a w x h image (corner offset <= 0.15*sqrt(2)*min(w,h) < 0.3*min(w,h))."""
    cx, cy = rng.uniform(0.3, 0.7, n) * w, rng.uniform(0.3, 0.7, n) * h
    a = rng.uniform(0, np.pi, n)
    half_w, half_h = rng.uniform(0.02, 0.15, n) * min(w, h), rng.uniform(0.02, 0.15, n) * min(w, h)
    corners = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        corners += [cx + sx * half_w * np.cos(a) - sy * half_h * np.sin(a),
                    cy + sx * half_w * np.sin(a) + sy * half_h * np.cos(a)]
    return np.stack(corners, axis=1)


@pytest.mark.parametrize("frame", [Frame("absolute", 1000, 700, 560, 392), N1K])
@pytest.mark.parametrize("box_type", ["poly", "hbb"])
def test_detection_round_trip_within_half_a_model_unit(frame, box_type):
    rng = np.random.default_rng(0)
    quads = _random_quads(rng, 60, frame.orig_w, frame.orig_h)
    labels = [CLASSES[i % 3] for i in range(60)]
    text = format_detection([{"label": lab, "poly": q} for lab, q in zip(labels, quads, strict=True)], CLASSES, frame, box_type)
    out = parse("detection", text, frame, CLASSES, box_type=box_type)
    assert out["format_ok"] and out["n_parsed"] == 60
    want = order_poly_vertices(quads) if box_type == "poly" else np.array(
        [[q[0::2].min(), q[1::2].min(), q[0::2].max(), q[1::2].min(), q[0::2].max(), q[1::2].max(),
          q[0::2].min(), q[1::2].max()] for q in quads])
    got = {(o["label"], tuple(np.round(quantize(to_model(o["poly"], frame))))) for o in out["objects"]}
    tol = 0.5 * np.array([frame.orig_w / frame.model_w, frame.orig_h / frame.model_h] * 4) + 1e-9
    for lab, q in zip(labels, want, strict=True):
        match = [o for o in out["objects"] if o["label"] == lab and np.all(np.abs(np.array(o["poly"]) - q) <= tol)]
        assert match, (lab, q)
    assert len(got) <= 60


@pytest.mark.parametrize("frame", [Frame("absolute", 1000, 700, 560, 392), Frame("norm1000", 800, 800, 1000, 1000)])
def test_obb_round_trip_keeps_the_rectangle(frame):
    rng = np.random.default_rng(1)
    quads = _random_quads(rng, 40, frame.orig_w, frame.orig_h)
    text = format_detection([{"label": "plane", "poly": q} for q in quads], CLASSES, frame, "obb")
    out = parse("detection", text, frame, CLASSES, box_type="obb")
    assert out["format_ok"] and out["n_parsed"] == 40
    ious = rotated_iou(np.array([o["poly"] for o in out["objects"]]), quads).max(axis=1)
    # Integer centre/size/angle: each side moves <= 0.5 unit and the angle <= 0.5 deg. For the smallest box
    # (sides 0.04*392 = 15.7 units) that is about (1 - 1/15.7)^2 ~ 0.88 in the worst case. Only uniform frames: on
    # an anisotropic grid a rotated rectangle is a parallelogram and an OBB cannot hold it (module docstring).
    assert ious.min() > 0.8 and np.median(ious) > 0.95


@pytest.mark.parametrize("frame", [Frame("absolute", 1000, 700, 560, 392), N1K])
def test_grounding_and_zoom_round_trip(frame):
    rng = np.random.default_rng(2)
    tol = 0.5 * max(frame.orig_w / frame.model_w, frame.orig_h / frame.model_h) + 1e-9
    for _ in range(50):
        x1, y1 = rng.uniform(0, 0.5) * frame.orig_w, rng.uniform(0, 0.5) * frame.orig_h
        box = [x1, y1, x1 + rng.uniform(5, 0.5 * frame.orig_w), y1 + rng.uniform(5, 0.5 * frame.orig_h)]
        out = parse("grounding", format_grounding(box, "the big tank", frame), frame)
        assert out["format_ok"] and out["label"] == "the big tank"
        assert np.max(np.abs(np.array(out["box"]) - box)) <= tol
        model_box = [int(v) for v in quantize(to_model(box, frame))]
        z = parse("zoom_vqa", format_zoom_call(model_box) + "\nyes", frame)
        assert z["calls"][0]["bbox_model"] == model_box
        assert np.max(np.abs(np.array(z["calls"][0]["box"]) - box)) <= tol


def test_huge_inputs_stay_bounded():
    out = parse("detection", "1" * 1_000_000, ABS, CLASSES)
    assert out["objects"] == [] and not math.isnan(out["n_failed"])
    out = parse("detection", "1,1,5,5 plane\n" * 10_000, ABS, CLASSES)
    assert out["n_parsed"] == 2000 and out["n_truncated"] == 8000 and out["n_failed"] == 8000
