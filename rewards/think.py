"""Think-then-answer format reward ``think_format`` (GeoVLM-R1's format reward).

1 when the WHOLE completion is exactly one ``<think>…</think>`` block then one ``<answer>…</answer>`` block (only
whitespace around and between them, no stray think/answer tags; `eval.parsers.reasoning.is_well_formed`), else 0.
It judges the frame only; the answer inside is judged by the task's own rewards, which read the answer block
(`rewards.adapter.reward_view`). It declares ``full_completion`` so the adapter gives it the whole text. Parts:
``think_format`` (the same 0/1) and ``reasoning_chars`` (length of the think block, for logs and the store).
Weight it like any reward; GeoVLM-R1 adds it at equal weight to each task's accuracy reward
(docs/think-answer.md §3).

``min_reasoning_chars`` (kwarg, default 0: any well-formed frame pays) is the shortest think block that is paid: with
``kwargs: {min_reasoning_chars: 20}`` an empty ``<think></think>`` earns 0 like a malformed completion, so a policy is
not paid for the frame alone (docs/collapse-flags.md: the empty-think share).
"""

from __future__ import annotations

from typing import Any

from data_engine.errors import UserError
from data_engine.frames import Frame
from eval.parsers import completion_text, is_well_formed, reasoning_chars

PARTS = ("think_format", "reasoning_chars")


def think_format(completion: Any, sample: dict, frame: Frame | None = None, min_reasoning_chars: int = 0,
                 **_: Any) -> dict:
    """``{"overall": 0 | 1, "think_format", "reasoning_chars"}``.

    Args:
        min_reasoning_chars: a well-formed completion whose think block holds fewer characters (stripped) scores 0.
    """
    text = completion_text(completion)
    chars = reasoning_chars(text)
    try:
        floor = int(min_reasoning_chars)
    except (TypeError, ValueError):
        floor = 0  # a reward never raises; a bad kwarg is caught at config load (`check_think_kwargs`)
    ok = float(is_well_formed(text) and chars >= floor)
    return {"overall": ok, "think_format": ok, "reasoning_chars": float(chars)}


def check_think_kwargs(kwargs: dict, where: str) -> None:
    """Refuse a ``min_reasoning_chars`` that is not a whole number >= 0 (a config mistake fails at load time)."""
    v = kwargs.get("min_reasoning_chars", 0)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise UserError(f"{where}: think_format min_reasoning_chars must be an integer >= 0, got {v!r}")


think_format.full_completion = True  # also for the `RewardDef` below; documents the need on the function
