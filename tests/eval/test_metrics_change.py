"""Change-detection metrics: mask components -> boxes, rasterised polygons, pixel F1/IoU against hand values and
a plain loop, and the change_detection scorer on fixed predictions."""

from __future__ import annotations

import numpy as np
import pytest

from data_engine.change_masks import mask_to_polys
from eval.metrics.change import pixel_counts, pixel_scores, rasterise
from tests.eval.test_runner import _row, _score_only


def test_mask_components_to_oriented_boxes():
    m = np.zeros((40, 40), np.uint8)
    m[5:10, 5:25] = 255  # 20 x 5 rectangle
    for k in range(12):  # a diagonal bar: its minimum rotated rectangle is tilted
        m[20 + k, 10 + k : 13 + k] = 1
    polys, n_small = mask_to_polys(m, min_area=4)
    assert n_small == 0 and len(polys) == 2
    rect = rasterise([polys[0]], 40, 40)
    assert np.array_equal(rect, m[:, :] == 255)  # the axis-aligned box rasterises back to the same pixels
    bar = rasterise([polys[1]], 40, 40)
    assert bar[(m == 1)].all()  # the tilted box covers every pixel of its component
    p = np.asarray(polys[1]).reshape(4, 2)
    assert not np.allclose(p[:, 0].min(), p[np.argmin(p[:, 1]), 0])  # not an axis-aligned box


