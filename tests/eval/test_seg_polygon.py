"""seg_polygon mask answers (docs/formats.md §7): hand cases, render -> parse within a hand-derived IoU bound on
rectangles, rotated rectangles and their unions for both families and random sizes, the exact grammar, and hostile
strings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mu

from data_engine.errors import UserError
from data_engine.families import get_family
from data_engine.frames import Frame
from data_engine.masks import decode_mask, encode_mask, mask_iou
from data_engine.resize import smart_resize
from data_engine.seg_answers import NO_MASK_ANSWER
from data_engine.seg_polygons import (
    MAX_VERTICES,
    SIMPLIFY_PIXELS,
    SIMPLIFY_TOLERANCE,
    format_seg_polygon,
    mask_to_polygons,
)
from eval.parsers import parse
from eval.parsers.segmentation import parse_segmentation, read_seg_polygon

POLY = "seg_polygon"


def _frame(family: str, w: int, h: int, max_pixels: int = 448 * 448) -> Frame:
    fam = get_family(family)
    rh, rw = smart_resize(h, w, fam.factor, 4 * fam.factor ** 2, max_pixels)
    return Frame.for_family(fam.coord_frame, w, h, rw, rh, fam.factor)


def _roundtrip(mask: np.ndarray, frame: Frame) -> tuple[str, dict]:
    rle = encode_mask(mask)
    text = format_seg_polygon(rle, frame)
    pred = parse("referring_segmentation", text, frame=frame, mask_format=POLY)
    assert pred["format_ok"] and not pred["empty"], text
    assert pred["mask"]["size"] == [mask.shape[0], mask.shape[1]]
    return text, pred


def _boundary_length(mask: np.ndarray) -> int:
    """Pixel edges between on and off (the image border counts as off): the length of the mask's boundary."""
    m = np.pad(mask.astype(np.int8), 1)
    return int(np.abs(np.diff(m, axis=0)).sum() + np.abs(np.diff(m, axis=1)).sum())


def _tube_bound(mask: np.ndarray, frame: Frame) -> float:
    """Lower bound on the round trip's IoU. Every boundary point moves at most e = (T + 0.5) / s + 1 original pixels:
    the Douglas-Peucker tolerance T = max(SIMPLIFY_TOLERANCE, SIMPLIFY_PIXELS * max(sx, sy)) model units and integer
    rounding (half a unit), at s = min(sx, sy) model units per pixel, plus one pixel of rasterisation. So the
    symmetric difference lies in the e-tube around the boundary of length L: area <= 2 e L + pi e^2, and
    IoU >= 1 - that / |A|."""
    sx, sy = frame.scale
    t = max(SIMPLIFY_TOLERANCE, SIMPLIFY_PIXELS * max(sx, sy))
    e = (t + 0.5) / min(sx, sy) + 1
    return 1 - (2 * e * _boundary_length(mask) + math.pi * e * e) / mask.sum()


# ------------------------------------------------------------------------------------------------ hand cases
def test_a_rectangle_at_one_model_unit_per_pixel_is_its_four_corners():
    f = _frame("qwen2_5_vl", 224, 224)  # shown at 224: Qwen2.5-VL's frame is the original pixels
    assert f.scale == (1.0, 1.0)
    m = np.zeros((224, 224), bool)
    m[10:40, 20:90] = True  # pixel edges x 20..90, y 10..40
    text, pred = _roundtrip(m, f)
    assert text == "20,10,90,10,90,40,20,40"  # clockwise on screen from the smallest (y, x) vertex
    assert np.array_equal(decode_mask(pred["mask"]), m)


def test_qwen3_writes_the_0_1000_grid_and_several_parts_one_line_each():
    f = _frame("qwen3_vl", 200, 100)
    m = np.zeros((100, 200), bool)
    m[0:50, 0:100] = True
    m[60:100, 150:200] = True
    text, pred = _roundtrip(m, f)
    assert text == "0,0,500,0,500,500,0,500\n750,600,1000,600,1000,1000,750,1000"
    assert np.array_equal(decode_mask(pred["mask"]), m)


