"""Damage reward ``damage_ordinal``: ordinal credit for a building's damage level, class match for the rest.

For a ``damage`` row whose classes are the four xBD damage levels (``qtype == "damage_level"``):
``overall = credit[|k_pred - k_true|]`` with the levels' ordinal indices (no-damage < minor < major < destroyed) and
``credit = (1.0, 0.5)`` by default: 1 exact, 0.5 one level off, 0 otherwise or when no level is named
(docs/multi-image.md §5). Other damage questions (disaster type) score 1 when the named class equals the answer.
"""

from __future__ import annotations

from typing import Any

from data_engine.change_text import DAMAGE_LEVELS
from data_engine.frames import Frame
from eval.parsers import completion_text, parse_classification
from eval.parsers.labels import norm_label
from rewards.common import finite01, target_of

PARTS = ("match", "distance", "format")


def damage_ordinal(completion: Any, sample: dict, frame: Frame | None = None, credit: Any = (1.0, 0.5),
                   **_: Any) -> dict:
    """Score one damage answer (see the module docstring).

    Args:
        credit: reward for a level distance of 0, 1, ... (beyond the list: 0).

    Returns:
        ``{"overall", "match" (exact), "distance" (levels apart; -1 unknown), "format"}``.
    """
    target = target_of(sample)
    classes = target.get("classes") if isinstance(target.get("classes"), list) else None
    out = parse_classification(completion_text(completion), classes=classes or None)
    gold, pred = target.get("answer"), out["label"]
    res = {"overall": 0.0, "match": 0.0, "distance": -1.0, "format": float(out["format_ok"])}
    if not isinstance(gold, str) or pred is None:
        return res
    exact = norm_label(pred) == norm_label(gold)
    res["match"] = float(exact)
    levels = [norm_label(c) for c in DAMAGE_LEVELS]
    if norm_label(gold) in levels and norm_label(pred) in levels:
        d = abs(levels.index(norm_label(pred)) - levels.index(norm_label(gold)))
        try:
            table = [float(c) for c in credit]
        except (TypeError, ValueError):
            table = [1.0, 0.5]
        res["distance"] = float(d)
        res["overall"] = finite01(table[d] if d < len(table) else 0.0)
    else:
        res["overall"] = float(exact)
    return res