def test_pixel_scores_equal_a_plain_loop():
    rng = np.random.default_rng(0)
    gt, pred = rng.random((30, 30)) < 0.3, rng.random((30, 30)) < 0.4
    tp = fp = fn = 0
    for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist(), strict=True):
        tp, fp, fn = tp + (g and p), fp + (p and not g), fn + (g and not p)
    assert pixel_counts(pred, gt) == (tp, fp, fn)
    s = pixel_scores(tp, fp, fn)
    assert s["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn)) and s["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert pixel_scores(0, 0, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "iou": 0.0}
    assert pixel_scores(3, 1, 0) == pytest.approx({"precision": 0.75, "recall": 1.0, "f1": 6 / 7, "iou": 0.75})


def test_change_detection_scorer_on_fixed_predictions(tmp_path):
    sq = [0, 0, 10, 0, 10, 10, 0, 10]
    t = {"classes": ["change"], "objects": [{"label": "change", "poly": sq}]}
    rows = [
        _row("cd", "a", "change_detection", t, "0,0,10,10 change"),  # exact
        _row("cd", "b", "change_detection", t, "0,0,10,6 change"),  # 60 of the 100 pixels, IoU 0.6
        _row("cd", "c", "change_detection", {"classes": ["change"], "objects": []}, "There are none."),
        _row("cd", "d", "change_detection", {"classes": ["change"], "objects": []}, "50,50,60,60 change"),
    ]
    m = _score_only(tmp_path, rows, out="cd")["metrics"]["cd"]
    # pixels over the set: TP 100 + 60, FP 100 (d), FN 40 (b)
    assert m["pixel_precision"] == pytest.approx(160 / 260) and m["pixel_recall"] == pytest.approx(160 / 200)
    assert m["pixel_iou"] == pytest.approx(160 / 300)
    assert m["pixel_f1"] == pytest.approx(2 * 160 / (2 * 160 + 100 + 40))
    # objects at IoU 0.5: a and b matched, d a false positive
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(1.0)


def _xview2_loop(preds, targs):
    """A plain xView2-style loop (xview2_metrics.py): localisation F1 over all pixels, damage F1 per class on the
    target's building pixels with the prediction masked by its localisation, harmonic mean, 0.3 / 0.7."""
    def f1(tp, fp, fn):
        if tp == 0:
            return 0.0
        p, r = tp / (tp + fp), tp / (tp + fn)
        return 2 * p * r / (p + r)

    ltp = lfp = lfn = 0
    dmg = {c: [0, 0, 0] for c in (1, 2, 3, 4)}
    for pred, targ in zip(preds, targs, strict=True):
        for pv, tv in zip(pred.ravel().tolist(), targ.ravel().tolist(), strict=True):
            ltp += pv > 0 and tv > 0
            lfp += pv > 0 and tv == 0
            lfn += pv == 0 and tv > 0
            if tv > 0:
                pv = pv * (pv > 0)
                for c in dmg:
                    dmg[c][0] += pv == c and tv == c
                    dmg[c][1] += pv == c and tv != c
                    dmg[c][2] += pv != c and tv == c
    lf1 = f1(ltp, lfp, lfn)
    df1 = 4 / sum(1 / (f1(*dmg[c]) + 1e-6) for c in dmg)
    return 0.3 * lf1 + 0.7 * df1, lf1, df1


def test_xview2_score_equals_a_plain_loop():
    from eval.metrics.change import xview2_counts, xview2_scores

    rng = np.random.default_rng(1)
    preds = [rng.integers(0, 5, (20, 20)) * (rng.random((20, 20)) < 0.5) for _ in range(3)]
    targs = [rng.integers(0, 5, (20, 20)) * (rng.random((20, 20)) < 0.4) for _ in range(3)]
    counts = sum(xview2_counts(p, t) for p, t in zip(preds, targs, strict=True))
    ours = xview2_scores(counts)
    score, lf1, df1 = _xview2_loop(preds, targs)
    assert ours["xview2_score"] == pytest.approx(score, abs=1e-12)
    assert ours["localization_f1"] == pytest.approx(lf1) and ours["damage_f1"] == pytest.approx(df1)
    # a class never predicted right has F1 0, which drags the harmonic mean to ~0
    none = xview2_scores(xview2_counts(np.ones((4, 4), np.uint8), np.full((4, 4), 4, np.uint8)))
    assert none["localization_f1"] == 1.0 and none["damage_f1"] < 1e-5


def test_xbd_scorer_and_damage_scorer(tmp_path):
    levels = ["no-damage", "minor-damage", "major-damage", "destroyed"]
    sq = [0, 0, 10, 0, 10, 10, 0, 10]
    t = {"classes": levels, "objects": [{"label": "destroyed", "poly": sq, "shape": sq}]}
    rows = [_row("xbd", "a", "change_detection", t, "0,0,10,10 destroyed"),
            _row("xbd", "b", "change_detection", t, "0,0,10,10 no-damage"),
            _row("dmg", "q1", "damage", {"question": "q", "answer": "destroyed", "classes": levels,
                                         "qtype": "damage_level"}, "major-damage"),
            _row("dmg", "q2", "damage", {"question": "q", "answer": "minor-damage", "classes": levels,
                                         "qtype": "damage_level"}, "minor-damage"),
            _row("dmg", "q3", "damage", {"question": "q", "answer": "wind", "classes": ["fire", "wind"],
                                         "qtype": "disaster_type"}, "fire")]
    m = _score_only(tmp_path, rows, out="x")["metrics"]
    x = m["xbd"]
    assert x["localization_f1"] == 1.0  # both images: the 100 building pixels found
    # damage: class 4 TP 100, FN 100 (b says no-damage) -> F1 2/3; class 1 FP 100 -> F1 0; classes 2, 3 F1 0
    assert x["damage_f1/4"] == pytest.approx(2 / 3) and x["damage_f1/1"] == 0.0
    assert x["xview2_score"] == pytest.approx(0.3 + 0.7 * 4 / (3 / (1e-6) + 1 / (2 / 3 + 1e-6)))
    d = m["dmg"]
    assert d["accuracy"] == pytest.approx(1 / 3) and d["acc/damage_level"] == 0.5 and d["acc/disaster_type"] == 0.0
    assert d["ordinal_credit"] == pytest.approx((0.5 + 1.0) / 2)
