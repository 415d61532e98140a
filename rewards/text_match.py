"""VQA and classification rewards: normalised exact match, 1 or 0.

``vqa_match``: the extracted answer (`eval.parsers.parse_vqa`) and the ground-truth answer are compared after
`eval.metrics.vqa.normalize_answer` (case, punctuation, articles, yes/no synonyms, number words). When the sample
is multiple choice (``choices`` in the target, or the ground truth is a lone letter), the letters are compared
(`eval.metrics.vqa.extract_choice_letter`). An empty answer scores 0 even against an empty ground truth, and the
whole answer must match ("A or B", "yes no" never do: Visual-RFT #79, #176).

``count_error``: counting questions scored by how far off the stated number is, not by exact match (RSCoVLM's VHM
bench, GeoVLM-R1): ``1 - min(|pred - true| / max(true, 1), 1)``.

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
COUNT_PARTS = ("abs_error", "numeric")


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


def count_error(completion: Any, sample: dict, frame: Frame | None = None, **_: Any) -> dict:
    """``{"overall": 1 - min(|pred - true| / max(true, 1), 1), "abs_error", "numeric"}`` for a counting question.

    ``pred`` is the number the answer states (`eval.metrics.vqa.count_value`: digits or number words); an answer that
    is not one number, or a row whose true answer is not a number, scores 0 (docs/geochat-tasks.md §5).
    """
    from eval.metrics.vqa import count_value

    true = count_value(str(target_of(sample).get("answer", "")))
    pred = count_value(parse_vqa(completion_text(completion))["answer"])
    if true is None or pred is None:
        return {"overall": 0.0, "numeric": float(pred is not None)}  # no error to report without two numbers
    err = abs(pred - true)
    return {"overall": 1.0 - min(err / max(true, 1.0), 1.0), "abs_error": err, "numeric": 1.0}


def classification_match(completion: Any, sample: dict, frame: Frame | None = None, **_: Any) -> dict:
    """``{"overall": 0 | 1, "match", "format"}`` for a classification completion."""
    target = target_of(sample)
    out = parse_classification(completion_text(completion), classes=target.get("classes") or None)
    gold = target.get("label")
    ok = float(out["label"] is not None and isinstance(gold, str) and norm_label(out["label"]) == norm_label(gold))
    return {"overall": ok, "match": ok, "format": float(out["format_ok"])}
