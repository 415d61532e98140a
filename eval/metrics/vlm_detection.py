"""Detection metrics for score-less VLM output, as in LMMRotate (arXiv 2501.09720, VisionXLab/mllm-mmrotate).

- **mAP_nc** ("no confidence"): every kept box gets score 1.0 and the mmrotate protocol is applied
  (VOC07 11-point, IoU >= 0.5, minimum-area-rectangle geometry; `eval.metrics.dota_map`). For a scored detector,
  `select_nc_threshold` sweeps t ∈ {0, 0.05, …, 0.95} on a calibration split, keeping boxes with score > t;
  the chosen t is then applied with `map_nc(..., score_threshold=t)` on the test split. Ties keep the emitted
  order (stable sort).
- **mF1** (``lmmrotate/modules/f1_metric.py``): a (C+1)×(C+1) confusion matrix at rotated IoU >= 0.5, rows GT
  class (last = background), columns predicted class (last = background). Caveats, reproduced on purpose so
  numbers stay comparable: a detection adds one count for **every** GT (of any class) it overlaps at IoU >= the
  threshold, so it is not one-to-one and duplicates are not penalised; a GT is a miss only if no same-class
  detection overlaps it; the background row/column enters the class means with TP = 0, which pulls mP and mR
  down by the factor C/(C+1); classes without predictions or GT get precision/recall 0.
- **mF1 class list**: LMMRotate sizes the matrix from the ground truth, ``C = max GT class id + 1``
  (``get_num_classes``), so classes after the last one with GT are not evaluated while earlier classes without
  GT stay in the mean. `mean_f1` does the same with ``classes`` as the id order (default: the sorted GT labels).
  Not copied: a detection whose label is outside those C classes makes LMMRotate index past the matrix (an
  IndexError, or, for id C exactly, a count in the background column); here it is left out and counted in
  ``n_ignored`` (docs/detection-protocols.md#mf1s-class-list).
"""

from __future__ import annotations

import numpy as np

from data_engine.boxes import obb_to_poly, poly_to_obb
from eval.geometry.iou import rotated_iou_indexed
from eval.metrics.dota_map import dota_map
from eval.metrics.pairing import same_key_pairs

NC_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))


def map_nc(
    detections: list[dict],
    ground_truths: list[dict],
    score_threshold: float | None = None,
    iou_threshold: float = 0.5,
    classes=None,
) -> dict:
    """mAP_nc: keep detections with score > ``score_threshold`` (all if None), set their scores to 1.0, evaluate
    with the mmrotate protocol (VOC07 11-point).

    Args:
        detections: dicts ``image_id, label, poly (8), score?`` in emission order.
        ground_truths: dicts ``image_id, label, poly (8), difficult?`` (difficult counted, mmrotate protocol).
        score_threshold: calibration threshold for scored detectors; None for VLM output.
        iou_threshold: IoU threshold (``>=``).
        classes: classes to evaluate; default the sorted union of labels.

    Returns:
        ``{"map_nc", "ap": {label: AP}, "num_kept"}``.
    """
    kept = [
        {**d, "score": 1.0}
        for d in detections
        if score_threshold is None or float(d.get("score", 1.0)) > score_threshold
    ]
    r = dota_map(
        kept, ground_truths, iou_threshold=iou_threshold, ap_mode="voc07", protocol="mmrotate", classes=classes
    )
    return {"map_nc": r["map"], "ap": r["ap"], "num_kept": len(kept)}


def select_nc_threshold(
    detections: list[dict], ground_truths: list[dict], thresholds=NC_THRESHOLDS, classes=None
) -> dict:
    """Pick the score threshold that maximises mAP_nc on a calibration split (first best on ties).

    Returns:
        ``{"threshold": best t, "map_nc": its mAP_nc, "by_threshold": {t: mAP_nc}}``.
    """
    by_t = {float(t): map_nc(detections, ground_truths, float(t), classes=classes)["map_nc"] for t in thresholds}
    best = max(by_t, key=lambda t: (by_t[t], -t))
    return {"threshold": best, "map_nc": by_t[best], "by_threshold": by_t}


