"""The one number parser for annotation text: what adapters use instead of ``float()`` / ``int()`` on record text.

``float()`` and ``int()`` accept more than annotation formats write and fail in ways the build cannot count: ``int``
of a 5000-digit string raises Python's digit-limit ``ValueError`` (4300 digits), ``float("١٢")`` reads Arabic-Indic
digits, ``float("1e400")`` is ``inf``. `parse_number` accepts exactly an optional sign, ASCII digits with at most one
decimal point and at least one digit, and an optional exponent; at most `MAX_DIGITS` digits; the value must be
finite. Anything else raises `BadNumber` (a ValueError) whose message says why, so an adapter turns it into a
counted skip. JSON numbers (int / float, never bool) go through the same range and finiteness checks.
"""

from __future__ import annotations

import math
import re

MAX_DIGITS = 40  # far above any coordinate or id an annotation holds; far below Python's 4300-digit limit
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_INT_RE = re.compile(r"[+-]?[0-9]+")


class BadNumber(ValueError):
    """A value that is not a number an annotation may hold; the message says why."""


def _text(value) -> str:
    if not isinstance(value, str):
        raise BadNumber(f"not a number: {value!r:.60}")
    s = value.strip()
    if sum(c.isdigit() for c in s) > MAX_DIGITS:
        raise BadNumber(f"number with more than {MAX_DIGITS} digits: {s[:20]}...")
    return s


def parse_number(value) -> float:
    """A finite float from annotation text (ASCII decimal, see the module docstring) or a JSON int/float.

    Raises:
        BadNumber: anything else (``1.2.3``, ``.``, ``nan``, unicode digits, too many digits, non-finite).
    """
    if isinstance(value, bool):
        raise BadNumber(f"not a number: {value!r}")
    if isinstance(value, int):
        if value.bit_length() > 133:  # ~40 decimal digits, like the text rule
            raise BadNumber(f"number with more than {MAX_DIGITS} digits")
        return float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadNumber(f"non-finite number {value!r}")
        return value
    s = _text(value)
    if not _NUMBER_RE.fullmatch(s):
        raise BadNumber(f"not a number: {s[:60]!r}")
    x = float(s)
    if not math.isfinite(x):
        raise BadNumber(f"non-finite number {s[:60]!r}")
    return x


def parse_int(value) -> int:
    """An integer from annotation text (ASCII digits, optional sign, at most `MAX_DIGITS` digits) or a JSON int.

    Raises:
        BadNumber: anything else.
    """
    if isinstance(value, bool):
        raise BadNumber(f"not an integer: {value!r}")
    if isinstance(value, int):
        if value.bit_length() > 133:
            raise BadNumber(f"integer with more than {MAX_DIGITS} digits")
        return value
    s = _text(value)
    if not _INT_RE.fullmatch(s):
        raise BadNumber(f"not an integer: {s[:60]!r}")
    return int(s)


def parse_numbers(values) -> list[float]:
    """`parse_number` of each value of an iterable (raises BadNumber, also for a value that is not iterable)."""
    try:
        items = list(values)
    except TypeError:
        raise BadNumber(f"not a list of numbers: {values!r:.60}") from None
    return [parse_number(v) for v in items]
