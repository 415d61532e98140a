"""Box conversions, exact rotated IoU, NMS and patch merging: hand-derived values and shapely equality."""

from __future__ import annotations

import numpy as np
import pytest

from data_engine.boxes import (
    hbb_to_poly,
    obb_to_poly,
    order_poly_vertices,
    poly_area,
    poly_to_hbb,
    poly_to_obb,
    wrap_angle_deg,
)
from data_engine.errors import UserError
from eval.geometry import hbb_iou, merge_patches, parse_patch_id, rotated_iou, rotated_iou_pairs, rotated_nms

UNIT = [0, 0, 1, 0, 1, 1, 0, 1]


def sq(x0, y0, s=1.0):
    return [x0, y0, x0 + s, y0, x0 + s, y0 + s, x0, y0 + s]


# ---------------------------------------------------------------- data_engine.boxes


def test_hbb_poly_round_trip_and_order():
    p = hbb_to_poly([[1, 2, 5, 7]])
    # clockwise on screen from the top-left corner
    np.testing.assert_array_equal(p, [[1, 2, 5, 2, 5, 7, 1, 7]])
    np.testing.assert_array_equal(poly_to_hbb(p), [[1, 2, 5, 7]])


def test_poly_area_shoelace():
    # triangle-free check: 4x3 rectangle = 12, a unit square = 1
    np.testing.assert_allclose(poly_area([[0, 0, 4, 0, 4, 3, 0, 3], UNIT]), [12.0, 1.0], rtol=0, atol=1e-12)


def test_obb_to_poly_known_corners():
    # w=4, h=2 centred at (10, 20) turned +90 deg (clockwise on screen, y down): the w side points along +y,
    # so corners (-2,-1),(2,-1),(2,1),(-2,1) map to (x - y', ...) = (11,18),(11,22),(9,22),(9,18)
    p = obb_to_poly([[10, 20, 4, 2, 90]])
    np.testing.assert_allclose(p, [[11, 18, 11, 22, 9, 22, 9, 18]], atol=1e-12)


def test_poly_to_obb_convention():
    # horizontal 4x2 rectangle: w=4 along x, angle 0
    np.testing.assert_allclose(poly_to_obb([[0, 0, 4, 0, 4, 2, 0, 2]]), [[2, 1, 4, 2, 0]], atol=1e-12)
    # vertical 2x4 rectangle: long side along y -> w=4, angle 90 wrapped to -90
    np.testing.assert_allclose(poly_to_obb([[0, 0, 2, 0, 2, 4, 0, 4]]), [[1, 2, 4, 2, -90]], atol=1e-12)
    # positive angle = clockwise on screen: the w side from (0,0) towards (3,3)*k has angle +45
    o = poly_to_obb(obb_to_poly([[50, 60, 10, 2, 45]]))
    np.testing.assert_allclose(o, [[50, 60, 10, 2, 45]], atol=1e-9)
    # a square reports the side whose angle lies in [-45, 45): 60 deg square -> -30
    np.testing.assert_allclose(poly_to_obb(obb_to_poly([[0, 0, 3, 3, 60]])), [[0, 0, 3, 3, -30]], atol=1e-9)


def test_poly_to_obb_round_trip_random():
    rng = np.random.default_rng(0)
    o = np.c_[rng.uniform(0, 1000, (200, 2)), rng.uniform(5, 50, (200, 2)), rng.uniform(-90, 90, 200)]
    back = poly_to_obb(obb_to_poly(o))
    # same rectangle: compare with w >= h normalisation applied to the input
    swap = o[:, 2] < o[:, 3]
    exp = o.copy()
    exp[swap, 2], exp[swap, 3] = o[swap, 3], o[swap, 2]
    exp[:, 4] = wrap_angle_deg(np.where(swap, o[:, 4] + 90, o[:, 4]))
    np.testing.assert_allclose(back[:, :4], exp[:, :4], atol=1e-9)
    d = np.abs(wrap_angle_deg(back[:, 4] - exp[:, 4]))
    assert d.max() < 1e-7


