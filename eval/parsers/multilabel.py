"""Multi-label classification answers -> the set of classes named.

The answer is split on semicolons and line breaks (class names may contain commas, e.g. BigEarthNet's
"Transitional woodland, shrub"); each piece is matched to the class list: exactly after `norm_label` (any length),
else by `eval.parsers.labels.match_label` (plural/singular, typos) for pieces up to its length cap. ``There are
none.`` (and variants) is the empty set. At most `MAX_PIECES` pieces are read; the rest count as failed.
``format_ok``: the exact shape `data_engine.answers.format_multilabel` writes: non-empty, every piece exactly a
class name (after normalisation), no class twice, no markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from eval.parsers.common import strip_wrappers, unfence
from eval.parsers.labels import match_label, norm_label

MAX_PIECES = 100
_SPLIT_RE = re.compile(r"[;\n]+")
_EMPTY_RE = re.compile(r"^\s*(there (are|is) (none|no\b.*)|none|no (classes|labels)\b.*)\s*\.?\s*$", re.IGNORECASE)
_MARKUP_RE = re.compile(r"[<>{}\[\]`]")


@lru_cache(maxsize=256)
def _exact(classes: tuple[str, ...]) -> dict[str, str]:
    return {norm_label(c): c for c in classes}


def parse_multilabel(text: str, classes: Sequence[str] | None = None, **_: Any) -> dict:
    """Parse a multi-label answer.

    Returns:
        ``{"labels": [class, ...] (first-named order, no repeats), "empty": bool, "n_parsed", "n_failed",
        "format_ok"}``; without ``classes`` the normalised pieces are the labels.
    """
    raw = text if isinstance(text, str) else ""
    body = unfence(strip_wrappers(raw)).strip()
    if _EMPTY_RE.match(body):
        return {"labels": [], "empty": True, "n_parsed": 0, "n_failed": 0, "format_ok": True}
    pieces = [p.strip().rstrip(".").strip() for p in _SPLIT_RE.split(body)]
    pieces = [p for p in pieces if p]
    over = max(0, len(pieces) - MAX_PIECES)
    exact = _exact(tuple(classes)) if classes else {}
    labels: list[str] = []
    failed, inexact, repeats = over, 0, 0
    for p in pieces[:MAX_PIECES]:
        n = norm_label(p)
        lab = (exact.get(n) or match_label(p, classes)) if classes else (n or None)
        if lab is None:
            failed += 1
            continue
        inexact += int(classes is not None and n not in exact)
        if lab in labels:
            repeats += 1
            continue
        labels.append(lab)
    ok = bool(labels) and not failed and not inexact and not repeats and not _MARKUP_RE.search(body)
    return {"labels": labels, "empty": False, "n_parsed": len(labels), "n_failed": failed + repeats,
            "format_ok": ok}
