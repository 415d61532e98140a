"""Scene classification accuracy: top-1 overall, per class, and the mean of per-class accuracies.

Labels are compared after `normalize_label` (lowercase, "_" and "-" as spaces, whitespace collapsed), so
"Dense_Residential", "dense-residential" and "dense residential" are one class. A missing prediction (None) is
wrong.
"""

from __future__ import annotations

import re


def normalize_label(label) -> str:
    """Lowercase, treat "_" and "-" as spaces, collapse whitespace, strip a trailing period."""
    s = re.sub(r"[_\-\s]+", " ", str(label).strip().lower()).strip()
    return s[:-1].rstrip() if s.endswith(".") else s


def classification_accuracy(preds, gts) -> dict:
    """Top-1 accuracy.

    Args:
        preds: N predicted labels (None = no answer).
        gts: N ground-truth labels.

    Returns:
        ``{"accuracy", "mean_class_accuracy", "per_class": {normalised label: acc}, "n"}``; classes are those
        present in ``gts``.
    """
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions for {len(gts)} labels")
    per: dict = {}
    for p, g in zip(preds, gts, strict=False):
        key = normalize_label(g)
        per.setdefault(key, []).append(p is not None and normalize_label(p) == key)
    n = len(gts)
    total = sum(sum(v) for v in per.values())
    per_class = {c: sum(v) / len(v) for c, v in sorted(per.items())}
    return {
        "accuracy": total / n if n else 0.0,
        "mean_class_accuracy": sum(per_class.values()) / len(per_class) if per_class else 0.0,
        "per_class": per_class,
        "n": n,
    }