def test_poly_to_obb_min_area_of_a_parallelogram():
    # parallelogram (0,0),(4,0),(5,1),(1,1). Along the horizontal edge: x in [0,5], y in [0,1] -> area 5.
    # Along the slanted edge u=(1,1)/sqrt2: u-extent 6/sqrt2, v-extent 4/sqrt2 -> area 12. Minimum: horizontal.
    o = poly_to_obb([[0, 0, 4, 0, 5, 1, 1, 1]])
    np.testing.assert_allclose(o, [[2.5, 0.5, 5, 1, 0]], atol=1e-12)


def test_order_poly_vertices_rscovlm():
    # scrambled unit square: start at min (y, x) = (0, 0), then clockwise on screen (y down): (1,0),(1,1),(0,1)
    np.testing.assert_array_equal(order_poly_vertices([[1, 1, 0, 0, 0, 1, 1, 0]]), [UNIT])
    # diamond: top vertex (min y) first, then right, bottom, left
    np.testing.assert_array_equal(order_poly_vertices([[0, 1, 1, 2, 2, 1, 1, 0]]), [[1, 0, 2, 1, 1, 2, 0, 1]])


# ---------------------------------------------------------------- IoU by hand


def test_iou_half_offset_squares_is_one_third():
    # overlap 0.5 x 1 = 0.5, union 2 - 0.5 = 1.5 -> 1/3
    v = rotated_iou([UNIT], [sq(0.5, 0)])[0, 0]
    assert abs(v - 1 / 3) < 1e-15


def test_iou_rotated_square_in_its_hbb_is_half():
    # square of side sqrt2 turned 45 deg has its corners on the midpoints of the 2x2 HBB: area 2 / 4
    diamond = [[1, 0, 2, 1, 1, 2, 0, 1]]
    assert abs(rotated_iou(diamond, [sq(0, 0, 2)])[0, 0] - 0.5) < 1e-15


def test_iou_identical_nested_touching_disjoint():
    big, small = sq(0, 0, 4), sq(1, 1, 2)
    m = rotated_iou([UNIT, big], [UNIT, small, sq(1, 0), sq(5, 5)])
    # identical 1; unit square vs small (1..3) touch at a corner -> 0; touching edge -> 0; disjoint -> 0
    # big contains small: 4/16; big vs touching square sq(1,0) inside big: 1/16; big vs sq(5,5): 0
    exp = [[1, 0, 0, 0], [1 / 16, 4 / 16, 1 / 16, 0]]
    np.testing.assert_allclose(m, exp, rtol=0, atol=1e-15)


def test_iou_zero_area_is_zero():
    line = [0, 0, 1, 1, 2, 2, 3, 3]
    point = [1, 1] * 4
    flat = [0, 0, 2, 0, 2, 0, 0, 0]
    m = rotated_iou([line, point, flat, UNIT], [line, point, flat, UNIT])
    exp = np.zeros((4, 4))
    exp[3, 3] = 1.0
    np.testing.assert_array_equal(m, exp)


def test_iou_same_box_written_two_ways_is_one():
    rng = np.random.default_rng(1)
    o = np.c_[rng.uniform(0, 5000, (2000, 2)), rng.uniform(1, 300, (2000, 2)), rng.uniform(-180, 180, 2000)]
    o2 = o[:, [0, 1, 3, 2, 4]].copy()
    o2[:, 4] += 90.0  # (w, h, a) == (h, w, a + 90)
    v = rotated_iou_pairs(obb_to_poly(o), obb_to_poly(o2))
    assert np.abs(v - 1).max() < 1e-9


def test_bow_tie_policy_convex_hull():
    # unit square written in bow-tie order (0,0),(1,1),(1,0),(0,1) is read as the square
    bow = [0, 0, 1, 1, 1, 0, 0, 1]
    assert abs(rotated_iou([bow], [UNIT])[0, 0] - 1.0) < 1e-15
    # dart (0,0),(2,0),(1,0.5),(1,2)... reflex vertex (1, 0.5) inside the triangle (0,0),(2,0),(1,2):
    # read as the triangle, area 2; vs the 2x2 square (area 4) the IoU is 2/4
    dart = [0, 0, 2, 0, 1, 0.5, 1, 2]
    tri_vs_sq = rotated_iou([dart], [sq(0, 0, 2)])[0, 0]
    assert abs(tri_vs_sq - 0.5) < 1e-15


