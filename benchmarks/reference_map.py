"""Slow, obviously-correct DOTA-devkit-style mAP: plain Python loops and shapely polygon IoU.

Used only as the reference in bench_map.py and in tests. Rules (DOTA devkit task 1): per class, detections in
descending score order (Python's sort is stable, so ties keep input order); each detection takes its best-IoU
GT of the same image; IoU strictly greater than the threshold is a match; a match to a difficult GT is ignored
(neither TP nor FP); a GT matched before makes the detection a duplicate (FP); VOC07 11-point AP with
thresholds i * 0.1; mean over all classes.
"""

from __future__ import annotations

import shapely


def _polygon_iou(p, q) -> float:
    a = shapely.Polygon([(p[0], p[1]), (p[2], p[3]), (p[4], p[5]), (p[6], p[7])])
    b = shapely.Polygon([(q[0], q[1]), (q[2], q[3]), (q[4], q[5]), (q[6], q[7])])
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def _eleven_point(recalls: list[float], precisions: list[float]) -> float:
    ap = 0.0
    for i in range(11):
        t = i * 0.1
        best = 0.0
        for r, p in zip(recalls, precisions, strict=False):
            if r >= t and p > best:
                best = p
        ap = ap + best / 11.0
    return ap


def reference_map(detections: list[dict], ground_truths: list[dict], iou_threshold: float = 0.5) -> dict:
    """Devkit-protocol VOC07 mAP by plain loops; same inputs and "map"/"ap" keys as eval.metrics.dota_map."""
    classes = sorted({d["label"] for d in detections} | {g["label"] for g in ground_truths})
    ap = {}
    for c in classes:
        gts_by_image: dict = {}
        npos = 0
        for g in ground_truths:
            if g["label"] == c:
                gts_by_image.setdefault(g["image_id"], []).append(g)
                if not g.get("difficult", 0):
                    npos += 1
        used = {image: [False] * len(gs) for image, gs in gts_by_image.items()}
        dets = sorted((d for d in detections if d["label"] == c), key=lambda d: -d.get("score", 1.0))
        tp_list, fp_list = [], []
        for d in dets:
            best, best_j = -1.0, -1
            for j, g in enumerate(gts_by_image.get(d["image_id"], [])):
                iou = _polygon_iou(d["poly"], g["poly"])
                if iou > best:
                    best, best_j = iou, j
            if best > iou_threshold:
                g = gts_by_image[d["image_id"]][best_j]
                if g.get("difficult", 0):
                    tp_list.append(0)
                    fp_list.append(0)
                elif not used[d["image_id"]][best_j]:
                    used[d["image_id"]][best_j] = True
                    tp_list.append(1)
                    fp_list.append(0)
                else:
                    tp_list.append(0)
                    fp_list.append(1)
            else:
                tp_list.append(0)
                fp_list.append(1)
        recalls, precisions = [], []
        tp = fp = 0
        for t, f in zip(tp_list, fp_list, strict=False):
            tp += t
            fp += f
            recalls.append(tp / npos if npos else float("nan"))
            precisions.append(tp / (tp + fp) if tp + fp else 0.0)
        ap[c] = _eleven_point(recalls, precisions)
    return {"map": sum(ap.values()) / len(ap) if ap else 0.0, "ap": ap}
