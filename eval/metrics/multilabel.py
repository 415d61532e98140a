"""Multi-label classification metrics on 0/1 indicator matrices (docs/geochat-tasks.md §4).

The definitions are scikit-learn's (tested equal to it on held-out cases):

- ``sample_f1``: mean over samples of 2|P∩T| / (|P| + |T|) — `sklearn.metrics.f1_score(average="samples",
  zero_division=1)`: a sample with no true and no predicted label scores 1;
- ``micro_f1``: 2·ΣTP / (2·ΣTP + ΣFP + ΣFN) over every (sample, class) cell — ``average="micro"``;
- ``macro_f1``: mean per-class F1 over the classes that occur in the truth or the predictions of the evaluated set
  (F1 of a class that occurs in neither is undefined) — ``average="macro"`` on those columns;
- ``mAP``: mean per-class average precision over the classes with a true positive sample, with the predictions as
  the scores (a VLM answer carries no confidence) — `sklearn.metrics.average_precision_score(average="macro")` on
  those columns. With 0/1 scores a class's AP is ``R·P + (1 − R)·prevalence`` (P, R of its predictions).
"""

from __future__ import annotations

import numpy as np


def indicators(label_sets, classes) -> np.ndarray:
    """(N, C) uint8 indicator matrix of label lists over ``classes`` (labels outside it are ignored)."""
    index = {c: j for j, c in enumerate(classes)}
    out = np.zeros((len(label_sets), len(classes)), dtype=np.uint8)
    for i, labels in enumerate(label_sets):
        for lab in labels or ():
            j = index.get(lab)
            if j is not None:
                out[i, j] = 1
    return out


def sample_f1(y_true, y_pred) -> np.ndarray:
    """(N,) per-sample F1 of (N, C) indicator matrices (1 where both rows are empty)."""
    t, p = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    tp = (t & p).sum(1)
    denom = t.sum(1) + p.sum(1)
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 1.0)


def multilabel_metrics(y_true, y_pred) -> dict[str, float]:
    """``sample_f1``, ``micro_f1``, ``macro_f1``, ``mAP`` (module docstring) of (N, C) indicator matrices."""
    t, p = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    if not t.size:
        return {"sample_f1": 0.0, "micro_f1": 0.0, "macro_f1": 0.0, "mAP": 0.0}
    tp, fp, fn = (t & p).sum(0), (~t & p).sum(0), (t & ~p).sum(0)
    micro_den = 2 * tp.sum() + fp.sum() + fn.sum()
    seen = (t | p).any(0)
    per_class = 2 * tp[seen] / (2 * tp[seen] + fp[seen] + fn[seen])
    pos = t.sum(0)
    has_pos = pos > 0
    prec = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    rec = tp / np.maximum(pos, 1)
    ap = rec * prec + (1 - rec) * pos / len(t)
    return {
        "sample_f1": float(sample_f1(t, p).mean()),
        "micro_f1": float(2 * tp.sum() / micro_den) if micro_den else 1.0,
        "macro_f1": float(per_class.mean()) if seen.any() else 1.0,
        "mAP": float(ap[has_pos].mean()) if has_pos.any() else 0.0,
    }
