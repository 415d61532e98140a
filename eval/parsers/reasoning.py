"""Think-then-answer completions (`data_engine.reasoning`): the answer block, the shape check, the reasoning length.

Definitions (docs/think-answer.md §1):

- **well-formed**: the whole completion is exactly one ``<think>…</think>`` block, then one ``<answer>…</answer>``
  block, with only whitespace around and between them and no other think/answer tag inside either block;
- **answer block**: the text inside the first complete ``<answer>…</answer>`` pair; ``""`` when there is none, so a
  completion that never closes its answer fails its task's format check instead of being read leniently;
- **reasoning length**: characters inside the first ``<think>…</think>`` pair, surrounding whitespace stripped
  (0 when there is no complete think block).

All functions accept any object (non-strings read as ``""``) and never raise; the patterns are linear-time.
"""

from __future__ import annotations

import re
from typing import Any

from data_engine.reasoning import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN

_NO_TAG = r"(?:(?!</?think>|</?answer>)[\s\S])*"
_WELL_FORMED_RE = re.compile(rf"\s*<think>({_NO_TAG})</think>\s*<answer>({_NO_TAG})</answer>\s*")
_ANSWER_RE = re.compile(r"<answer>([\s\S]*?)</answer>")
_THINK_RE = re.compile(r"<think>([\s\S]*?)</think>")


def _text(text: Any) -> str:
    return text if isinstance(text, str) else ""


def answer_block(text: Any) -> str:
    """The inside of the first complete answer block (whitespace stripped), ``""`` when there is none."""
    t = _text(text)
    if ANSWER_CLOSE not in t:
        return ""
    m = _ANSWER_RE.search(t)
    return m.group(1).strip() if m else ""


def is_well_formed(text: Any) -> bool:
    """Exactly one think block then one answer block, nothing else (see the module docstring)."""
    t = _text(text)
    if t.count(THINK_OPEN) != 1 or t.count(ANSWER_OPEN) != 1:
        return False
    return _WELL_FORMED_RE.fullmatch(t) is not None


def reasoning_chars(text: Any) -> int:
    """Characters of reasoning: the first complete think block's inside, stripped (0 when none)."""
    t = _text(text)
    if THINK_CLOSE not in t:
        return 0
    m = _THINK_RE.search(t)
    return len(m.group(1).strip()) if m else 0


def answer_view(text: Any, reasoning: Any) -> str:
    """What a parser reads: the answer block in ``think_answer`` mode, the text itself otherwise."""
    return answer_block(text) if reasoning == "think_answer" else _text(text)
