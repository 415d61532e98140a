"""Small pieces every reward shares: decoding a sample, resolving a frame, keeping numbers finite."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from data_engine.frames import Frame
from data_engine.schema import load_target


@lru_cache(maxsize=4096)
def _decode(text: str) -> Any:
    """Decoded JSON target, memoised: the G completions of one GRPO group share one target string. Callers must
    not mutate the result."""
    return json.loads(text)


def target_of(sample: dict[str, Any]) -> dict[str, Any]:
    """The decoded ``target`` of a schema row (a dict or a JSON string); {} when it is missing or malformed."""
    try:
        raw = sample.get("target")
        t = _decode(raw) if isinstance(raw, str) else load_target(sample)
    except Exception:  # noqa: BLE001 - a malformed target is reported by check_rewards, not raised per completion
        return {}
    return t if isinstance(t, dict) else {}


def frame_of(value: Any) -> Frame | None:
    """A `Frame` from a Frame, its ``to_dict`` form or that dict as JSON; None for None/empty."""
    if value is None or isinstance(value, Frame):
        return value
    if isinstance(value, str):
        if not value.strip():
            return None
        value = json.loads(value)
    return Frame.from_dict(value)


def finite01(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    """``x`` clamped to [lo, hi]; non-finite values become ``lo`` (a reward never leaks NaN/inf)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return lo
    if not math.isfinite(x):
        return lo
    return min(hi, max(lo, x))
