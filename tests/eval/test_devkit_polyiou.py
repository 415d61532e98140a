"""The DOTA devkit's polygon IoU (quad_policy="devkit") for darts and bow-ties, the hull policy, quad shapes, and
what they do to mAP under each protocol. Hand values are derived in the comments; random cases are checked
against the reference loop's independent shapely form of the devkit's formula (benchmarks/reference_map.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from data_engine.boxes import obb_to_poly
from eval.geometry import BOWTIE, CONVEX, DART, quad_shape, rotated_iou, rotated_iou_pairs, rotated_iou_sparse
from eval.geometry import quad_kernels as qk
from eval.metrics.dota_map import dota_map

SQUARE = [0, 0, 10, 0, 10, 10, 0, 10]
# the square's corners in bow-tie order: edges (0,0)-(10,10) and (10,0)-(0,10) cross at (5,5); the left lobe
# (x < 5) is traversed counter-clockwise (winding +1), the right lobe clockwise (-1); net signed area 0
BOWTIE_SQ = [0, 0, 10, 10, 10, 0, 0, 10]
# a dart: reflex corner (2,2) inside the triangle (0,0),(10,0),(0,10); shoelace area (0 + 20 + 20 + 0) / 2 = 20
DART_Q = [0, 0, 10, 0, 2, 2, 0, 10]
HULL_TRI = [0, 0, 10, 0, 0, 10, 0, 10]  # its hull triangle (area 50) written as a quad with a repeated corner


def _reference():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "reference_map.py"
    spec = importlib.util.spec_from_file_location("reference_map", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bench_map():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_map.py"
    spec = importlib.util.spec_from_file_location("bench_map", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def iou(a, b, policy):
    return float(rotated_iou([a], [b], quad_policy=policy)[0, 0])


def test_dart_minimal_case():
    # devkit: the dart lies inside its hull triangle: inter 20, union 20 + 50 - 20 = 50 -> 0.4 (an FP at 0.5)
    assert iou(DART_Q, HULL_TRI, "devkit") == pytest.approx(0.4, abs=1e-15)
    assert iou(HULL_TRI, DART_Q, "devkit") == pytest.approx(0.4, abs=1e-15)
    # against the square (area 100), which contains it: 20 / 100
    assert iou(DART_Q, SQUARE, "devkit") == pytest.approx(0.2, abs=1e-15)
    # hull: the dart is read as the triangle itself
    assert iou(DART_Q, HULL_TRI, "hull") == pytest.approx(1.0, abs=1e-15)
    assert iou(DART_Q, DART_Q, "devkit") == pytest.approx(1.0, abs=1e-15)


def test_bowtie_minimal_cases():
    # inter = ∫ w_bow w_square = 25 (left lobe) - 25 (right lobe) = 0; union = |0| + 100 - 0 -> IoU 0
    assert iou(BOWTIE_SQ, SQUARE, "devkit") == 0.0
    assert iou(SQUARE, BOWTIE_SQ, "devkit") == 0.0
    assert iou(BOWTIE_SQ, SQUARE, "hull") == pytest.approx(1.0, abs=1e-15)
    # right half [5,10]x[0,10] (area 50) holds only the clockwise lobe: inter -25, union 0 + 50 + 25 -> -1/3
    assert iou(BOWTIE_SQ, [5, 0, 10, 0, 10, 10, 5, 10], "devkit") == pytest.approx(-1 / 3, abs=1e-15)
    # left half holds the counter-clockwise lobe: inter 25, union 50 - 25 -> 1
    assert iou(BOWTIE_SQ, [0, 0, 5, 0, 5, 10, 0, 10], "devkit") == pytest.approx(1.0, abs=1e-15)
    # with itself: inter ∫ w² = 50, union 0 + 0 - 50 -> -1
    assert iou(BOWTIE_SQ, BOWTIE_SQ, "devkit") == pytest.approx(-1.0, abs=1e-15)


def test_devkit_policy_matches_the_devkit_formula_on_random_quads():
    ref = _reference()
    rng = np.random.default_rng(7)
    n = 400
    a, b = rng.uniform(0, 20, (n, 8)), rng.uniform(0, 20, (n, 8))
    b[:40] = a[:40]  # identical
    b[40:80] = np.roll(a[40:80], 2, axis=1)  # same polygon, next corner first
    a[80:160] += 900.0  # far from the origin: the devkit's absolute-coordinate fan loses digits, we do not
    b[80:160] += 900.0
    kinds = np.maximum(quad_shape(a), quad_shape(b))
    assert (np.bincount(kinds, minlength=3) > 40).all()  # convex, dart and bow-tie pairs all exercised
    ours = rotated_iou_pairs(a, b, quad_policy="devkit")
    want = np.array([ref.devkit_polygon_iou(p, q) for p, q in zip(a, b, strict=True)])
    assert np.abs(ours - want).max() < 1e-9 * (1 + np.abs(want)).max()
    assert ours.min() < 0 and ours.max() > 0.5  # signed values really occur
    # the matrix and sparse forms agree with the pairwise form
    m = rotated_iou(a[:60], b[:60], quad_policy="devkit")
    np.testing.assert_allclose(np.diag(m), ours[:60], rtol=0, atol=1e-15)
    ia, ib, v = rotated_iou_sparse(a[:60], b[:60], quad_policy="devkit")
    np.testing.assert_allclose(v, m[ia, ib], rtol=0, atol=0)


def test_darts_are_measured_exactly():
    shapely = pytest.importorskip("shapely", reason="shapely measures simple polygons exactly")
    bench = _bench_map()
    rng = np.random.default_rng(8)
    n = 500
    o = np.c_[rng.uniform(0, 40, (n, 2)), rng.uniform(5, 30, (n, 2)), rng.uniform(-90, 90, n)]
    a = np.array([bench.dart(p) for p in obb_to_poly(o)])
    b = obb_to_poly(o + np.c_[rng.normal(0, 2, (n, 4)), rng.normal(0, 5, n)])
    assert (quad_shape(a) == DART).all()
    pa, pb = shapely.polygons(a.reshape(-1, 4, 2)), shapely.polygons(b.reshape(-1, 4, 2))
    inter = shapely.area(shapely.intersection(pa, pb))
    want = inter / (shapely.area(pa) + shapely.area(pb) - inter)
    assert (want > 0.2).mean() > 0.3
    assert np.abs(rotated_iou_pairs(a, b, quad_policy="devkit") - want).max() < 1e-10


def test_convex_quads_agree_under_both_policies():
    rng = np.random.default_rng(9)
    n = 2000
    o = np.c_[rng.uniform(0, 60, (n, 2)), rng.uniform(1, 30, (n, 2)), rng.uniform(-90, 90, n)]
    o2 = o + np.c_[rng.normal(0, 5, (n, 2)), rng.normal(0, 5, (n, 2)), rng.normal(0, 20, n)]
    o2[:, 2:4] = np.abs(o2[:, 2:4]) + 0.5
    a, b = obb_to_poly(o), obb_to_poly(o2)
    # every corner order a convex quad can be written in without crossing: 4 rotations x 2 orientations
    a = np.roll(a, 2 * rng.integers(0, 4), axis=1)
    b[: n // 2] = b[: n // 2].reshape(-1, 4, 2)[:, ::-1].reshape(-1, 8)
    b[n // 4 : n // 2] = a[n // 4 : n // 2]  # identical pairs: shared edges
    assert (quad_shape(np.r_[a, b]) == CONVEX).all()
    hull = rotated_iou_pairs(a, b, quad_policy="hull")
    devkit = rotated_iou_pairs(a, b, quad_policy="devkit")
    assert (hull > 0.3).mean() > 0.3
    assert np.abs(hull - devkit).max() <= 1e-12
    # and the winding-number path, forced onto the same convex pairs, agrees with the convex path
    pts, meta = qk.prepare(np.ascontiguousarray(np.r_[a, b].reshape(-1, 4, 2)), qk.DEVKIT)
    idx = np.arange(n)
    meta[qk.GENERAL] = 1.0
    winding = qk.iou_indexed(pts, meta, idx, idx + n)
    assert np.abs(winding - hull).max() <= 1e-12


def test_quad_shape():
    assert quad_shape([SQUARE, DART_Q, BOWTIE_SQ, HULL_TRI, [0] * 8]).tolist() == [CONVEX, DART, BOWTIE, CONVEX,
                                                                                   CONVEX]
    shapely = pytest.importorskip("shapely", reason="shapely tells simple polygons from self-intersecting ones")
    q = np.random.default_rng(10).uniform(0, 10, (20000, 8))
    simple = shapely.is_valid(shapely.polygons(q.reshape(-1, 4, 2)))
    np.testing.assert_array_equal(quad_shape(q) == BOWTIE, ~simple)


def test_quad_policy_is_checked():
    with pytest.raises(ValueError, match="quad_policy"):
        rotated_iou([SQUARE], [SQUARE], quad_policy="exact")
    with pytest.raises(ValueError, match="quad_policy"):
        rotated_iou_pairs(np.zeros((0, 8)), np.zeros((0, 8)), quad_policy="exact")
    g = [{"image_id": "a", "label": "p", "poly": SQUARE}]
    with pytest.raises(ValueError, match="dota_devkit"):
        dota_map(g, g, protocol="mmrotate", quad_policy="hull")
    with pytest.raises(ValueError, match="quad_policy"):
        dota_map(g, g, quad_policy="convex")


def _one(poly_gt, poly_det):
    return [{"image_id": "a", "label": "p", "poly": poly_det}], [{"image_id": "a", "label": "p", "poly": poly_gt}]


def test_map_under_each_protocol_for_darts_and_bowties():
    # dart GT, its hull triangle detected: devkit IoU 0.4 -> FP, AP 0; hull policy: IoU 1 -> AP 1
    d, g = _one(DART_Q, HULL_TRI)
    assert dota_map(d, g)["map"] == 0.0
    assert dota_map(d, g, quad_policy="hull")["map"] == pytest.approx(1.0, abs=1e-15)
    # square GT, its corners as a bow-tie: devkit IoU 0 -> AP 0; hull -> 1; mmrotate's minimum-area rectangle of
    # the four corners is the square whatever their order -> 1
    d, g = _one(SQUARE, BOWTIE_SQ)
    assert dota_map(d, g)["map"] == 0.0
    assert dota_map(d, g, quad_policy="hull")["map"] == pytest.approx(1.0, abs=1e-15)
    assert dota_map(d, g, protocol="mmrotate")["map"] == pytest.approx(1.0, abs=1e-6)
    # under mmrotate the dart GT and the triangle have the same hull, hence the same minimum-area rectangle: IoU 1
    d, g = _one(DART_Q, HULL_TRI)
    assert dota_map(d, g, protocol="mmrotate")["map"] == pytest.approx(1.0, abs=1e-6)


def test_dota_map_equals_the_devkit_style_loop_with_darts_and_bowties():
    pytest.importorskip("shapely", reason="the reference loop uses shapely polygon IoU")
    ref, bench = _reference(), _bench_map()
    dets, gts = bench.scene(np.random.default_rng(11), 20, 30, n_cls=4, malformed=0.1)
    ours, want = dota_map(dets, gts), ref.reference_map(dets, gts)
    for c in want["ap"]:
        assert ours["ap"][c] == pytest.approx(want["ap"][c], abs=1e-12)
    hull = dota_map(dets, gts, quad_policy="hull")["map"]
    assert hull > ours["map"] + 0.01  # the malformed quads really change the number


def test_hostile_coordinates_never_raise():
    # zero, denormal, huge, infinite and NaN corners (model output is hostile input): no ZeroDivisionError
    rng = np.random.default_rng(12)
    vals = np.array([0, 1, -1, 1e-320, 1e-160, 1e160, 1e300, -1e300, np.inf, -np.inf, np.nan, 5, 5.0000001])
    for _ in range(10):
        q = rng.choice(vals, (100, 8))
        q2 = np.where(rng.random((100, 8)) < 0.5, q, rng.uniform(-10, 10, (100, 8)))
        for policy in ("hull", "devkit"):
            for a, b in ((q, q2), (q2, q2), (q, q)):
                assert rotated_iou(a, b, quad_policy=policy).shape == (100, 100)
        assert quad_shape(q).shape == (100,)


def test_devkit_quirks_not_copied():
    # a class with ground truth but no detections: the devkit crashes reading its empty result file; here AP 0,
    # and it enters the devkit protocol's mean over all classes: (1 + 0) / 2
    g = [{"image_id": "a", "label": "p", "poly": SQUARE}, {"image_id": "a", "label": "q", "poly": SQUARE}]
    d = [{"image_id": "a", "label": "p", "poly": SQUARE}]
    r = dota_map(d, g)
    assert r["ap"] == {"p": pytest.approx(1.0, abs=1e-15), "q": 0.0} and r["map"] == pytest.approx(0.5, abs=1e-15)
    # a detection on an image outside the ground truth (the devkit: KeyError): a false positive, ranked first
    # here (score 0.9) -> precision 0 then 1/2 at recall 1 -> AP 0.5 for class p
    d = [{"image_id": "b", "label": "p", "poly": SQUARE, "score": 0.9}, {"image_id": "a", "label": "p",
                                                                           "poly": SQUARE, "score": 0.8}]
    assert dota_map(d, g)["ap"]["p"] == pytest.approx(0.5, abs=1e-15)
