"""MME-RealWorld's official multiple-choice answer extraction and accuracy (``evaluation/eval_your_results.py`` of
the MME-RealWorld release; docs/benchmarks.md).

Extraction: remove the prefixes "The best answer is", "The correct answer is", "The answer is" and "The answer";
a text of more than 10 words with no capital A-E is no answer (""); else the first capital A-E anywhere in the text
(so "A large airport" answers A, as the official script does); else the letter of the first choice string that
contains the text; else "". Accuracy is exact letter equality, reported overall and per category, with the count
of E answers ("The image does not feature ...").
"""

from __future__ import annotations

import re
from collections import defaultdict

_PREFIXES = ("The best answer is", "The correct answer is", "The answer is", "The answer")
_LETTER = re.compile(r"[ABCDE]")


def mme_extract(text, choices=()) -> str:
    """The option letter the official MME-RealWorld script reads from `text` ("" when none); never raises."""
    s = "" if text is None else str(text).strip()
    for p in _PREFIXES:
        s = s.replace(p, "")
    if len(s.split()) > 10 and not _LETTER.search(s):
        return ""
    m = _LETTER.search(s)
    if m:
        return m.group(0)
    s = s.strip()
    for k, c in enumerate(list(choices or [])[:5]):
        if s and s in str(c):
            return "ABCDE"[k]
    return ""


def mme_report(preds, gts, categories, choices) -> dict[str, float]:
    """``{"accuracy", "acc/<category>", "n", "n_E"}`` of N answers (letters extracted with `mme_extract`)."""
    letters = [mme_extract(p, c) for p, c in zip(preds, choices, strict=True)]
    ok = [bool(g) and p == str(g).strip().upper() for p, g in zip(letters, gts, strict=True)]
    by: dict[str, list[bool]] = defaultdict(list)
    for c, k in zip(ok, categories, strict=True):
        by[str(k)].append(c)
    return {"accuracy": sum(ok) / len(ok) if ok else 0.0, **{f"acc/{k}": sum(v) / len(v) for k, v in sorted(by.items())},
            "n": float(len(ok)), "n_E": float(sum(p == "E" for p in letters))}
