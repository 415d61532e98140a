"""Grounded-description reward ``grounding_description``: text part × box part (docs/geochat-tasks.md §8).

- text part: ROUGE-L F (β = 1.2) of the description with the references (`eval.metrics.captions.rouge_l`, the
  evaluator's; best single reference), times the distinct-bigram share (the caption repetition guard);
- box part: the referring-detection score of every predicted box against every true box, class-agnostic
  (`eval.metrics.referring.sample_scores`: 0.5 · matched IoU / max(n_pred, n_true) + 0.5 · F1@0.5).

``overall = text × box``: a fluent description without boxes, or boxes without a description, earns nothing; listing
many boxes pays in the box part as in `referring_iou_f1`.
"""

from __future__ import annotations

from typing import Any

from data_engine.frames import Frame
from eval.metrics.captions import caption_tokenize, rouge_l
from eval.metrics.referring import sample_scores
from eval.parsers import completion_text
from eval.parsers.grounded_description import parse_grounded_description
from rewards.caption import distinct_bigrams
from rewards.common import target_of

PARTS = ("text", "box", "n_boxes")
MAX_TOKENS = 200


def grounding_description(completion: Any, sample: dict, frame: Frame | None = None, **_: Any) -> dict:
    """``{"overall": text × box, "text", "box", "n_boxes"}``."""
    target = target_of(sample)
    refs = [r for r in target.get("references") or [] if isinstance(r, str) and r.strip()]
    gt = []
    for o in target.get("objects") or []:
        try:
            b = [float(v) for v in o["box"]]
        except (TypeError, ValueError, KeyError):
            continue
        if len(b) == 4:
            gt.append(b)
    out = parse_grounded_description(completion_text(completion), frame=frame)
    cap = " ".join(caption_tokenize(out["caption"])[:MAX_TOKENS])
    text = 0.0
    if cap and refs:
        text = max(rouge_l({0: cap}, {0: [r]})["rouge_l"] for r in refs) * distinct_bigrams(cap)
    s = sample_scores(out["boxes"], gt, empty_answer=False, thresholds=(0.5,))
    box = 0.5 * s["mean_iou"] + 0.5 * s["f1@0.5"]
    return {"overall": text * box, "text": text, "box": box, "n_boxes": float(len(out["boxes"]))}
