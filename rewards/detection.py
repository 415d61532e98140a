"""Detection reward ``rotated_iou_f1``: rotated-polygon IoU with optimal class-aware one-to-one matching.

Formula (ours; combines Visual-RFT's ``ΣIoU / max(n_GT, n_pred)`` with an F1 term, docs/rewards-and-metrics.md §1):

1. parse the completion (`eval.parsers.parse_detection`) with the target's class list and the model's frame;
   ``n_pred`` = parsed boxes + unreadable box attempts (``n_failed``: a garbled box is a wrong box);
2. IoU matrix between predicted and ground-truth quads (`eval.geometry.rotated_iou`, original pixels), set to 0
   where labels differ (a box with an unknown label matches nothing); computed sparsely, only for same-class pairs
   whose axis-aligned extents overlap (`eval.geometry.rotated_iou_sparse`), the only nonzero entries;
3. Hungarian matching maximising total IoU (`scipy.optimize.linear_sum_assignment`), one-to-one;
4. ``iou = Σ matched IoU / max(n_GT, n_pred)``: misses and extra boxes both dilute it;
   ``tp`` = matched pairs with IoU >= ``iou_threshold`` (0.5); ``precision = tp / n_pred``, ``recall = tp / n_GT``,
   ``f1 = 2 tp / (n_pred + n_GT)``;
5. ``overall = (1 - f1_weight) · iou + f1_weight · f1`` with ``f1_weight = 0.5``.

Self-intersecting answers: a predicted quad whose corners are written out of order (a "bow-tie",
`eval.geometry.quad_shape`) is a malformed box: it matches nothing, still counts in ``n_pred``, is counted in
``n_failed`` and sets ``format`` to 0. Its convex hull could be the right box, but crediting it would teach corner
orders that the DOTA devkit, which evaluates the quad as written, scores near 0; a dart (one reflex corner) is
a polygon, not a malformed one, and is scored as its convex hull like every other quad
(docs/detection-protocols.md#quad-policies-elsewhere).

Why each hack loses: duplicates and box spam raise ``n_pred`` (one-to-one matching leaves the copies unmatched),
so both terms shrink as ``1/n_pred``; a whole-image box has IoU ≈ (object area / image area) with one object and
matches only one; predicting every class adds wrongly labelled boxes that match nothing. Empty ground truth:
``overall = 1`` only when the answer says there are none (``empty``), else 0. A perfect answer scores exactly 1
in original pixels; through a model frame, rounding to integers costs a little IoU.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from data_engine.frames import Frame
from eval.geometry import BOWTIE, quad_shape, rotated_iou_sparse
from eval.parsers import completion_text
from eval.parsers.detection import parse_detection_arrays
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
    gc, pred_code = _label_codes(gt_labels)
    return _match_coded(pred_polys, _pred_codes(pred_labels, pred_code), gt_polys, gc)


def _label_codes(gt_labels: Sequence) -> tuple[np.ndarray, dict]:
    """(M,) int64 code per ground-truth label (first-appearance order) and the label -> code map for predictions.

    None is left out of the prediction map: a prediction without a known label matches nothing, even a
    ground-truth object whose label is None. An unhashable ground-truth label gets a code of its own (no
    prediction label, always a str or None, can equal it).
    """
    codes: dict = {}
    gc = np.empty(len(gt_labels), dtype=np.int64)
    for k, g in enumerate(gt_labels):
        try:
            gc[k] = codes.setdefault(g, len(codes))
        except TypeError:
            gc[k] = len(gt_labels) + k
    codes.pop(None, None)
    return gc, codes


def _pred_codes(pred_labels: Sequence, pred_code: dict) -> np.ndarray:
    """(N,) int64 codes of predicted labels; -1 (matches nothing) for None and labels not in the ground truth."""
    try:
        return np.fromiter(map(pred_code.get, pred_labels, repeat(-1)), dtype=np.int64, count=len(pred_labels))
    except TypeError:  # an unhashable label (only through the public `match_iou`) matches nothing
        return np.array([pred_code.get(p, -1) if _hashable(p) else -1 for p in pred_labels],
                        dtype=np.int64).reshape(-1)


def _hashable(x: Any) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


def _match_coded(pred_polys: np.ndarray, pc: np.ndarray, gt_polys: np.ndarray, gc: np.ndarray) -> np.ndarray:
    """`match_iou` on integer class codes.

    Only same-class pairs with overlapping axis-aligned extents get an IoU (`rotated_iou_sparse`): in an aerial
    scene that is ~1 pair per box instead of N x M, and every other entry of the class-masked IoU matrix is 0.

    Args:
        pred_polys: (N, 8) predicted quads; pc: (N,) their class codes (-1: matches nothing).
        gt_polys: (M, 8) ground-truth quads; gc: (M,) their class codes (>= 0).

    Returns:
        (K,) IoUs of matched pairs with IoU > 0, in prediction order.
    """
    ii, jj, v = rotated_iou_sparse(pred_polys, gt_polys, pc, gc)
    pos = v > 0
    ii, jj, v = ii[pos], jj[pos], v[pos]
    if v.size == 0:
        return np.zeros(0)
    # Each prediction and each GT box in exactly one positive pair: every optimal matching takes all of them
    # (dropping one loses its IoU and frees nothing another pair could use), so there is nothing to solve.
    if np.bincount(ii).max() == 1 and np.bincount(jj).max() == 1:
        return v
    # Otherwise solve on the block of rows/columns with some overlap, exactly the block of the dense formulation.
    rows, ri = np.unique(ii, return_inverse=True)
    cols, ci = np.unique(jj, return_inverse=True)
    sub = np.zeros((rows.size, cols.size))
    sub[ri, ci] = v
    r, c = linear_sum_assignment(sub, maximize=True)
    vals = sub[r, c]
    return vals[vals > 0]


_GT_MEMO: dict[int, tuple] = {}


def _ground_truth(target: dict) -> tuple[list[str], np.ndarray, list, np.ndarray, dict]:
    """(classes, (M, 8) GT quads, M labels, (M,) label codes, prediction label -> code) of a detection target,
    memoised per target object (decoded targets are shared across a GRPO group by `rewards.common.target_of`)."""
    key = id(target)
    hit = _GT_MEMO.get(key)
    if hit is not None and hit[0] is target:
        return hit[1]
    gt = [o for o in target.get("objects") or [] if isinstance(o, dict)]
    polys = np.asarray([np.asarray(o.get("poly"), dtype=np.float64).reshape(8) for o in gt]).reshape(-1, 8)
    labels = [o.get("label") for o in gt]
    res = (list(target.get("classes") or []), polys, labels, *_label_codes(labels))
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
    classes, gt_polys, gt_labels, gt_codes, pred_code = _ground_truth(target)
    out = parse_detection_arrays(completion_text(completion), frame=frame, classes=classes or None,
                                 box_type=box_type)
    labels = out["labels"]
    n_pred = len(labels) + out["n_failed"]
    n_gt = len(gt_labels)
    parts = {"format": float(out["format_ok"]), "n_pred": float(n_pred), "n_gt": float(n_gt),
             "n_failed": float(out["n_failed"]), "n_unknown_label": float(out["n_unknown_label"])}
    if n_gt == 0:
        ok = float(out["empty"])
        return {"overall": ok, "iou": ok, "precision": ok, "recall": ok, "f1": ok, **parts}
    if labels:
        codes = _pred_codes(labels, pred_code)
        bowtie = quad_shape(out["polys"]) == BOWTIE
        if bowtie.any():  # malformed boxes (module docstring): wrong boxes that match nothing
            codes[bowtie] = -1
            parts["n_failed"] += float(np.count_nonzero(bowtie))
            parts["format"] = 0.0
        matched = _match_coded(out["polys"], codes, gt_polys, gt_codes)
    else:
        matched = np.zeros(0)
    iou = float(matched.sum()) / max(n_gt, n_pred)
    tp = float(np.count_nonzero(matched >= iou_threshold))
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gt
    f1 = 2 * tp / (n_pred + n_gt)
    w = finite01(f1_weight)
    overall = (1 - w) * iou + w * f1
    return {"overall": finite01(overall), "iou": finite01(iou), "precision": finite01(precision),
            "recall": finite01(recall), "f1": finite01(f1), **parts}
