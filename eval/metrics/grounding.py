"""Visual grounding metrics: Acc@τ, mean IoU and cumulative IoU over one predicted box per expression.

Boxes are in original-image pixels (convert from the model frame first): 4 numbers ``x1, y1, x2, y2`` or 8
numbers (a quad; exact polygon IoU). A missing prediction (``None``: unparsable or absent) counts as IoU 0 with
intersection 0, so it adds the GT area to the cumulative union.

- ``acc@τ`` = share of samples with IoU >= τ (``strict=True``: IoU > τ, as RSCoVLM's Acc@0.5);
- ``mean_iou`` = mean of per-sample IoU;
- ``cum_iou`` = Σ intersection / Σ union over all samples.
"""

from __future__ import annotations

import numpy as np

from data_engine.boxes import hbb_to_poly, order_poly_vertices, poly_area
from eval.geometry.iou import rotated_iou_pairs

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def _as_poly(box) -> np.ndarray:
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.size == 4:
        return hbb_to_poly(b)[0]
    if b.size == 8:
        return b
    raise ValueError(f"a box needs 4 or 8 numbers, got {b.size}")


def grounding_metrics(pred_boxes, gt_boxes, thresholds=THRESHOLDS, strict: bool = False) -> dict:
    """Acc@τ, mean IoU and cumulative IoU.

    Args:
        pred_boxes: N predictions, each 4 or 8 numbers or None (miss).
        gt_boxes: N ground-truth boxes, 4 or 8 numbers.
        thresholds: τ values for ``acc@τ``.
        strict: use IoU > τ instead of IoU >= τ.

    Returns:
        ``{"acc@0.5": …, …, "mean_iou", "cum_iou", "n", "n_missing"}`` (keys use ``f"acc@{τ:g}"``).
    """
    if len(pred_boxes) != len(gt_boxes):
        raise ValueError(f"{len(pred_boxes)} predictions for {len(gt_boxes)} ground truths")
    n = len(gt_boxes)
    gt = np.stack([_as_poly(g) for g in gt_boxes]) if n else np.zeros((0, 8))
    missing = np.array([p is None for p in pred_boxes], dtype=bool)
    pred = np.stack([gt[k] if p is None else _as_poly(p) for k, p in enumerate(pred_boxes)]) if n else gt
    iou = rotated_iou_pairs(pred, gt)
    iou[missing] = 0.0
    # areas of the convex, ordered quads: the areas the IoU was computed with
    area_p = poly_area(order_poly_vertices(pred))
    area_g = poly_area(order_poly_vertices(gt))
    area_p[missing] = 0.0
    # I = IoU·U and U = A_p + A_g − I  =>  I = IoU·(A_p + A_g)/(1 + IoU)
    inter = iou * (area_p + area_g) / (1.0 + iou)
    union = area_p + area_g - inter
    out = {}
    for t in thresholds:
        hit = iou > t if strict else iou >= t
        out[f"acc@{t:g}"] = float(hit.mean()) if n else 0.0
    out["mean_iou"] = float(iou.mean()) if n else 0.0
    out["cum_iou"] = float(inter.sum() / union.sum()) if n and union.sum() > 0 else 0.0
    out["n"] = n
    out["n_missing"] = int(missing.sum())
    return out
