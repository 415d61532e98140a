"""Detection reward ``rotated_iou_f1``: rotated-polygon IoU with optimal class-aware one-to-one matching.

Formula (ours; combines Visual-RFT's ``ΣIoU / max(n_GT, n_pred)`` with an F1 term, rewards-and-metrics.md §1):

1. parse the completion (`eval.parsers.parse_detection`) with the target's class list and the model's frame;
   ``n_pred`` = parsed boxes + unreadable box attempts (``n_failed``: a garbled box is a wrong box);
2. IoU matrix between predicted and ground-truth quads (`eval.geometry.rotated_iou`, original pixels), set to 0
   where labels differ (a box with an unknown label matches nothing);
3. Hungarian matching maximising total IoU (`scipy.optimize.linear_sum_assignment`), one-to-one;
4. ``iou = Σ matched IoU / max(n_GT, n_pred)``: misses and extra boxes both dilute it;
   ``tp`` = matched pairs with IoU >= ``iou_threshold`` (0.5); ``precision = tp / n_pred``, ``recall = tp / n_GT``,
   ``f1 = 2 tp / (n_pred + n_GT)``;
5. ``overall = (1 - f1_weight) · iou + f1_weight · f1`` with ``f1_weight = 0.5``.

Why each hack loses: duplicates and box spam raise ``n_pred`` (one-to-one matching leaves the copies unmatched),
so both terms shrink as ``1/n_pred``; a whole-image box has IoU ≈ (object area / image area) with one object and
matches only one; predicting every class adds wrongly labelled boxes that match nothing. Empty ground truth:
``overall = 1`` only when the answer says there are none (``empty``), else 0. A perfect answer scores exactly 1
in original pixels; through a model frame, rounding to integers costs a little IoU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from data_engine.frames import Frame
from eval.geometry import rotated_iou
from eval.parsers import completion_text, parse_detection
from rewards.common import finite01, target_of

PARTS = ("iou", "precision", "recall", "f1", "format", "n_pred", "n_gt", "n_failed", "n_unknown_label")


def match_iou(pred_polys: np.ndarray, pred_labels: Sequence, gt_polys: np.ndarray, gt_labels: Sequence) -> np.ndarray:
    """IoUs of the optimal one-to-one class-aware matching (maximum total IoU), one value per matched pair.

    Args:
        pred_polys: (N, 8) predicted quads; pred_labels: N labels (None never matches).
        gt_polys: (M, 8) ground-truth quads; gt_labels: M labels.

    Returns:
        (K,) IoUs of matched pairs with IoU > 0, K <= min(N, M).
    """
    if len(pred_polys) == 0 or len(gt_polys) == 0:
        return np.zeros(0)
    iou = rotated_iou(pred_polys, gt_polys)
    codes: dict = {}
    gc = np.fromiter((codes.setdefault(g, len(codes)) for g in gt_labels), dtype=np.int64, count=len(gt_labels))
    # unknown predicted labels (None or unseen) get -1 and match nothing
    pc = np.fromiter((codes.get(p, -1) if p is not None else -1 for p in pred_labels), dtype=np.int64,
                     count=len(pred_labels))
    iou = np.where(pc[:, None] == gc[None, :], iou, 0.0)
    # Only rows/columns with some overlap can be matched with positive IoU: solve on that (usually tiny) block.
    rows = np.nonzero(iou.max(axis=1) > 0)[0]
    cols = np.nonzero(iou.max(axis=0) > 0)[0]
    if rows.size == 0:
        return np.zeros(0)
    sub = iou[np.ix_(rows, cols)]
    r, c = linear_sum_assignment(sub, maximize=True)
    vals = sub[r, c]
    return vals[vals > 0]


_GT_MEMO: dict[int, tuple] = {}


def _ground_truth(target: dict) -> tuple[list[str], np.ndarray, list]:
    """(classes, (M, 8) GT quads, M labels) of a detection target, memoised per target object (decoded targets are
    shared across a GRPO group by `rewards.common.target_of`)."""
    key = id(target)
    hit = _GT_MEMO.get(key)
    if hit is not None and hit[0] is target:
        return hit[1]
    gt = [o for o in target.get("objects") or [] if isinstance(o, dict)]
    polys = np.asarray([np.asarray(o.get("poly"), dtype=np.float64).reshape(8) for o in gt]).reshape(-1, 8)
    res = (list(target.get("classes") or []), polys, [o.get("label") for o in gt])
    if len(_GT_MEMO) > 4096:
        _GT_MEMO.clear()
    _GT_MEMO[key] = (target, res)
    return res


def rotated_iou_f1(
    completion: Any,
    sample: dict,
    frame: Frame | None = None,
    iou_threshold: float = 0.5,
    f1_weight: float = 0.5,
    box_type: str | None = None,
    **_: Any,
) -> dict:
    """Score a detection completion against ``sample["target"]`` (see the module docstring).

    Args:
        completion: the answer (string or TRL conversational completion).
        sample: a schema row with a detection ``target`` (``objects`` with ``label``/``poly``, ``classes``).
        frame: the model's coordinate frame (None: original pixels).
        iou_threshold: IoU for a true positive in precision/recall/F1.
        f1_weight: share of the F1 term in ``overall``.
        box_type: expected box type, only for the ``format`` part.

    Returns:
        ``{"overall", "iou", "precision", "recall", "f1", "format", "n_pred", "n_gt", "n_failed",
        "n_unknown_label"}``, all finite; scores in [0, 1].
    """
    target = target_of(sample)
    classes, gt_polys, gt_labels = _ground_truth(target)
    out = parse_detection(completion_text(completion), frame=frame, classes=classes or None, box_type=box_type)
    objs = out["objects"]
    n_pred = len(objs) + out["n_failed"]
    n_gt = len(gt_labels)
    parts = {"format": float(out["format_ok"]), "n_pred": float(n_pred), "n_gt": float(n_gt),
             "n_failed": float(out["n_failed"]), "n_unknown_label": float(out["n_unknown_label"])}
    if n_gt == 0:
        ok = float(out["empty"])
        return {"overall": ok, "iou": ok, "precision": ok, "recall": ok, "f1": ok, **parts}
    pred_polys = np.asarray([o["poly"] for o in objs], dtype=np.float64).reshape(-1, 8)
    matched = match_iou(pred_polys, [o["label"] for o in objs], gt_polys, gt_labels)
    iou = float(matched.sum()) / max(n_gt, n_pred)
    tp = float(np.count_nonzero(matched >= iou_threshold))
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gt
    f1 = 2 * tp / (n_pred + n_gt)
    w = finite01(f1_weight)
    overall = (1 - w) * iou + w * f1
    return {"overall": finite01(overall), "iou": finite01(iou), "precision": finite01(precision),
            "recall": finite01(recall), "f1": finite01(f1), **parts}
