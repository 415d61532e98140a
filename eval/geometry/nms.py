"""Rotated non-maximum suppression and DOTA patch merging (mmrotate ``merge_det`` behaviour).

Patch ids follow mmrotate's ``img_split`` naming ``<source id>__<size>__<x>___<y>`` (docs/formats.md §5): boxes
predicted on a patch are shifted by ``(x, y)`` into the source image, grouped by source image, and suppressed
per class with rotated NMS at IoU 0.1.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from data_engine.errors import UserError
from eval.geometry.iou import rotated_iou

# `<id>__<size>__<x>___<y>`: the id itself may contain underscores; size may be "1024" or a rate like "1.0".
_PATCH_ID = re.compile(r"^(?P<src>.+?)__(?P<size>[^_]+)__(?P<x>-?\d+)___(?P<y>-?\d+)$")


def rotated_nms(polys, scores, iou_thr: float) -> np.ndarray:
    """Greedy rotated NMS: visit boxes by descending score, drop every later box with IoU > ``iou_thr`` to a kept one.

    Equal scores keep their input order (stable sort), matching mmcv ``nms_rotated``'s ``>`` test.

    Args:
        polys: (N, 8) quads.
        scores: (N,) scores.
        iou_thr: suppression threshold; a box survives next to a kept box with IoU exactly ``iou_thr``.

    Returns:
        (K,) int64 indices of kept boxes into the input, in descending score order.
    """
    polys = np.asarray(polys, dtype=np.float64).reshape(-1, 8)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if polys.shape[0] != scores.shape[0]:
        raise ValueError(f"{polys.shape[0]} boxes but {scores.shape[0]} scores")
    order = np.argsort(-scores, kind="stable")
    iou = rotated_iou(polys[order], polys[order])
    alive = np.ones(order.shape[0], dtype=bool)
    keep = []
    for i in range(order.shape[0]):
        if not alive[i]:
            continue
        keep.append(i)
        # only later (lower-ranked) boxes can still be suppressed by box i
        alive[i + 1 :] &= iou[i, i + 1 :] <= iou_thr
    return order[np.asarray(keep, dtype=np.int64)]


def parse_patch_id(patch_id: str) -> tuple[str, float, float]:
    """Split ``<source id>__<size>__<x>___<y>`` into (source id, x offset, y offset).

    Raises:
        UserError: if the id does not follow the pattern (an unsplit id would silently merge at offset 0).
    """
    m = _PATCH_ID.match(patch_id)
    if m is None:
        raise UserError(f"patch id {patch_id!r} does not look like '<id>__<size>__<x>___<y>' (mmrotate img_split)")
    return m["src"], float(m["x"]), float(m["y"])


def merge_patches(dets: list[dict], iou_thr: float = 0.1) -> list[dict]:
    """Merge patch detections into source-image detections (mmrotate ``merge_det``).

    Args:
        dets: dicts with ``image_id`` (a patch id ``<id>__<size>__<x>___<y>``), ``label``, ``poly`` (8 numbers in
            patch pixels) and optional ``score`` (missing = 1.0). Other keys are carried along.
        iou_thr: rotated NMS threshold per (source image, label).

    Returns:
        New dicts with ``image_id`` = source id, ``poly`` shifted to source pixels (list of 8 floats) and
        ``score``; ordered by source image (first appearance), label (first appearance), then descending score.
    """
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    shifted = []
    for k, d in enumerate(dets):
        src, x, y = parse_patch_id(d["image_id"])
        p = np.asarray(d["poly"], dtype=np.float64).reshape(8) + np.array([x, y] * 4)
        shifted.append(p)
        groups[(src, d["label"])].append(k)
    out = []
    for (src, _label), idx in groups.items():
        polys = np.stack([shifted[k] for k in idx])
        scores = np.array([float(dets[k].get("score", 1.0)) for k in idx])
        for j in rotated_nms(polys, scores, iou_thr):
            d = dict(dets[idx[j]])
            d.update(image_id=src, poly=polys[j].tolist(), score=float(scores[j]))
            out.append(d)
    return out
