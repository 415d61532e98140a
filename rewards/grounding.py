"""Grounding reward ``grounding_iou``: IoU of the first predicted box in original pixels, plus a distance term.

``overall = (1 - distance_weight) · IoU + distance_weight · (1 - min(1, d / diag))`` where ``d`` is the distance
between the predicted and ground-truth box centres and ``diag`` the image diagonal (``width``/``height`` of the
sample, else the ground-truth box's own diagonal times 4). The distance term (default weight 0.1) keeps a gradient
for boxes that do not overlap the target yet (the flat-signal cause of whole-image answers, VLM-R1 #44): a
non-overlapping box closer to the target scores higher. A whole-image box gains IoU only in proportion to the
target's share of the image. No box -> 0. A perfect box scores exactly 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from data_engine.frames import Frame
from eval.geometry import hbb_iou
from eval.parsers import completion_text, parse_grounding
from rewards.common import finite01, target_of

PARTS = ("iou", "distance", "format", "n_boxes")


def grounding_iou(
    completion: Any, sample: dict, frame: Frame | None = None, distance_weight: float = 0.1, **_: Any
) -> dict:
    """Score a grounding completion against ``sample["target"]["box"]`` (see the module docstring).

    Returns:
        ``{"overall", "iou", "distance", "format", "n_boxes"}`` (``distance`` is the [0, 1] closeness term).
    """
    target = target_of(sample)
    out = parse_grounding(completion_text(completion), frame=frame)
    parts = {"format": float(out["format_ok"]), "n_boxes": float(out["n_boxes"])}
    gt = np.asarray(target.get("box", [0, 0, 0, 0]), dtype=np.float64).reshape(4)
    if out["box"] is None:
        return {"overall": 0.0, "iou": 0.0, "distance": 0.0, **parts}
    pred = np.asarray(out["box"], dtype=np.float64)
    iou = float(hbb_iou(pred[None], gt[None])[0, 0])
    w, h = sample.get("width"), sample.get("height")
    if isinstance(w, (int, float)) and isinstance(h, (int, float)) and w > 0 and h > 0:
        diag = math.hypot(w, h)
    else:
        diag = 4 * math.hypot(gt[2] - gt[0], gt[3] - gt[1]) or 1.0
    d = math.hypot((pred[0] + pred[2] - gt[0] - gt[2]) / 2, (pred[1] + pred[3] - gt[1] - gt[3]) / 2)
    close = finite01(1 - min(1.0, d / diag))
    lam = finite01(distance_weight)
    return {"overall": finite01((1 - lam) * iou + lam * close), "iou": finite01(iou), "distance": close, **parts}
