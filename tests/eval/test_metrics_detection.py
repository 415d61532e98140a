"""Detection metrics: AP by hand, protocol differences, ties, mAP_nc, mF1, COCO, reference equality."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

from data_engine.boxes import obb_to_poly
from eval.metrics.ap import ELEVEN_POINTS, area_ap, eleven_point_ap
from eval.metrics.dota_map import dota_map, dota_map_tie_spread
from eval.metrics.vlm_detection import confusion_matrix, map_nc, mean_f1, select_nc_threshold


def sq(x0, y0, s=10.0):
    return [x0, y0, x0 + s, y0, x0 + s, y0 + s, x0, y0 + s]


def gt(image, label, poly, difficult=0):
    return {"image_id": image, "label": label, "poly": poly, "difficult": difficult}


def det(image, label, poly, score=None):
    d = {"image_id": image, "label": label, "poly": poly}
    if score is not None:
        d["score"] = score
    return d


# ranked list: TP (0.9), FP (0.8), TP (0.7) against 2 GT -> recall [.5, .5, 1], precision [1, .5, 2/3]
GTS = [gt("a", "plane", sq(0, 0)), gt("a", "plane", sq(20, 0))]
DETS = [det("a", "plane", sq(0, 0), 0.9), det("a", "plane", sq(50, 50), 0.8), det("a", "plane", sq(20, 0), 0.7)]


def test_thresholds_are_i_times_point_one():
    # the devkit's np.arange(0., 1.1, 0.1): t3 is 0.30000000000000004, not 0.3
    np.testing.assert_array_equal(ELEVEN_POINTS, np.arange(0.0, 1.1, 0.1))
    assert ELEVEN_POINTS[3] > 0.3
    # recall exactly 0.3 reaches t = 0, 0.1, 0.2 only: 3/11 (with i/10 it would be 4/11)
    assert eleven_point_ap(np.array([0.3]), np.array([1.0])) == pytest.approx(3 / 11, abs=1e-15)


def test_eleven_point_ap_by_hand():
    # t = 0..0.5 (6 points): max precision at recall >= t is 1; t = 0.6..1 (5 points): 2/3 -> (6 + 10/3)/11
    r = dota_map(DETS, GTS)
    assert r["map"] == pytest.approx(28 / 33, abs=1e-15)
    assert r["ap"]["plane"] == pytest.approx(28 / 33, abs=1e-15)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == 1.0


def test_area_ap_by_hand():
    # envelope precision: 1 up to recall .5, 2/3 up to recall 1 -> .5 * 1 + .5 * 2/3 = 5/6
    assert dota_map(DETS, GTS, ap_mode="area")["map"] == pytest.approx(5 / 6, abs=1e-15)
    assert area_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(5 / 6, abs=1e-15)


def test_devkit_strict_vs_mmrotate_inclusive_at_iou_half():
    # det [0,0]-[10,5] inside GT [0,0]-[10,10]: IoU = 50 / 100 = 0.5 exactly
    half = [0, 0, 10, 0, 10, 5, 0, 5]
    g = [gt("a", "ship", sq(0, 0))]
    d = [det("a", "ship", half, 0.9)]
    assert dota_map(d, g, protocol="dota_devkit")["map"] == pytest.approx(0.0, abs=1e-12)  # 0.5 > 0.5 is false -> FP
    assert dota_map(d, g, protocol="mmrotate")["map"] == pytest.approx(1.0, abs=1e-12)  # 0.5 >= 0.5 -> TP


def test_difficult_handling():
    g = [gt("a", "car", sq(0, 0), difficult=1), gt("a", "car", sq(20, 0))]
    only_easy = [det("a", "car", sq(20, 0), 0.9)]
    # devkit: the difficult GT is not a positive -> recall 1 -> AP 1
    assert dota_map(only_easy, g)["map"] == pytest.approx(1.0, abs=1e-12)
    assert dota_map(only_easy, g)["num_gt"]["car"] == 1
    # mmrotate: difficult counts -> recall .5 -> 6/11
    assert dota_map(only_easy, g, protocol="mmrotate")["map"] == pytest.approx(6 / 11, abs=1e-7)
    # a detection on the difficult GT ranked first is neither TP nor FP under the devkit:
    # tp=[0,1], fp=[0,0] -> recall [0, 1], precision [0, 1] -> AP 1
    both = [det("a", "car", sq(0, 0), 0.95)] + only_easy
    assert dota_map(both, g)["map"] == pytest.approx(1.0, abs=1e-12)
    assert dota_map(both, g)["precision"] == pytest.approx(1.0, abs=1e-12)


def test_duplicates_are_false_positives_and_no_reassignment():
    # d1 (0.9) takes GT0; d2 (0.8) has GT0 as argmax too (IoU .9 vs .1) -> duplicate FP, not re-assigned to GT1
    g = [gt("a", "p", sq(0, 0)), gt("a", "p", sq(9, 0))]
    d = [det("a", "p", sq(0, 0), 0.9), det("a", "p", sq(0.5, 0), 0.8)]
    r = dota_map(d, g)
    # tp=[1,0], recall [.5,.5], precision [1,.5] -> 6/11
    assert r["map"] == pytest.approx(6 / 11, abs=1e-15)


def test_class_averaging_protocols():
    g = [gt("a", "plane", sq(0, 0))]
    d = [det("a", "plane", sq(0, 0), 0.9), det("a", "ship", sq(40, 40), 0.5)]
    # devkit: mean over all classes, ship has no positives -> AP 0 -> (1 + 0) / 2
    assert dota_map(d, g)["map"] == pytest.approx(0.5, abs=1e-12)
    # mmrotate: only classes with GT -> 1
    assert dota_map(d, g, protocol="mmrotate")["map"] == pytest.approx(1.0, abs=1e-12)


def test_ties_keep_emitted_order_and_spread():
    g = [gt("a", "p", sq(0, 0))]
    fp_first = [det("a", "p", sq(50, 50)), det("a", "p", sq(0, 0))]
    # FP then TP: recall [0, 1], precision [0, .5] -> every threshold sees .5 -> AP .5
    assert dota_map(fp_first, g)["map"] == pytest.approx(0.5, abs=1e-12)
    # TP then FP: AP 1
    assert dota_map(fp_first[::-1], g)["map"] == pytest.approx(1.0, abs=1e-12)
    s = dota_map_tie_spread(fp_first, g, n_orders=20, seed=0)
    assert s["map_emitted"] == pytest.approx(0.5, abs=1e-12)
    assert s["map_min"] == pytest.approx(0.5, abs=1e-12)
    assert s["map_max"] == pytest.approx(1.0, abs=1e-12)
    assert 0.5 < s["map_mean"] < 1.0 and s["map_std"] > 0


def _reference_map():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "reference_map.py"
    spec = importlib.util.spec_from_file_location("reference_map", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.reference_map


def random_scene(rng, n_img=12, n_obj=15, n_cls=4):
    gts, dets = [], []
    for i in range(n_img):
        o = np.c_[rng.uniform(0, 300, (n_obj, 2)), rng.uniform(10, 60, (n_obj, 2)), rng.uniform(-90, 90, n_obj)]
        lab = rng.integers(0, n_cls, n_obj)
        for k, p in enumerate(obb_to_poly(o)):
            gts.append(gt(f"im{i}", f"c{lab[k]}", p.tolist(), int(rng.random() < 0.15)))
        jitter = np.c_[rng.normal(0, 4, (n_obj, 2)), rng.normal(0, 4, (n_obj, 2)), rng.normal(0, 8, n_obj)]
        o2 = o + jitter
        o2[:, 2:4] = np.abs(o2[:, 2:4]) + 1
        lab2 = np.where(rng.random(n_obj) < 0.85, lab, rng.integers(0, n_cls, n_obj))
        for k, p in enumerate(obb_to_poly(o2)):
            # coarse scores create many ties: both sides must keep input order
            dets.append(det(f"im{i}", f"c{lab2[k]}", p.tolist(), float(np.round(rng.random(), 1))))
    return dets, gts


def test_dota_map_equals_plain_loop_reference():
    pytest.importorskip("shapely", reason="the reference loop uses shapely polygon IoU")
    reference_map = _reference_map()
    dets, gts = random_scene(np.random.default_rng(3))
    ours, ref = dota_map(dets, gts), reference_map(dets, gts)
    assert abs(ours["map"] - ref["map"]) < 1e-12
    for c in ref["ap"]:
        assert abs(ours["ap"][c] - ref["ap"][c]) < 1e-12
    assert 0.2 < ours["map"] < 0.95  # not a degenerate sample


def test_map_nc_ignores_scores():
    g = [gt("a", "p", sq(0, 0))]
    d = [det("a", "p", sq(0, 0), 0.2), det("a", "p", sq(50, 50), 0.9)]
    # scored (mmrotate): FP ranked first -> AP .5; nc: all 1.0, emission order TP first -> AP 1
    assert dota_map(d, g, protocol="mmrotate")["map"] == pytest.approx(0.5, abs=1e-7)
    assert map_nc(d, g)["map_nc"] == pytest.approx(1.0, abs=1e-12)
    # threshold 0.5 keeps only the FP (score > t) -> 0
    assert map_nc(d, g, score_threshold=0.5)["map_nc"] == pytest.approx(0.0, abs=1e-12)
    sel = select_nc_threshold(d, g, thresholds=(0.0, 0.5))
    assert sel["threshold"] == 0.0
    assert sel["by_threshold"] == pytest.approx({0.0: 1.0, 0.5: 0.0}, abs=1e-12)


def test_mean_f1_by_hand():
    g = [gt("a", "A", sq(0, 0)), gt("a", "B", sq(30, 0))]
    d = [det("a", "A", sq(0, 0)), det("a", "A", sq(30, 0)), det("a", "B", sq(80, 80))]
    cm = confusion_matrix(d, g, ["A", "B"])
    # rows GT (A, B, bg), cols pred (A, B, bg): A on A; A on the B GT; B on background; B GT missed
    np.testing.assert_array_equal(cm, [[1, 0, 0], [1, 0, 1], [0, 1, 0]])
    r = mean_f1(d, g)
    # precision [1/2, 0, 0], recall [1, 0, 0] over C+1 = 3 rows: mP 1/6, mR 1/3, F1 = 2*(1/18)/(1/2) = 2/9
    assert r["mean_precision"] == pytest.approx(1 / 6, abs=1e-15)
    assert r["mean_recall"] == pytest.approx(1 / 3, abs=1e-15)
    assert r["mf1"] == pytest.approx(2 / 9, abs=1e-15)


def test_mean_f1_class_list_follows_lmmrotate():
    # GT: A found, B missed. Rows with classes (A, B): A p=r=1, B 0, background 0 -> mP = mR = 1/3, mF1 1/3
    g = [gt("a", "A", sq(0, 0)), gt("a", "B", sq(30, 0))]
    d = [det("a", "A", sq(0, 0)), det("a", "C", sq(80, 80))]
    r = mean_f1(d, g)  # default: the sorted GT labels; the C detection is outside them
    assert r["classes"] == ["A", "B"] and r["n_ignored"] == 1
    assert r["mf1"] == pytest.approx(1 / 3, abs=1e-15)
    # LMMRotate's C = max GT id + 1: C after the last class with GT is not evaluated ...
    r = mean_f1(d, g, classes=["A", "B", "C"])
    assert r["classes"] == ["A", "B"] and r["n_ignored"] == 1 and r["mf1"] == pytest.approx(1 / 3, abs=1e-15)
    # ... but a class before it stays in the mean even without GT: its row has TP 0 (the C detection is now
    # evaluated, on background): 4 rows, A's precision 1, recall 1 -> mP = mR = 1/4
    r = mean_f1(d, g, classes=["C", "A", "B"])
    assert r["classes"] == ["C", "A", "B"] and r["n_ignored"] == 0
    assert r["mf1"] == pytest.approx(1 / 4, abs=1e-15)


def test_coco_hbb_metrics_by_hand_and_vs_summarize():
    pytest.importorskip("pycocotools", reason="COCO protocol runs through pycocotools")
    from eval.metrics.coco_detection import coco_hbb_metrics

    g = [{"image_id": "a", "label": "p", "bbox": [0, 0, 100, 100]}]
    # a perfect box and a duplicate: AP 1 at every IoU (the duplicate ranks after the TP)
    d = [
        {"image_id": "a", "label": "p", "bbox": [0, 0, 100, 100], "score": 0.9},
        {"image_id": "a", "label": "p", "bbox": [0, 0, 100, 100], "score": 0.5},
    ]
    r = coco_hbb_metrics(d, g)
    assert r["AP"] == pytest.approx(1.0, abs=1e-12)
    assert r["AP50"] == pytest.approx(1.0, abs=1e-12)
    assert r["AR@1"] == pytest.approx(1.0, abs=1e-12)
    assert r["AP_large"] == pytest.approx(1.0, abs=1e-12) and np.isnan(r["AP_small"])  # 100x100 = 10^4 px is "large"

    # random scene: equal to summarize()'s stats where defined (default maxDets 1, 10, 100)
    from pycocotools.cocoeval import COCOeval  # noqa: F401

    rng = np.random.default_rng(4)
    gts, dets = [], []
    for i in range(6):
        xy = rng.uniform(0, 400, (12, 2))
        wh = rng.uniform(5, 120, (12, 2))
        for k in range(12):
            box = [*xy[k], *(xy[k] + wh[k])]
            gts.append({"image_id": i, "label": f"c{k % 3}", "bbox": box})
            noisy = list(np.asarray(box) + rng.normal(0, 4, 4))
            dets.append({"image_id": i, "label": f"c{k % 3}", "bbox": noisy, "score": float(rng.random())})
    ours = coco_hbb_metrics(dets, gts)
    import eval.metrics.coco_detection as cd

    # rebuild the same COCOeval and call summarize() for its stats

    classes = sorted({x["label"] for x in gts})
    cats = {c: j + 1 for j, c in enumerate(classes)}
    imgs = {i: i + 1 for i in range(6)}
    gt_anns = [cd._ann(j, imgs[x["image_id"]], cats[x["label"]], x["bbox"]) for j, x in enumerate(gts)]
    dt_anns = [cd._ann(j, imgs[x["image_id"]], cats[x["label"]], x["bbox"], x["score"]) for j, x in enumerate(dets)]
    ev = COCOeval(cd._coco(imgs, cats, gt_anns), cd._coco(imgs, cats, dt_anns), iouType="bbox")
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    keys = [
        "AP",
        "AP50",
        "AP75",
        "AP_small",
        "AP_medium",
        "AP_large",
        "AR@1",
        "AR@10",
        "AR@100",
        "AR_small",
        "AR_medium",
        "AR_large",
    ]
    for k, s in zip(keys, ev.stats, strict=False):
        if s == -1:
            assert np.isnan(ours[k]), k
        else:
            assert ours[k] == pytest.approx(s, abs=1e-12), k
    assert 0.1 < ours["AP"] < 0.99
