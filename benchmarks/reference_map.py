"""Slow, obviously-correct DOTA-devkit-style mAP: plain Python loops and shapely polygon IoU.

Used only as the reference in bench_map.py and in tests. Rules (DOTA devkit task 1): per class, detections in
descending score order (Python's sort is stable, so ties keep input order); each detection takes its best-IoU
GT of the same image among those whose +1-pixel horizontal boxes overlap (the devkit's prefilter); IoU strictly
greater than the threshold is a match; a match to a difficult GT is ignored (neither TP nor FP); a GT matched
before makes the detection a duplicate (FP); VOC07 11-point AP with thresholds i * 0.1; mean over all classes.

Polygon IoU is the devkit ``polyiou``'s definition, written independently with shapely: a simple polygon (convex
or not) is measured exactly; a self-intersecting one goes through the devkit's formula itself, the signed sum
over fan triangles from the origin (`devkit_polygon_iou`).
"""

from __future__ import annotations

import shapely


def _ring(p) -> list:
    return [(p[0], p[1]), (p[2], p[3]), (p[4], p[5]), (p[6], p[7])]


def _signed_area(p) -> float:
    return 0.5 * sum(p[2 * i] * p[(2 * i + 3) % 8] - p[2 * i + 1] * p[(2 * i + 2) % 8] for i in range(4))


def _fan_intersection(p, q) -> float:
    """``Σ_ij s_i t_j area(T_i ∩ U_j)`` over fan triangles T_i = (0, p_i, p_i+1), U_j = (0, q_j, q_j+1) with
    orientation signs s, t, after orienting p and q to non-negative signed area (the devkit's formula)."""
    rp, rq = _ring(p), _ring(q)
    if _signed_area(p) < 0:
        rp = rp[::-1]
    if _signed_area(q) < 0:
        rq = rq[::-1]

    def fan(r):
        out = []
        for i in range(4):
            (x1, y1), (x2, y2) = r[i], r[(i + 1) % 4]
            c = x1 * y2 - y1 * x2
            if c != 0:
                out.append((1.0 if c > 0 else -1.0, shapely.Polygon([(0, 0), (x1, y1), (x2, y2)])))
        return out

    return sum(s * t * a.intersection(b).area for s, a in fan(rp) for t, b in fan(rq))


def devkit_polygon_iou(p, q) -> float:
    """The devkit's polygon IoU of two quads as given: ``inter / (|area p| + |area q| - inter)`` (0 if the union
    is 0), ``inter`` exact for simple polygons and the signed fan sum for self-intersecting ones."""
    a, b = shapely.Polygon(_ring(p)), shapely.Polygon(_ring(q))
    if a.is_valid and b.is_valid:  # simple polygons: the fan sum is their exact intersection area
        inter = a.intersection(b).area
    else:
        inter = _fan_intersection(p, q)
    union = abs(_signed_area(p)) + abs(_signed_area(q)) - inter
    return inter / union if union != 0 else 0.0


def _hbb_overlap(p, q) -> bool:
    """The devkit's prefilter: horizontal boxes with the +1-pixel convention have positive overlap."""
    iw = min(max(p[0::2]), max(q[0::2])) - max(min(p[0::2]), min(q[0::2])) + 1.0
    ih = min(max(p[1::2]), max(q[1::2])) - max(min(p[1::2]), min(q[1::2])) + 1.0
    return iw > 0 and ih > 0


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
            best, best_j = -float("inf"), -1
            for j, g in enumerate(gts_by_image.get(d["image_id"], [])):
                if not _hbb_overlap(d["poly"], g["poly"]):
                    continue
                iou = devkit_polygon_iou(g["poly"], d["poly"])
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
