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
