"""VQA and classification rewards: normalised exact match, 1 or 0.

``vqa_match``: the extracted answer (`eval.parsers.parse_vqa`) and the ground-truth answer are compared after
`eval.metrics.vqa.normalize_answer` (case, punctuation, articles, yes/no synonyms, number words). When the sample
is multiple choice (``choices`` in the target, or the ground truth is a lone letter), the letters are compared
(`eval.metrics.vqa.extract_choice_letter`). An empty answer scores 0 even against an empty ground truth, and the
whole answer must match ("A or B", "yes no" never do: Visual-RFT #79, #176).

``classification_match``: the class the answer names (`eval.parsers.parse_classification`, cut-off fuzzy label
matching) equals the target label.
"""

from __future__ import annotations

from typing import Any

from data_engine.frames import Frame
from eval.parsers import completion_text, parse_classification, parse_vqa
from eval.parsers.labels import norm_label
from rewards.common import target_of

PARTS = ("match", "format")


def answers_match(pred: str, gold: Any, choices: Any = None) -> bool:
    """Normalised exact match of a predicted answer string and a ground-truth answer (letters for MCQ)."""
    from eval.metrics.vqa import extract_choice_letter, normalize_answer

    if not isinstance(pred, str) or not pred.strip():
        return False
    gold = "" if gold is None else str(gold)
    gold_letter = extract_choice_letter(gold) if (choices or len(gold.strip().rstrip(".")) == 1) else None
    if gold_letter:
        return extract_choice_letter(pred) == gold_letter
    g = normalize_answer(gold)
    return bool(g) and normalize_answer(pred) == g


def vqa_match(completion: Any, sample: dict, frame: Frame | None = None, **_: Any) -> dict:
    """``{"overall": 0 | 1, "match", "format"}`` for a VQA completion."""
    target = target_of(sample)
    out = parse_vqa(completion_text(completion))
    ok = float(answers_match(out["answer"], target.get("answer"), target.get("choices")))
    return {"overall": ok, "match": ok, "format": float(out["format_ok"])}


def classification_match(completion: Any, sample: dict, frame: Frame | None = None, **_: Any) -> dict:
    """``{"overall": 0 | 1, "match", "format"}`` for a classification completion."""
    target = target_of(sample)
    out = parse_classification(completion_text(completion), classes=target.get("classes") or None)
    gold = target.get("label")
    ok = float(out["label"] is not None and isinstance(gold, str) and norm_label(out["label"]) == norm_label(gold))
    return {"overall": ok, "match": ok, "format": float(out["format_ok"])}
