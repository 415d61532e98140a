"""Zoom-in chain answers: ``<tool_call>`` blocks with ``image_zoom_in`` boxes, then a final answer.

A call is the text from one ``<tool_call>`` to the next ``</tool_call>`` (or the next ``<tool_call>``, or the end:
an unclosed call still counts). Its JSON is read from the first ``{`` with a non-recursive-safe decoder; ``name``
must be ``image_zoom_in`` and ``arguments.bbox`` (or ``bbox_2d``; ``arguments`` may itself be a JSON string) four
finite numbers. When the JSON is broken but a ``"bbox": [..4 numbers..]`` is visible, the box is recovered and the
call marked ``repaired`` (not format-valid). Nested or repeated tags give one entry per opening tag, so an empty
outer tag shows up as a failed call instead of vanishing. Boxes are NOT re-ordered or clipped here: validity
(inside the view, positive size) is the reward's business and needs the box as written.

The final answer is the text left after removing every call block and stray tool tags, extracted like a VQA answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from data_engine.answers import ZOOM_TOOL_NAME
from data_engine.frames import Frame, from_model
from eval.parsers.common import finite_values
from eval.parsers.text_answers import parse_vqa

MAX_CALLS = 64
_CALL_RE = re.compile(r"<tool_call>(.*?)(?=</tool_call>|<tool_call>|\Z)", re.DOTALL | re.IGNORECASE)
_BLOCK_RE = re.compile(r"<tool_call>.*?(?:</tool_call>|(?=<tool_call>)|\Z)", re.DOTALL | re.IGNORECASE)
_TAG_RE = re.compile(r"</?tool_call>|</?tool_response>", re.IGNORECASE)
_CANON_CALL_RE = re.compile(r"^\s*<tool_call>\n(\{[^\n]*\})\n</tool_call>\s*$")
_BBOX_FALLBACK_RE = re.compile(r"[\"']?bbox(?:_2d)?[\"']?\s*:\s*\[([^\[\]]{0,200})\]", re.IGNORECASE)
_DECODER = json.JSONDecoder()


def parse_tool_calls(text: str, frame: Frame | None = None) -> tuple[list[dict], int]:
    """All zoom calls in ``text``.

    Returns:
        (calls, n_over_cap): each call ``{"name": str, "bbox_model": [4 floats] | None, "box": [4 floats] | None,
        "valid_syntax": bool, "repaired": bool}`` with ``box`` in original pixels (``frame`` None: identity);
        calls beyond ``MAX_CALLS`` are counted, not parsed.
    """
    text = text if isinstance(text, str) else ""
    calls = []
    over = 0
    for m in _CALL_RE.finditer(text):
        if len(calls) >= MAX_CALLS:
            over += 1
            continue
        calls.append(_one_call(m.group(1), frame))
    return calls, over


def _one_call(chunk: str, frame: Frame | None) -> dict:
    obj = None
    start = chunk.find("{")
    if start >= 0:
        try:
            obj, _ = _DECODER.raw_decode(chunk, start)
        except (ValueError, RecursionError):
            obj = None
    name, vals, repaired = "", None, False
    if isinstance(obj, dict):
        name = obj.get("name") if isinstance(obj.get("name"), str) else ""
        args = obj.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except (ValueError, RecursionError):
                args = None
        if isinstance(args, dict):
            vals = finite_values(args.get("bbox", args.get("bbox_2d")))
    if vals is None or len(vals) != 4:
        vals = None
        fb = _BBOX_FALLBACK_RE.search(chunk)
        if fb:
            nums = finite_values([t.strip() for t in fb.group(1).split(",")])
            if nums is not None and len(nums) == 4:
                vals, repaired = nums, True
                name = name or (ZOOM_TOOL_NAME if ZOOM_TOOL_NAME in chunk else "")
    if name != ZOOM_TOOL_NAME:
        vals = None
    box = None
    if vals is not None:
        b = np.asarray(vals, dtype=np.float64)
        b = from_model(b, frame) if frame is not None else b
        box = [float(v) for v in b] if np.all(np.isfinite(b)) else None
    return {
        "name": name,
        "bbox_model": vals,
        "box": box,
        "valid_syntax": box is not None and not repaired,
        "repaired": repaired,
    }


def parse_zoom(text: str, frame: Frame | None = None, choices: Sequence[str] | None = None, **_: Any) -> dict:
    """Parse a (concatenated) zoom-chain completion.

    Returns:
        ``{"calls": [...] (see `parse_tool_calls`), "answer": str, "choice": str | None, "n_calls": int,
        "n_parsed": valid calls, "n_failed": invalid or over-cap calls, "answer_ok": bool, "format_ok": bool}``.
        ``format_ok``: every call parses without repair and the final answer is a well-formed VQA answer.
    """
    text = text if isinstance(text, str) else ""
    calls, over = parse_tool_calls(text, frame)
    rest = _TAG_RE.sub(" ", _BLOCK_RE.sub(" ", text))
    ans = parse_vqa(rest, choices=choices)
    n_ok = sum(c["valid_syntax"] for c in calls)
    n_failed = len(calls) - n_ok + over
    return {
        "calls": calls,
        "answer": ans["answer"],
        "choice": ans["choice"],
        "n_calls": len(calls) + over,
        "n_parsed": n_ok,
        "n_failed": n_failed,
        "answer_ok": ans["format_ok"],
        "format_ok": bool(n_failed == 0 and ans["format_ok"]),
    }


def is_canonical_call(turn_text: str) -> bool:
    """True when one assistant turn is exactly the tool call `data_engine.answers.format_zoom_call` writes."""
    m = _CANON_CALL_RE.match(turn_text if isinstance(turn_text, str) else "")
    if not m:
        return False
    calls, _ = parse_tool_calls(turn_text)
    return len(calls) == 1 and calls[0]["valid_syntax"]