def test_a_hole_is_cut_into_hole_free_pieces_that_rasterise_back_exactly():
    f = _frame("qwen2_5_vl", 224, 224)
    m = np.zeros((224, 224), bool)
    m[20:120, 30:150] = True
    m[50:80, 60:100] = False  # a hole: polygon lines cannot hold one
    text, pred = _roundtrip(m, f)
    assert text.count("\n") >= 1
    assert np.array_equal(decode_mask(pred["mask"]), m)


def test_empty_target_is_there_is_none_and_a_collapsing_mask_its_box():
    f = _frame("qwen2_5_vl", 700, 700)  # shown smaller than the original: 1 model unit ~ 1.56 px
    assert format_seg_polygon(encode_mask(np.zeros((700, 700))), f) == NO_MASK_ANSWER
    assert format_seg_polygon(None, f) == NO_MASK_ANSWER
    p = parse_segmentation(NO_MASK_ANSWER, frame=f, mask_format=POLY)
    assert p["format_ok"] and p["empty"] and p["mask"] is None
    m = np.zeros((700, 700), bool)
    m[100, 100] = True  # one pixel: collapses at integer resolution, written as its box grown to one unit
    rings = mask_to_polygons(encode_mask(m), f)
    assert len(rings) == 1 and len(rings[0]) == 4
    x0, y0 = rings[0].min(axis=0)
    x1, y1 = rings[0].max(axis=0)
    sx = f.scale[0]
    assert x1 - x0 >= 1 and y1 - y0 >= 1 and x0 <= 100 * sx and x1 >= 101 * sx
    out = parse_segmentation(format_seg_polygon(encode_mask(m), f), frame=f, mask_format=POLY)
    assert out["format_ok"] and decode_mask(out["mask"])[100, 100]


def test_a_mask_of_another_size_than_the_frame_is_a_clean_error():
    with pytest.raises(UserError, match="mask is 10x10"):
        format_seg_polygon(encode_mask(np.ones((10, 10))), _frame("qwen2_5_vl", 224, 224))


def test_many_parts_respect_the_vertex_cap():
    f = _frame("qwen3_vl", 400, 400)
    m = np.zeros((400, 400), bool)
    m[::6, ::6] = True
    m[1::6, ::6] = True  # ~4 400 tiny parts
    rings = mask_to_polygons(encode_mask(m), f)
    assert 0 < sum(len(r) for r in rings) <= MAX_VERTICES
    assert parse_segmentation(format_seg_polygon(encode_mask(m), f), frame=f, mask_format=POLY)["format_ok"]


# ------------------------------------------------------------------------------------------------ round trips
def _rect(h, w, draw):
    x0, x1 = sorted(draw(st.lists(st.integers(0, w), min_size=2, max_size=2, unique=True)))
    y0, y1 = sorted(draw(st.lists(st.integers(0, h), min_size=2, max_size=2, unique=True)))
    return x0, y0, x1, y1


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(family=st.sampled_from(["qwen2_5_vl", "qwen3_vl"]), w=st.integers(40, 700), h=st.integers(40, 700),
       n=st.integers(1, 3), data=st.data())
def test_rectangles_and_their_unions_come_back_within_the_bound(family, w, h, n, data):
    frame = _frame(family, w, h, max_pixels=max(w * h, 64 * 64))
    m = np.zeros((h, w), bool)
    for _ in range(n):
        x0, y0, x1, y1 = _rect(h, w, data.draw)
        m[y0:y1, x0:x1] = True
    _, pred = _roundtrip(m, frame)
    iou = mask_iou(pred["mask"], encode_mask(m))
    if n == 1:  # one rectangle: only its four edges move, each by at most e = 0.5 / s + 1 pixels
        ys, xs = np.nonzero(m)
        bw, bh = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
        ex, ey = 0.5 / frame.scale[0] + 1, 0.5 / frame.scale[1] + 1
        bound = max(0.0, bw - 2 * ex) * max(0.0, bh - 2 * ey) / ((bw + 2 * ex) * (bh + 2 * ey))
        assert iou >= bound
    assert iou >= _tube_bound(m, frame)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(family=st.sampled_from(["qwen2_5_vl", "qwen3_vl"]), w=st.integers(80, 600), h=st.integers(80, 600),
       n=st.integers(1, 2), data=st.data())
