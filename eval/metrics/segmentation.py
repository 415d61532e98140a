"""Segmentation metrics (docs/rewards-and-metrics.md §8).

Referring segmentation (LAVT / RMSIN's evaluation, one mask per expression): per sample ``I`` and ``U`` in original
pixels (pycocotools, `data_engine.masks.intersection_union`); ``IoU = I / U`` (1 when both masks are empty);

- ``mIoU`` = mean per-sample IoU; ``cIoU`` = ΣI / ΣU (cumulative IoU, 0 when ΣU = 0);
- ``pr@τ`` = share of samples with IoU >= τ, τ in 0.5 … 0.9.

Semantic segmentation (mmsegmentation's ``IoUMetric`` definitions): pixels whose label is ``ignore_index`` are
dropped; over the remaining pixels and the ``num_classes`` classes, per class ``area_intersect``, ``area_pred``,
``area_label`` summed over all images, then ``IoU = I / (P + L - I)``, ``Acc = I / L``, ``Precision = I / P``,
``Recall = Acc``, ``Fscore = 2 P R / (P + R)`` (beta 1); ``aAcc = ΣI / ΣL``; ``mIoU`` / ``mAcc`` / ``mFscore`` are
the NaN-ignoring means over classes (a class absent from labels and predictions has IoU NaN and is left out).
"""

from __future__ import annotations

import numpy as np

from data_engine.masks import intersection_union

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def referring_metrics(preds: list[dict | None], gts: list[dict], thresholds=THRESHOLDS) -> dict:
    """mIoU, cIoU and Pr@τ of predicted masks against target masks.

    Args:
        preds: N predictions, COCO RLE or None (empty / unparsable).
        gts: N target masks, COCO RLE of the same sizes.

    Returns:
        ``{"mIoU", "cIoU", "pr@0.5", …, "n", "iou": [N per-sample IoU], "inter": [...], "union": [...]}``.
    """
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions for {len(gts)} targets")
    iu = np.array([intersection_union(p, g) for p, g in zip(preds, gts, strict=True)], dtype=np.float64)
    iu = iu.reshape(-1, 2)
    inter, union = iu[:, 0], iu[:, 1]
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    n = len(gts)
    out: dict = {"mIoU": float(iou.mean()) if n else 0.0,
                 "cIoU": float(inter.sum() / union.sum()) if union.sum() > 0 else 0.0}
    for t in thresholds:
        out[f"pr@{t:g}"] = float((iou >= t).mean()) if n else 0.0
    out.update(n=n, iou=iou.tolist(), inter=inter.tolist(), union=union.tolist())
    return out


def intersect_and_union(pred: np.ndarray, label: np.ndarray, num_classes: int,
                        ignore_index: int = 255) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class pixel areas of one image, as mmseg's ``IoUMetric.intersect_and_union``.

    Args:
        pred: (h, w) int predicted class ids.
        label: (h, w) int label ids; ``ignore_index`` pixels are dropped.
        num_classes: number of classes (ids outside [0, num_classes) count nowhere).

    Returns:
        (area_intersect, area_union, area_pred, area_label), each (num_classes,) int64.
    """
    pred, label = np.asarray(pred).reshape(-1), np.asarray(label).reshape(-1)
    keep = label != ignore_index
    pred, label = pred[keep], label[keep]
    hit = pred[pred == label]

    def count(x: np.ndarray) -> np.ndarray:  # torch.histc(min=0, max=C-1): ids outside the range count nowhere
        x = x.astype(np.int64)
        return np.bincount(x[(x >= 0) & (x < num_classes)], minlength=num_classes)

    area_i, area_p, area_l = count(hit), count(pred), count(label)
    return area_i, area_p + area_l - area_i, area_p, area_l


def semantic_metrics(pairs, num_classes: int, ignore_index: int = 255,
                     class_names: list[str] | None = None) -> dict:
    """mmseg's IoUMetric over (pred, label) label-map pairs: aAcc, mIoU, mAcc, mFscore and per-class values.

    Returns:
        ``{"aAcc", "mIoU", "mAcc", "mFscore", "mPrecision", "mRecall", "IoU/<class>", "Acc/<class>",
        "Fscore/<class>"}``; a class with no label and no prediction pixel has NaN per-class values (left out of
        the means, as mmseg's ``np.nanmean``).
    """
    tot = np.zeros((4, num_classes), dtype=np.float64)
    for pred, label in pairs:
        tot += np.stack(intersect_and_union(pred, label, num_classes, ignore_index))
    return metrics_from_areas(tot[0], tot[2], tot[3], class_names)


def metrics_from_areas(inter, area_p, area_l, class_names: list[str] | None = None) -> dict:
    """`semantic_metrics` from per-class totals ``area_intersect``, ``area_pred``, ``area_label`` ((C,) each)."""
    inter, area_p, area_l = (np.asarray(a, dtype=np.float64) for a in (inter, area_p, area_l))
    num_classes = inter.size
    union = area_p + area_l - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
        acc = inter / area_l
        prec = inter / area_p
        fscore = 2 * prec * acc / (prec + acc)
    names = class_names or [str(k) for k in range(num_classes)]

    def nanmean(a: np.ndarray) -> float:
        return float(np.nanmean(a)) if np.isfinite(a).any() else 0.0

    out = {"aAcc": float(inter.sum() / area_l.sum()) if area_l.sum() else 0.0, "mIoU": nanmean(iou),
           "mAcc": nanmean(acc), "mFscore": nanmean(fscore), "mPrecision": nanmean(prec), "mRecall": nanmean(acc)}
    for k, name in enumerate(names):
        out[f"IoU/{name}"], out[f"Acc/{name}"], out[f"Fscore/{name}"] = (float(iou[k]), float(acc[k]),
                                                                         float(fscore[k]))
    return out