def test_rotated_iou_matches_shapely_random():
    shapely = pytest.importorskip("shapely", reason="shapely is the reference polygon IoU")
    rng = np.random.default_rng(2)
    n = 3000
    a = obb_to_poly(np.c_[rng.uniform(0, 30, (n, 2)), rng.uniform(1, 20, (n, 2)), rng.uniform(-90, 90, n)])
    b = obb_to_poly(np.c_[rng.uniform(0, 30, (n, 2)), rng.uniform(1, 20, (n, 2)), rng.uniform(-90, 90, n)])
    ours = rotated_iou_pairs(a, b)
    pa, pb = shapely.polygons(a.reshape(-1, 4, 2)), shapely.polygons(b.reshape(-1, 4, 2))
    inter = shapely.area(shapely.intersection(pa, pb))
    ref = inter / (shapely.area(pa) + shapely.area(pb) - inter)
    assert (ref > 0).mean() > 0.3  # the sample really exercises overlaps
    assert np.abs(ours - ref).max() < 1e-10
    # matrix form agrees with the pairwise form on the diagonal
    np.testing.assert_allclose(np.diag(rotated_iou(a[:300], b[:300])), ours[:300], rtol=0, atol=1e-15)


def test_hbb_iou():
    # [0,0,2,2] vs [1,1,3,3]: 1 / (4 + 4 - 1) = 1/7; vs itself 1; empty box vs empty box 0
    m = hbb_iou([[0, 0, 2, 2], [5, 5, 5, 5]], [[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 5, 5]])
    np.testing.assert_allclose(m, [[1 / 7, 1, 0], [0, 0, 0]], rtol=0, atol=1e-15)


# ---------------------------------------------------------------- NMS and patch merge


def test_rotated_nms_greedy_and_ties():
    boxes = [sq(0, 0, 2), sq(0.1, 0, 2), sq(5, 5), sq(0.5, 0, 2)]
    # IoU(box0, box3) = 1.5*2 / (8 - 3) = 0.6; IoU(box0, box1) = 1.9*2/(8-3.8) = 0.905
    keep = rotated_nms(boxes, [0.9, 0.8, 0.7, 0.95], iou_thr=0.5)
    # box3 (0.95) first; box0 IoU 0.6 > 0.5 suppressed; box1 vs box3: 1.6*2/(8-3.2)=0.667 suppressed; box2 kept
    np.testing.assert_array_equal(keep, [3, 2])
    # threshold 0.6: IoU exactly 0.6 is not > 0.6, so box0 survives box3
    keep = rotated_nms(boxes, [0.9, 0.8, 0.7, 0.95], iou_thr=0.6)
    assert 0 in keep.tolist()
    # equal scores keep input order
    np.testing.assert_array_equal(rotated_nms([UNIT, sq(5, 5)], [1.0, 1.0], 0.5), [0, 1])


def test_parse_patch_id():
    assert parse_patch_id("P0003__1024__824___0") == ("P0003", 824.0, 0.0)
    assert parse_patch_id("my_img__1.0__0___1648") == ("my_img", 0.0, 1648.0)
    with pytest.raises(UserError):
        parse_patch_id("P0003")


def test_merge_patches_shift_group_nms():
    dets = [
        {"image_id": "P1__1024__0___0", "label": "plane", "poly": sq(900, 10, 100), "score": 0.9},
        # the same object seen from the next patch (offset 824): 76 px into that patch, lower score
        {"image_id": "P1__1024__824___0", "label": "plane", "poly": sq(76, 10, 100), "score": 0.8},
        {"image_id": "P1__1024__824___0", "label": "ship", "poly": sq(76, 10, 100)},
        {"image_id": "P2__1024__0___824", "label": "plane", "poly": sq(0, 0, 10), "score": 0.5},
    ]
    out = merge_patches(dets, iou_thr=0.1)
    got = sorted((d["image_id"], d["label"], tuple(d["poly"]), d["score"]) for d in out)
    exp = sorted(
        [
            ("P1", "plane", tuple(sq(900, 10, 100)), 0.9),  # duplicate suppressed (IoU 1 > 0.1)
            ("P1", "ship", tuple(sq(900, 10, 100)), 1.0),  # other class untouched, missing score = 1.0
            ("P2", "plane", tuple(sq(0, 824, 10)), 0.5),  # shifted by (0, 824)
        ]
    )
    assert got == exp
