"""XLRS-Bench's multiple-choice rule (lmms-eval ``tasks/xlrs/mcq_utils.py``; docs/benchmarks.md).

Extraction: remove the prefixes MME-RealWorld's script removes; a text without any capital A-E is no answer (the
empty set); else the letters of "(X)" patterns, else the single letters standing between spaces or punctuation,
else every letter a-e, upper-cased, as a set. Correct when that set equals the answer's letter set, so a
multi-answer question ("Overall Land use classification": several letters) needs all of them and nothing else.
Reported: micro accuracy, accuracy per category, and the macro mean over categories.
"""

from __future__ import annotations

import re
from collections import defaultdict

_PREFIXES = ("The best answer is", "The correct answer is", "The answer is", "The answer")
_PAREN = re.compile(r"\(([A-E])\)")
_SINGLE = re.compile(r"(?<![A-Za-z])([A-E])(?![A-Za-z])")
_ANY = re.compile(r"[A-Ea-e]")


def xlrs_letters(text) -> frozenset[str]:
    """The set of option letters the XLRS rule reads from `text` (empty when none); never raises."""
    s = "" if text is None else str(text)[:10_000]
    for p in _PREFIXES:
        s = s.replace(p, "")
    if not re.search(r"[A-E]", s):
        return frozenset()
    found = _PAREN.findall(s) or _SINGLE.findall(s) or _ANY.findall(s)
    return frozenset(x.upper() for x in found)


def xlrs_report(preds, answers, categories) -> dict[str, float]:
    """``{"accuracy", "macro_accuracy", "acc/<category>", "n"}`` of N answers under the set-equality rule."""
    ok = [bool(g := frozenset(re.findall(r"[A-E]", str(a).upper()))) and xlrs_letters(p) == g
          for p, a in zip(preds, answers, strict=True)]
    by: dict[str, list[bool]] = defaultdict(list)
    for c, k in zip(ok, categories, strict=True):
        by[str(k)].append(c)
    per = {k: sum(v) / len(v) for k, v in sorted(by.items())}
    return {"accuracy": sum(ok) / len(ok) if ok else 0.0, "macro_accuracy": sum(per.values()) / len(per) if per else 0.0,
            **{f"acc/{k}": v for k, v in per.items()}, "n": float(len(ok))}
