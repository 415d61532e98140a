"""Change-detection pixel metrics: predicted polygons rasterised and compared with the change mask.

LEVIR-CD convention (BIT, ChangeFormer): precision, recall, F1 and IoU of the change class from TP/FP/FN pixels
summed over the whole set (not averaged per image). Polygons are rasterised with pycocotools (``frPyObjects`` +
``decode``: the COCO rule, a pixel is inside when its centre is), so the same polygons always give the same
pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rasterise(polys: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of the union of polygons ``[x1, y1, x2, y2, ...]`` (pixels; >= 3 points each)."""
    from pycocotools import mask as mask_utils

    out = np.zeros((int(height), int(width)), dtype=bool)
    good = [[float(v) for v in p] for p in polys if len(p) >= 6 and len(p) % 2 == 0 and np.all(np.isfinite(p))]
    if not good:
        return out
    rles = mask_utils.frPyObjects(good, int(height), int(width))
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def pixel_counts(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) change pixels of two same-shape bool masks."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction mask {pred.shape} and ground truth {gt.shape} differ in shape")
    tp = int(np.count_nonzero(pred & gt))
    return tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(gt)) - tp


def pixel_scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    """``precision``, ``recall``, ``f1``, ``iou`` of the change class; 0 where a denominator is 0."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "iou": tp / (tp + fp + fn) if tp + fp + fn else 0.0}


def rasterise_classes(objects: Sequence[tuple[Sequence[float], int]], height: int, width: int) -> np.ndarray:
    """(H, W) uint8 mask: each ``(polygon, value)`` painted in order (a later polygon overwrites an earlier one)."""
    out = np.zeros((int(height), int(width)), dtype=np.uint8)
    for poly, value in objects:
        out[rasterise([poly], height, width)] = int(value)
    return out


def xview2_counts(pred: np.ndarray, gt: np.ndarray, n_classes: int = 4) -> np.ndarray:
    """Pixel counts of one image for the xView2 score: a (1 + n_classes, 3) int array of (TP, FP, FN).

    Row 0 is localisation (pixels > 0 in each mask). Rows 1..n are damage class c: only pixels where the ground
    truth is > 0 are scored, the prediction there taken as is (xView2 multiplies it by its localisation mask, which
    is the same mask here): TP = pred == c and gt == c, FP = pred == c and gt != c, FN = pred != c and gt == c.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    out = np.zeros((1 + n_classes, 3), dtype=np.int64)
    out[0] = pixel_counts(pred > 0, gt > 0)
    p, g = pred[gt > 0], gt[gt > 0]
    for c in range(1, n_classes + 1):
        tp = int(np.count_nonzero((p == c) & (g == c)))
        out[c] = (tp, int(np.count_nonzero(p == c)) - tp, int(np.count_nonzero(g == c)) - tp)
    return out


def xview2_scores(counts: np.ndarray) -> dict[str, float]:
    """The xView2 score from summed `xview2_counts`: ``localization_f1``, per-class ``damage_f1/<c>``,
    ``damage_f1`` = n / Σ (f1_c + 1e-6)^-1 (harmonic mean), ``xview2_score`` = 0.3 · loc + 0.7 · damage (a class
    F1 is 0 when its TP is 0, as in xview2_metrics.py)."""
    c = np.asarray(counts, dtype=np.int64)
    f1 = [pixel_scores(*(int(v) for v in row))["f1"] if row[0] > 0 else 0.0 for row in c]
    lf1, per = f1[0], f1[1:]
    df1 = len(per) / sum(1.0 / (v + 1e-6) for v in per)
    out = {"localization_f1": lf1, "damage_f1": df1, "xview2_score": 0.3 * lf1 + 0.7 * df1}
    out.update({f"damage_f1/{k + 1}": v for k, v in enumerate(per)})
    return out