def test_rotated_rectangles_and_their_unions_come_back_within_the_bound(family, w, h, n, data):
    frame = _frame(family, w, h, max_pixels=max(w * h, 64 * 64))
    polys = []
    for _ in range(n):
        cx, cy = data.draw(st.floats(0.2 * w, 0.8 * w)), data.draw(st.floats(0.2 * h, 0.8 * h))
        a, b = data.draw(st.floats(8, 0.3 * min(w, h))), data.draw(st.floats(8, 0.3 * min(w, h)))
        t = data.draw(st.floats(0, math.pi))
        c, s = math.cos(t), math.sin(t)
        pts = [(cx + u * a * c - v * b * s, cy + u * a * s + v * b * c) for u, v in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        polys.append([float(q) for p in pts for q in p])
    m = mu.decode(mu.merge(mu.frPyObjects(polys, h, w))).astype(bool)  # the masks pycocotools itself draws
    _, pred = _roundtrip(m, frame)
    assert mask_iou(pred["mask"], encode_mask(m)) >= _tube_bound(m, frame)


# ------------------------------------------------------------------------------------------------ the grammar
_F = Frame("absolute", 100, 100, 112, 112, 4, 4)


@pytest.mark.parametrize("text", [
    "", "1,2,3,4", "1,2,3,4,5", "1,2,3,4,5,6,7", "01,2,3,4,5,6", "1, 2,3,4,5,6", "1,2,3,4,5,6 ship",
    "-1,2,3,4,5,6", "1.5,2,3,4,5,6", "1,2,3,4,5,6\n\n1,2,3,4,5,6", "1,2,3,4,5,6;1,2,3,4,5,6", "1,2,3,4,5,113",
    "113,2,3,4,5,6", "<seg>1,2,3,4,5,6</seg>", "<seg>0*4;0*4;0*4;0*4</seg>", "There are none.", "there is none.",
    "1,2,3,4,5,6,", ",1,2,3,4,5,6", ",".join(["1"] * (2 * MAX_VERTICES + 2)), "1,2,3,4,5,6\x00", "１,2,3,4,5,6",
])
def test_the_parser_rejects_anything_the_renderer_does_not_write(text):
    assert read_seg_polygon(text, _F) == ("malformed", None)
    out = parse_segmentation(text, frame=_F, mask_format=POLY)
    assert not out["format_ok"] and out["mask"] is None


def test_wrappers_and_whitespace_are_ignored_and_no_frame_is_malformed():
    ok = parse_segmentation("<answer>\n0,0,112,0,112,112\n</answer>", frame=_F, mask_format=POLY)
    assert ok["format_ok"] and 4900 <= int(mu.area(dict(ok["mask"], counts=ok["mask"]["counts"].encode()))) <= 5100
    assert read_seg_polygon("0,0,10,0,10,10", None) == ("malformed", None)
    # the grid answer is not a polygon answer, nor the reverse
    assert not parse_segmentation("0,0,10,0,10,10", frame=_F)["format_ok"]


def test_hostile_inputs_never_raise():
    for text in [None, 3, ["1,2"], "1," * 1_000_000, "9" * 5_000_000, "1,2,3,4,5,6\n" * 10**5, "\ud800",
                 ",".join(["9999999"] * 12), "0,0,0,0,0,0", "112,112,112,112,112,112"]:
        out = parse_segmentation(text, frame=_F, mask_format=POLY)
        assert isinstance(out, dict) and isinstance(out["format_ok"], bool)


_ALPHABET = ["0", "1", "7", "112", "113", ",", "\n", " ", "-", ".", "There is none.", "<seg>", "</seg>", "x"]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(_ALPHABET), max_size=60).map("".join))
def test_random_strings_never_raise_and_a_parsed_mask_fits_the_image(text):
    out = parse_segmentation(text, frame=_F, mask_format=POLY)
    assert isinstance(out["format_ok"], bool)
    if out["mask"] is not None:
        assert out["format_ok"] and out["mask"]["size"] == [100, 100]


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(_ALPHABET), max_size=200).map("".join))
def test_random_strings_never_raise_10k(text):
    test_random_strings_never_raise_and_a_parsed_mask_fits_the_image.hypothesis.inner_test(text)
