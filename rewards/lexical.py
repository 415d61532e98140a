"""Lexical caption rewards GeoVLM-R1 uses, available by name: ``rouge_l``, ``levenshtein_ratio``, ``jaccard``.

Each compares the parsed caption (`eval.parsers.parse_caption`) with every reference and keeps the best score
(docs/geochat-tasks.md §6):

- ``rouge_l``: ROUGE-L F (β = 1.2) of the caption tokens against one reference, as pycocoevalcap's ``Rouge`` scores
  a single reference (`eval.metrics.captions.rouge_l`, the evaluator's own function);
- ``levenshtein_ratio``: `rapidfuzz.distance.Levenshtein.normalized_similarity` of the lower-cased caption and
  reference strings (1 − edit distance / the longer length);
- ``jaccard``: |A ∩ B| / |A ∪ B| of the caption's and the reference's token sets (`caption_tokenize`).

Like ``cider_d``, ``overall`` is multiplied by the share of distinct word bigrams (repeating a reference phrase does
not pay), and a caption is scored on its first `MAX_TOKENS` tokens. Parts: ``score`` (before the guard),
``distinct``.
"""

from __future__ import annotations

from typing import Any

from data_engine.frames import Frame
from eval.metrics.captions import caption_tokenize, rouge_l
from eval.parsers import completion_text, parse_caption
from rewards.caption import distinct_bigrams, references_of

PARTS = ("score", "distinct")
MAX_TOKENS = 200


def _caption(completion: Any) -> str:
    return " ".join(caption_tokenize(parse_caption(completion_text(completion))["caption"])[:MAX_TOKENS])


def _result(best: float, caption: str, repetition_guard: bool) -> dict:
    distinct = distinct_bigrams(caption) if repetition_guard else 1.0
    return {"overall": best * distinct, "score": best, "distinct": distinct}


def rouge_l_reward(completion: Any, sample: dict, frame: Frame | None = None, repetition_guard: bool = True,
                   **_: Any) -> dict:
    """Best single-reference ROUGE-L F of the caption."""
    cap, refs = _caption(completion), references_of(sample)
    if not cap or not refs:
        return {"overall": 0.0, "score": 0.0, "distinct": 1.0}
    best = max(rouge_l({0: cap}, {0: [r]})["rouge_l"] for r in refs)
    return _result(best, cap, repetition_guard)


def levenshtein_ratio(completion: Any, sample: dict, frame: Frame | None = None, repetition_guard: bool = True,
                      **_: Any) -> dict:
    """Best normalised Levenshtein similarity of the caption and a reference (rapidfuzz)."""
    from rapidfuzz.distance import Levenshtein
    cap, refs = _caption(completion), references_of(sample)
    if not cap or not refs:
        return {"overall": 0.0, "score": 0.0, "distinct": 1.0}
    best = max(Levenshtein.normalized_similarity(cap, " ".join(caption_tokenize(r))) for r in refs)
    return _result(float(best), cap, repetition_guard)


def jaccard(completion: Any, sample: dict, frame: Frame | None = None, repetition_guard: bool = True,
            **_: Any) -> dict:
    """Best token-set Jaccard index of the caption and a reference."""
    cap, refs = _caption(completion), references_of(sample)
    words = set(cap.split())
    if not words or not refs:
        return {"overall": 0.0, "score": 0.0, "distinct": 1.0}
    best = max(len(words & (r := set(caption_tokenize(ref)))) / len(words | r) for ref in refs)
    return _result(best, cap, repetition_guard)
