"""COCO-protocol horizontal-box detection AP through pycocotools' COCOeval, returned as a dict.

We never call ``COCOeval.summarize()``: it prints, and its first statistic always uses the third ``maxDets``
entry (cocoapi #558, #584). The numbers are read from ``eval["precision"]`` / ``eval["recall"]`` with the
``max_dets`` given here, the last entry being used for AP and the size breakdown. Aerial scenes often hold more
than 100 objects: pass e.g. ``max_dets=(1, 10, 1000)``. Undefined entries (no GT of that size) are NaN, not
COCO's -1. Boxes are ``x1, y1, x2, y2`` in pixels; areas for the size split are GT box areas (w·h).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

SIZES = ("small", "medium", "large")


def _coco(images: dict, categories: dict, annotations: list[dict]):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = {
        "images": [{"id": i} for i in images.values()],
        "categories": [{"id": c, "name": str(name)} for name, c in categories.items()],
        "annotations": annotations,
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _ann(k: int, image: int, cat: int, box, score=None) -> dict:
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    a = {"id": k + 1, "image_id": image, "category_id": cat, "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0}
    if score is not None:
        a["score"] = float(score)
    return a


def coco_hbb_metrics(
    detections: list[dict],
    ground_truths: list[dict],
    max_dets: tuple[int, ...] = (1, 10, 100),
    classes=None,
) -> dict:
    """COCO AP/AR for horizontal boxes.

    Args:
        detections: dicts ``image_id, label, bbox (x1, y1, x2, y2), score?`` (missing score = 1.0).
        ground_truths: dicts ``image_id, label, bbox``, optional ``iscrowd``.
        max_dets: detections kept per image for the recall levels; the last one is used for AP.
        classes: categories to evaluate; default the sorted union of labels.

    Returns:
        ``AP`` (IoU .50:.05:.95), ``AP50``, ``AP75``, ``AP_small/medium/large``, ``AR@<m>`` for each m in
        ``max_dets``, ``AR_small/medium/large`` (at the last m); NaN where undefined.
    """
    from pycocotools.cocoeval import COCOeval

    if classes is None:
        classes = sorted({d["label"] for d in detections} | {g["label"] for g in ground_truths})
    categories = {c: i + 1 for i, c in enumerate(classes)}
    images: dict = {}
    for item in list(ground_truths) + list(detections):
        images.setdefault(item["image_id"], len(images) + 1)
    gt_anns = []
    for g in ground_truths:
        if g["label"] in categories:
            a = _ann(len(gt_anns), images[g["image_id"]], categories[g["label"]], g["bbox"])
            a["iscrowd"] = int(g.get("iscrowd", 0))
            gt_anns.append(a)
    dt_anns = []
    for d in detections:
        if d["label"] in categories:
            dt_anns.append(
                _ann(len(dt_anns), images[d["image_id"]], categories[d["label"]], d["bbox"], d.get("score", 1.0))
            )
    coco_gt = _coco(images, categories, gt_anns)
    coco_dt = _coco(images, categories, dt_anns)
    ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
    ev.params.maxDets = list(max_dets)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
    p = ev.params
    precision = ev.eval["precision"]  # (T, R, K, A, M)
    recall = ev.eval["recall"]  # (T, K, A, M)
    area_index = {name: i for i, name in enumerate(p.areaRngLbl)}
    last = len(p.maxDets) - 1

    def mean_valid(x) -> float:
        x = x[x > -1]
        return float(np.mean(x)) if x.size else float("nan")

    def ap(iou=None, area="all") -> float:
        s = precision
        if iou is not None:
            s = s[np.flatnonzero(np.isclose(p.iouThrs, iou))]
        return mean_valid(s[:, :, :, area_index[area], last])

    out = {"AP": ap(), "AP50": ap(0.5), "AP75": ap(0.75)}
    for size in SIZES:
        out[f"AP_{size}"] = ap(area=size)
    for m, md in enumerate(p.maxDets):
        out[f"AR@{md}"] = mean_valid(recall[:, :, area_index["all"], m])
    for size in SIZES:
        out[f"AR_{size}"] = mean_valid(recall[:, :, area_index[size], last])
    return out