def confusion_matrix(
    detections: list[dict],
    ground_truths: list[dict],
    classes,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.0,
) -> np.ndarray:
    """LMMRotate's detection confusion matrix (see module docstring for its counting rules).

    Args:
        detections: dicts ``image_id, label, poly (8), score?``; kept if score >= ``score_threshold``.
        ground_truths: dicts ``image_id, label, poly (8)``.
        classes: class labels, defining rows/columns 0..C-1; row/column C is background.
        iou_threshold: overlap test ``iou >= iou_threshold`` on minimum-area rectangles.
        score_threshold: minimum score.

    Returns:
        (C+1, C+1) float64 counts, rows = GT class, columns = predicted class.
    """
    index = {c: i for i, c in enumerate(classes)}
    n = len(classes)
    dets = [d for d in detections if d["label"] in index and float(d.get("score", 1.0)) >= score_threshold]
    gts = [g for g in ground_truths if g["label"] in index]
    images: dict = {}
    for item in gts + dets:
        images.setdefault(item["image_id"], len(images))
    det_img = np.array([images[d["image_id"]] for d in dets], dtype=np.int64)
    gt_img = np.array([images[g["image_id"]] for g in gts], dtype=np.int64)
    det_cls = np.array([index[d["label"]] for d in dets], dtype=np.int64)
    gt_cls = np.array([index[g["label"]] for g in gts], dtype=np.int64)
    cm = np.zeros((n + 1, n + 1))
    pair_det, pair_gt, _ = same_key_pairs(det_img, gt_img)
    if pair_det.size:
        # mmrotate rbox geometry on both sides (qbox2rbox for GT, rboxes for predictions)
        det_poly = obb_to_poly(poly_to_obb(np.asarray([d["poly"] for d in dets], dtype=np.float64)))
        gt_poly = obb_to_poly(poly_to_obb(np.asarray([g["poly"] for g in gts], dtype=np.float64)))
        iou = rotated_iou_indexed(det_poly, gt_poly, pair_det, pair_gt)
        over = iou >= iou_threshold
        pd, pg = pair_det[over], pair_gt[over]
    else:
        pd = pg = np.zeros(0, dtype=np.int64)
    np.add.at(cm, (gt_cls[pg], det_cls[pd]), 1.0)
    unmatched_det = np.ones(len(dets), dtype=bool)
    unmatched_det[pd] = False
    np.add.at(cm, (np.full(int(unmatched_det.sum()), n), det_cls[unmatched_det]), 1.0)
    found = np.zeros(len(gts), dtype=bool)
    found[pg[gt_cls[pg] == det_cls[pd]]] = True
    np.add.at(cm, (gt_cls[~found], np.full(int((~found).sum()), n)), 1.0)
    return cm


def lmmrotate_classes(ground_truths: list[dict], classes=None) -> list:
    """LMMRotate's evaluated classes: ids 0 .. (largest id with a ground-truth object).

    Args:
        ground_truths: dicts with ``label``.
        classes: the dataset's class labels in id order; None: the sorted labels of ``ground_truths``.

    Returns:
        ``classes`` cut after the last class that has a ground-truth object (empty without ground truth).
    """
    present = {g["label"] for g in ground_truths}
    if classes is None:
        return sorted(present)
    classes = list(classes)
    last = max((i for i, c in enumerate(classes) if c in present), default=-1)
    return classes[: last + 1]


def mean_f1(
    detections: list[dict],
    ground_truths: list[dict],
    iou_threshold: float = 0.5,
    score_threshold: float = 0.0,
    classes=None,
) -> dict:
    """LMMRotate mF1 = 2·mP·mR / (mP + mR) from `confusion_matrix`, means over the C+1 rows incl. background.

    Args:
        detections: dicts ``image_id, label, poly (8), score?``.
        ground_truths: dicts ``image_id, label, poly (8)``.
        iou_threshold: overlap test ``iou >= iou_threshold``.
        score_threshold: minimum score.
        classes: the dataset's class labels in id order; the evaluated ones are `lmmrotate_classes` of them.

    Returns:
        ``{"mf1", "mean_precision", "mean_recall", "precision": {label: p}, "recall": {label: r}, "classes",
        "n_ignored"}``: mF1 is 0 when mP + mR = 0; ``classes`` the evaluated classes; ``n_ignored`` the
        detections (score >= ``score_threshold``) whose label is not among them.
    """
    classes = lmmrotate_classes(ground_truths, classes)
    known = set(classes)
    n_ignored = sum(1 for d in detections if d["label"] not in known and float(d.get("score", 1.0)) >= score_threshold)
    cm = confusion_matrix(detections, ground_truths, classes, iou_threshold, score_threshold)
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    precision = tp / np.where(tp + fp == 0, 1.0, tp + fp)
    recall = tp / np.where(tp + fn == 0, 1.0, tp + fn)
    mp, mr = float(precision.mean()), float(recall.mean())
    return {
        "mf1": 2 * mp * mr / (mp + mr) if mp + mr > 0 else 0.0,
        "mean_precision": mp,
        "mean_recall": mr,
        "precision": {c: float(precision[i]) for i, c in enumerate(classes)},
        "recall": {c: float(recall[i]) for i, c in enumerate(classes)},
        "classes": classes,
        "n_ignored": n_ignored,
    }
