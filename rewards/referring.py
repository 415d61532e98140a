"""Referring-detection reward ``referring_iou_f1`` (zero or more boxes per expression).

1. parse the completion (`eval.parsers.parse_referring`, boxes in original pixels through the model's frame);
2. match predicted to true boxes one-to-one by the Hungarian algorithm maximising total IoU
   (`eval.metrics.referring.matched_ious`, the evaluator's own matching);
3. ``mean_iou`` = sum of matched IoU / max(n_pred, n_true) and ``f1`` = F1 at IoU 0.5 of that matching;
   ``overall = 0.5 * mean_iou + 0.5 * f1``.

An expression that matches nothing scores 1 only for an explicit ``There are none.``; any box there, or an empty /
unreadable answer to a non-empty target, scores 0. Because both parts divide by the larger count, listing many boxes
or the whole image scores below an honest partial answer (hack tests; docs/geochat-tasks.md §3).
"""

from __future__ import annotations

from typing import Any

from data_engine.frames import Frame
from eval.metrics.referring import sample_scores
from eval.parsers import completion_text
from eval.parsers.referring import parse_referring
from rewards.common import target_of

PARTS = ("mean_iou", "f1", "n_pred", "n_true")


def referring_iou_f1(completion: Any, sample: dict, frame: Frame | None = None, **_: Any) -> dict:
    """``{"overall", "mean_iou", "f1", "n_pred", "n_true"}`` in [0, 1] (counts as floats)."""
    target = target_of(sample)
    gt = target.get("boxes") or []
    try:
        gt = [[float(v) for v in b] for b in gt if len(b) == 4]
    except (TypeError, ValueError):
        gt = []
    pred = parse_referring(completion_text(completion), frame=frame)
    s = sample_scores(pred["boxes"], gt, pred["empty"], thresholds=(0.5,))
    return {"overall": 0.5 * s["mean_iou"] + 0.5 * s["f1@0.5"], "mean_iou": s["mean_iou"], "f1": s["f1@0.5"],
            "n_pred": float(len(pred["boxes"])), "n_true": float(len(gt))}
