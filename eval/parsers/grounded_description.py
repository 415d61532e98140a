"""Grounded descriptions -> the plain caption and the (phrase, box) pairs, boxes in original-image pixels.

Two spellings of an object reference are read (docs/geochat-tasks.md §8):

- Qwen's reference tokens: ``<|object_ref_start|>phrase<|object_ref_end|>`` followed by one or more
  ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` spans (what `data_engine.answers.format_grounded_description` writes);
- plain inline boxes: a phrase directly followed by ``[x1, y1, x2, y2]`` (the phrase is the words since the last
  box or sentence break, at most 8).

The caption is the text with the tokens and boxes removed (phrases kept). ``format_ok``: at least one object, every
object in Qwen's spelling with well-formed integer spans, and nothing box-like left unread. At most `MAX_OBJECTS`
boxes are read.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from data_engine.frames import Frame, from_model
from eval.parsers.common import MAX_ABS_COORD, strip_wrappers

MAX_OBJECTS = 200
_NUM = r"\s*(-?\d+(?:\.\d+)?)\s*"
_SPAN = rf"<\|box_start\|>\({_NUM},{_NUM}\),\({_NUM},{_NUM}\)<\|box_end\|>"
_SPAN_RE = re.compile(_SPAN)
_REF_RE = re.compile(rf"<\|object_ref_start\|>([^<]{{0,200}}?)<\|object_ref_end\|>((?:\s*{_SPAN})+)")
# words of at most 40 characters: a bounded match per position keeps hostile text (1 MB of letters) linear
_PLAIN_RE = re.compile(rf"((?:[A-Za-z][\w'-]{{0,40}}\s{{1,8}}){{0,7}}[A-Za-z][\w'-]{{0,40}})\s{{0,8}}\[{_NUM},{_NUM},{_NUM},{_NUM}\]")
_LEFTOVER_RE = re.compile(r"<\|(?:box|object_ref)_(?:start|end)\|>|\[\s*-?\d+\s*,")


def _box(vals, frame: Frame | None) -> list[float] | None:
    v = np.asarray([float(x) for x in vals], dtype=np.float64)
    if not np.all(np.isfinite(v)) or np.abs(v).max() > MAX_ABS_COORD:
        return None
    if frame is not None:
        v = from_model(v, frame)
    x1, x2 = sorted((v[0], v[2]))
    y1, y2 = sorted((v[1], v[3]))
    return [float(x1), float(y1), float(x2), float(y2)]


def parse_grounded_description(text: str, frame: Frame | None = None, **_: Any) -> dict:
    """Parse a grounded description.

    Returns:
        ``{"caption": str, "objects": [{"phrase", "box"}], "boxes": [[x1, y1, x2, y2], ...], "n_parsed",
        "n_failed", "format_ok"}``.
    """
    body = strip_wrappers(text if isinstance(text, str) else "").strip()
    objects: list[dict] = []
    failed = 0

    def ref(m: re.Match) -> str:
        nonlocal failed
        phrase = " ".join(m.group(1).split())
        for s in _SPAN_RE.finditer(m.group(2)):
            box = _box(s.groups(), frame) if len(objects) < MAX_OBJECTS else None
            if box is None:
                failed += 1
            else:
                objects.append({"phrase": phrase, "box": box})
        return phrase

    caption = _REF_RE.sub(ref, body)
    n_qwen = len(objects)

    def plain(m: re.Match) -> str:
        nonlocal failed
        phrase = " ".join(m.group(1).split())
        box = _box(m.groups()[1:], frame) if len(objects) < MAX_OBJECTS else None
        if box is None:
            failed += 1
        else:
            objects.append({"phrase": phrase, "box": box})
        return phrase

    if "[" in caption:
        caption = _PLAIN_RE.sub(plain, caption)
    leftover = _LEFTOVER_RE.search(caption) is not None
    caption = " ".join(_LEFTOVER_RE.sub(" ", caption).split())
    ok = bool(objects) and n_qwen == len(objects) and not failed and not leftover and bool(caption)
    return {"caption": caption, "objects": objects, "boxes": [o["box"] for o in objects],
            "n_parsed": len(objects), "n_failed": failed + int(leftover), "format_ok": ok}
