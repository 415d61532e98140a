"""Referring detection (zero or more boxes per expression): one-to-one matching and the benchmark metrics.

Definitions (docs/geochat-tasks.md §2). Per sample, predicted and true horizontal boxes (original pixels) are matched
one-to-one by the Hungarian algorithm maximising total IoU (`matched_ious`); ``TP@t`` counts matched pairs with
IoU >= t. Then

- ``precision@t = TP@t / n_pred``, ``recall@t = TP@t / n_true``, ``f1@t`` their harmonic mean; a sample with no
  true box scores 1 on all three when the answer is empty and 0 otherwise, and an empty answer to a non-empty
  sample scores 0;
- dataset metrics are means over samples: ``precision@0.5``, ``precision@0.25``, ``recall@0.5``, ``f1@0.5``,
  ``mean_iou`` (sum of matched IoU / max(n_pred, n_true)), and ``precision@0.5/<group>`` per split group:
  ``single`` (one true box), ``multi`` (two or more), ``none`` (no true box), and by size ``small``, ``medium``,
  ``large``: the record's own ``size_group`` when the source has one (GeoChat-Bench), else the mean true-box area
  in original pixels against COCO's thresholds (< 32^2 small, < 96^2 medium, else large).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from eval.geometry.iou import hbb_iou

SIZE_THRESHOLDS = (32.0**2, 96.0**2)  # COCO area ranges, original pixels
THRESHOLDS = (0.5, 0.25)


def matched_ious(pred, gt) -> np.ndarray:
    """IoUs of the one-to-one matching of predicted to true boxes that maximises total IoU.

    Args:
        pred: (P, 4) ``x1, y1, x2, y2`` boxes.
        gt: (G, 4) boxes.

    Returns:
        (min(P, G),) float64 IoU of each matched pair (pairs with IoU 0 included; empty when P or G is 0).
    """
    p = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    if not len(p) or not len(g):
        return np.zeros(0)
    iou = hbb_iou(p, g)
    r, c = linear_sum_assignment(iou, maximize=True)
    return iou[r, c]


def sample_scores(pred, gt, empty_answer: bool, thresholds: Sequence[float] = THRESHOLDS) -> dict[str, float]:
    """Per-sample ``precision@t``, ``recall@t``, ``f1@t`` for each threshold and ``mean_iou`` (see module doc).

    Args:
        pred: (P, 4) predicted boxes.
        gt: (G, 4) true boxes.
        empty_answer: the answer said there is nothing (``There are none.``); only then does an empty prediction
            score on a sample without true boxes.
    """
    p = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    out: dict[str, float] = {}
    if not len(g) or not len(p):
        hit = float(not len(g) and not len(p) and empty_answer)
        for t in thresholds:
            out.update({f"precision@{t}": hit, f"recall@{t}": hit, f"f1@{t}": hit})
        out["mean_iou"] = hit
        return out
    ious = matched_ious(p, g)
    for t in thresholds:
        tp = float((ious >= t).sum())
        prec, rec = tp / len(p), tp / len(g)
        out.update({f"precision@{t}": prec, f"recall@{t}": rec,
                    f"f1@{t}": 2 * prec * rec / (prec + rec) if tp else 0.0})
    out["mean_iou"] = float(ious.sum()) / max(len(p), len(g))
    return out


def size_group(gt, given: str | None = None) -> str | None:
    """``small`` / ``medium`` / ``large`` of a sample: ``given`` when the source names it, else by the mean true-box
    area (original pixels) against `SIZE_THRESHOLDS`; None without true boxes."""
    if given in ("small", "medium", "large"):
        return given
    g = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    if not len(g):
        return None
    area = float(np.mean(np.clip(g[:, 2] - g[:, 0], 0, None) * np.clip(g[:, 3] - g[:, 1], 0, None)))
    return "small" if area < SIZE_THRESHOLDS[0] else "medium" if area < SIZE_THRESHOLDS[1] else "large"


def referring_metrics(samples: Sequence[dict], groups: Sequence[Sequence[str]]) -> dict[str, float]:
    """Dataset metrics: means of the per-sample scores, and ``precision@0.5`` / ``precision@0.25`` per group.

    Args:
        samples: per-sample score dicts (`sample_scores`).
        groups: for each sample, the groups it belongs to (e.g. ``("multi", "small")``).
    """
    n = len(samples)
    keys = ("precision@0.5", "precision@0.25", "recall@0.5", "f1@0.5", "mean_iou")
    out = {k: float(np.mean([s[k] for s in samples])) if n else 0.0 for k in keys}
    names = sorted({g for gs in groups for g in gs})
    for name in names:
        members = [s for s, gs in zip(samples, groups, strict=True) if name in gs]
        for k in ("precision@0.5", "precision@0.25"):
            out[f"{k}/{name}"] = float(np.mean([s[k] for s in members]))
        out[f"n/{name}"] = float(len(members))
    return out
