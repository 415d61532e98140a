"""Shared pieces of the output parsers: completion text, code fences, numbers, lenient JSON objects.

Every function here accepts hostile input (any object, any string) and never raises; what it cannot read it
reports through its return value so callers can count failures.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# A coordinate value: ints, decimals, exponents and the spellings of non-finite floats a model may emit.
NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)\b"
NUMBER_RE = re.compile(NUMBER, re.IGNORECASE)

# Longest numeric token we convert: longer ones (e.g. 1 MB of digits) are non-finite by policy, which also keeps
# float() from spending time on them.
MAX_NUMBER_CHARS = 40

# Coordinates beyond this magnitude (in model units) are dropped as "huge": no model frame is anywhere near it and
# such values only serve to break geometry.
MAX_ABS_COORD = 1e6

_FENCE_RE = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_ANSWER_TAG_RE = re.compile(r"<answer>(.*?)(?:</answer>|\Z)", re.DOTALL | re.IGNORECASE)
_THINK_RE = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_FLAT_OBJECT_RE = re.compile(r"\{[^{}]*\}")
_TRAILING_COMMA_RE = re.compile(r",\s*([\]}])")


def completion_text(completion: Any) -> str:
    """The assistant text of a completion in any of TRL's shapes.

    Accepts a string, a message dict, a list of messages (conversational completion: the assistant turns are
    joined with newlines, tool turns skipped) or content blocks ``[{"type": "text", "text": ...}]``. Anything
    else becomes ``""``.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        parts = []
        for m in completion:
            if isinstance(m, dict) and m.get("role", "assistant") == "assistant":
                parts.append(_content_text(m.get("content")))
            elif isinstance(m, str):
                parts.append(m)
        return "\n".join(p for p in parts if p)
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def strip_wrappers(text: str) -> str:
    """Remove ``<think>...</think>``, keep the inside of ``<answer>...</answer>`` when present."""
    if "<" not in text:  # both patterns start with "<": skip two regex scans of a plain answer
        return text
    text = _THINK_RE.sub("", text)
    m = _ANSWER_TAG_RE.search(text)
    return m.group(1) if m else text


def unfence(text: str) -> str:
    """The content of the first code fence (```json ... ```, closing fence optional), else the text itself."""
    if "```" not in text:  # the pattern starts with a fence: skip the regex scan of a plain answer
        return text
    m = _FENCE_RE.search(text)
    return m.group(1) if m else text


def to_float(token: str) -> float:
    """A numeric token as float; NaN for unreadable, overlong or non-finite tokens (callers drop and count NaN)."""
    if len(token) > MAX_NUMBER_CHARS:
        return math.nan
    try:
        v = float(token)
    except (ValueError, OverflowError):
        return math.nan
    return v if math.isfinite(v) and abs(v) <= MAX_ABS_COORD else math.nan


def finite_values(values: Any) -> list[float] | None:
    """A JSON value as a list of in-range floats, or None when it is not a flat list of such numbers."""
    if not isinstance(values, (list, tuple)):
        return None
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            return None
        f = to_float(v) if isinstance(v, str) else _num(v)
        if math.isnan(f):
            return None
        out.append(f)
    return out


def _num(v: int | float) -> float:
    try:
        f = float(v)
    except OverflowError:  # a Python int with thousands of digits
        return math.nan
    return f if math.isfinite(f) and abs(f) <= MAX_ABS_COORD else math.nan


def load_json_strict(text: str) -> tuple[bool, Any]:
    """(ok, value) for text that is exactly one JSON document (after removing a code fence)."""
    try:
        return True, json.loads(unfence(text).strip())
    except (ValueError, RecursionError):
        return False, None


def json_objects(text: str) -> tuple[list[dict], int]:
    """Every flat ``{...}`` object in the text that reads as JSON, tolerating trailing commas and single quotes.

    Scanning for flat objects (instead of parsing one document) keeps the items of a truncated or otherwise broken
    list and never recurses, so deeply nested input cannot exhaust the stack.

    Returns:
        (objects, n_failed): the decoded dicts in order, and the number of brace groups that did not decode.
    """
    objs: list[dict] = []
    failed = 0
    for m in _FLAT_OBJECT_RE.finditer(text):
        chunk = _TRAILING_COMMA_RE.sub(r"\1", m.group(0))
        obj = _loads(chunk)
        if obj is None and "'" in chunk and '"' not in chunk:
            obj = _loads(chunk.replace("'", '"'))
        if isinstance(obj, dict):
            objs.append(obj)
        else:
            failed += 1
    return objs, failed


def _loads(chunk: str) -> Any:
    try:
        return json.loads(chunk)
    except (ValueError, RecursionError):
        return None


def one_line(text: str) -> str:
    """Whitespace collapsed to single spaces."""
    return " ".join(text.split())
