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
