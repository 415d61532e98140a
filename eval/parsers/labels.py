"""Label matching: a model-written label -> one class of the dataset's class list, or None.

Order of attempts (first hit wins):

1. exact after normalisation (lowercase, '-' / '_' -> space, punctuation stripped, spaces collapsed), so
   ``Small-Vehicle``, ``small vehicle`` and ``small_vehicle.`` all map to ``small-vehicle``;
2. singular/plural: one trailing ``s`` / ``es`` removed or added on either side (``planes`` -> ``plane``);
3. fuzzy: `difflib` ratio >= ``FUZZY_CUTOFF`` (0.85) against the normalised names, best match only, and only when
   it beats the runner-up by ``FUZZY_MARGIN``; this catches typos (``harbour`` -> ``harbor``, ratio 0.92) but
   does not map an arbitrary string to some class (``ship`` vs ``shop`` would need 0.85; ``vehicle`` vs
   ``large vehicle`` is 0.70).

Anything else is unknown (None): parsers count it as ``n_unknown_label`` instead of guessing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from functools import lru_cache

FUZZY_CUTOFF = 0.85
FUZZY_MARGIN = 0.05
_PUNCT_RE = re.compile(r"[^\w\s]|_")
MAX_LABEL_CHARS = 64  # longer "labels" are prose, never a class name


def norm_label(label: str) -> str:
    """Lowercase, '-'/'_'/punctuation -> space, whitespace collapsed."""
    return " ".join(_PUNCT_RE.sub(" ", str(label).replace("-", " ").lower()).split())


@lru_cache(maxsize=256)
def _table(classes: tuple[str, ...]) -> dict[str, str]:
    """normalised form (and singular/plural variants) -> class name as given."""
    table: dict[str, str] = {}
    for c in classes:
        table.setdefault(norm_label(c), c)
    for c in classes:
        n = norm_label(c)
        for v in _variants(n):
            table.setdefault(v, c)
    return table


def _variants(n: str) -> list[str]:
    out = [n + "s", n + "es"]
    if n.endswith("es"):
        out.append(n[:-2])
    if n.endswith("s"):
        out.append(n[:-1])
    return out


@lru_cache(maxsize=65536)
def _match(label: str, classes: tuple[str, ...]) -> str | None:
    n = norm_label(label)
    if not n or len(n) > MAX_LABEL_CHARS:
        return None
    table = _table(classes)
    if n in table:
        return table[n]
    for v in _variants(n):
        if v in table:
            return table[v]
    names = {norm_label(c): c for c in classes}
    scored = sorted(((difflib.SequenceMatcher(None, n, k).ratio(), k) for k in names), reverse=True)
    if not scored or scored[0][0] < FUZZY_CUTOFF:
        return None
    if len(scored) > 1 and scored[0][0] - scored[1][0] < FUZZY_MARGIN:
        return None
    return names[scored[0][1]]


def match_label(label: str, classes: Sequence[str] | None) -> str | None:
    """The class of ``classes`` that ``label`` names, or None (see the module docstring for the rules).

    With ``classes`` None every non-empty label is accepted as its normalised form.
    """
    if not isinstance(label, str):
        return None
    if classes is None:
        n = norm_label(label)
        return n if n and len(n) <= MAX_LABEL_CHARS else None
    return _match(label, tuple(classes))
