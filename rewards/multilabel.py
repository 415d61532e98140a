"""Multi-label reward ``multilabel_f1``: sample F1 of the named classes against the true ones.

F1 = 2|P∩T| / (|P| + |T|) (`eval.metrics.multilabel.sample_f1`, the metric's own definition); recall alone would be
maximised by naming every class, which GeoVLM-R1's reviewers pointed out, and F1 pays that in precision (hack
tests; docs/geochat-tasks.md §4). An empty truth scores 1 only for an explicit ``There are none.``.
"""

from __future__ import annotations

from typing import Any

from data_engine.frames import Frame
from eval.parsers import completion_text
from eval.parsers.multilabel import parse_multilabel
from rewards.common import target_of

PARTS = ("precision", "recall", "n_pred")


def multilabel_f1(completion: Any, sample: dict, frame: Frame | None = None, **_: Any) -> dict:
    """``{"overall": sample F1, "precision", "recall", "n_pred"}``."""
    target = target_of(sample)
    classes = [str(c) for c in target.get("classes") or []] or None
    truth = {str(x) for x in target.get("labels") or []}
    out = parse_multilabel(completion_text(completion), classes=classes)
    pred = set(out["labels"])
    if not truth:
        hit = float(out["empty"])
        return {"overall": hit, "precision": hit, "recall": hit, "n_pred": float(len(pred))}
    tp = len(pred & truth)
    prec = tp / len(pred) if pred else 0.0
    rec = tp / len(truth)
    return {"overall": 2 * tp / (len(pred) + len(truth)), "precision": prec, "recall": rec,
            "n_pred": float(len(pred))}
