"""Think-then-answer format reward ``think_format`` (GeoVLM-R1's format reward).

1 when the WHOLE completion is exactly one ``<think>…</think>`` block then one ``<answer>…</answer>`` block (only
whitespace around and between them, no stray think/answer tags; `eval.parsers.reasoning.is_well_formed`), else 0.
It judges the frame only; the answer inside is judged by the task's own rewards, which read the answer block
(`rewards.adapter.reward_view`). It declares ``full_completion`` so the adapter gives it the whole text. Parts:
``think_format`` (the same 0/1) and ``reasoning_chars`` (length of the think block, for logs and the store).
Weight it like any reward; GeoVLM-R1 adds it at equal weight to each task's accuracy reward
(docs/think-answer.md §3).
"""

from __future__ import annotations

from typing import Any

from data_engine.frames import Frame
from eval.parsers import completion_text, is_well_formed, reasoning_chars

PARTS = ("think_format", "reasoning_chars")


def think_format(completion: Any, sample: dict, frame: Frame | None = None, **_: Any) -> dict:
    """``{"overall": 0 | 1, "think_format", "reasoning_chars"}``."""
    text = completion_text(completion)
    ok = float(is_well_formed(text))
    return {"overall": ok, "think_format": ok, "reasoning_chars": float(reasoning_chars(text))}


think_format.full_completion = True  # also for the `RewardDef` below; documents the need on the function
