"""Overlay shapes: class-aware greedy matching at IoU 0.5 and the statuses drawn for each task."""

from __future__ import annotations

from dashboard.overlay import compare_shapes, match_objects, parse_failed, sample_shapes


def _box(x1, y1, x2, y2):
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def test_match_threshold_is_iou_half():
    gt = [("plane", _box(0, 0, 10, 10))]
    # [0,0,10,10] vs [0,0,10,x]: IoU = x/10. 5.1 -> 0.51 matches, 4.9 -> 0.49 does not.
    assert match_objects(gt, [("plane", _box(0, 0, 10, 5.1))]) == ([0], [0])
    assert match_objects(gt, [("plane", _box(0, 0, 10, 4.9))]) == ([-1], [-1])


def test_match_is_class_aware():
    gt = [("plane", _box(0, 0, 10, 10))]
    assert match_objects(gt, [("ship", _box(0, 0, 10, 10))]) == ([-1], [-1])


def test_match_is_greedy_by_iou():
    # gt0 = [0,10], gt1 = [3,13] (x ranges, all 10 high). pred0 = [2.5,12.5]: IoU 7.5/12.5 = 0.6 with gt0 and
    # 9.5/10.5 = 0.905 with gt1; pred1 = [-1,9]: 9/11 = 0.818 with gt0, 6/14 = 0.43 with gt1. Greedy settles
    # (pred0, gt1) then (pred1, gt0); taking pred0's first gt above 0.5 would leave pred1 a false alarm.
    gt = [("a", _box(0, 0, 10, 10)), ("a", _box(3, 0, 13, 10))]
    pred = [("a", _box(2.5, 0, 12.5, 10)), ("a", _box(-1, 0, 9, 10))]
    gm, pm = match_objects(gt, pred)
    assert gm == [1, 0] and pm == [1, 0]


def test_detection_statuses():
    target = {"objects": [{"label": "plane", "poly": _box(0, 0, 10, 10)}, {"label": "ship", "poly": _box(50, 50, 60, 60)}]}
    pred = {"objects": [{"label": "plane", "poly": _box(0, 0, 10, 10)}, {"label": "tank", "poly": _box(80, 0, 90, 10)},
                        {"label": "bad", "poly": [1, 2, 3]}], "format_ok": True}
    got = [(s.role, s.status) for s in sample_shapes("detection", target, pred)]
    assert got == [("gt", "match"), ("gt", "miss"), ("pred", "match"), ("pred", "false_alarm")]


def test_grounding_is_class_agnostic():
    target = {"expression": "the red car", "box": [0, 0, 10, 10]}
    shapes = sample_shapes("grounding", target, {"box": [1, 0, 10, 10]})
    assert [s.status for s in shapes] == ["match", "match"]
    assert "the red car" in shapes[0].label
    shapes = sample_shapes("grounding", target, {"box": [20, 20, 30, 30]})
    assert [s.status for s in shapes] == ["miss", "false_alarm"]


def test_zoom_shapes_and_text_tasks():
    target = {"question": "q", "answer": "a", "evidence": [[0, 0, 5, 5]]}
    turns = [{"tool_call": "x", "box": [0, 0, 8, 8], "crop_image": "c.png"}, {"tool_call": "y", "box": "junk"}]
    shapes = sample_shapes("zoom_vqa", target, {"answer": "a"}, turns)
    assert [(s.status, s.label) for s in shapes] == [("evidence", "evidence 1"), ("crop", "turn 1 crop")]
    assert sample_shapes("vqa", {"answer": "yes"}, {"answer": "yes"}) == []


def test_compare_colours_by_model():
    target = {"objects": [{"label": "plane", "poly": _box(0, 0, 10, 10)}]}
    a = {"objects": [{"label": "plane", "poly": _box(0, 0, 10, 10)}]}
    b = {"objects": []}
    shapes = compare_shapes("detection", target, a, b)
    assert [(s.role, s.colour_key) for s in shapes] == [("gt", "gt"), ("pred", "a")]
    assert shapes[1].label.startswith("A: ")


def test_parse_failed():
    assert parse_failed({"format_ok": False})
    assert parse_failed(None)
    assert not parse_failed({"answer": "x", "format_ok": True})
