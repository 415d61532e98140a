"""Compiled (numba) conversion of comma-separated ASCII integers, the hot loop of a detection answer's parse.

Why compiled: a 100-box answer holds ~800 numbers; per-string ``float()`` costs ~0.2 us a number and a vectorised
numpy digit arithmetic ~80 us an answer (call-bound), while one byte loop takes ~6 us
(`benchmarks/bench_rewards.py`). ``cache=True`` keeps the compiled code beside this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# int64 holds every integer of at most 18 digits exactly
MAX_CHARS = 18


@njit(cache=True)
def ascii_ints(a):
    """Parse ``-?[0-9]+(,-?[0-9]+)*`` bytes (the caller has checked the pattern).

    Each exact int64 value is rounded to float64 once, as ``float(token)`` rounds the decimal, so the results are
    equal to ``float`` of each token (``-0`` -> -0.0 included).

    Args:
        a: (L,) uint8 ASCII bytes.

    Returns:
        (vals, starts, ok): (n,) float64 values, (n,) int64 offsets where each number starts, and False (with
        empty arrays) when a number, sign included, is longer than 18 characters.
    """
    n = 1
    for c in a:
        if c == 44:
            n += 1
    vals = np.empty(n)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    k, acc, neg, chars = 0, 0, False, 0
    for i in range(a.size + 1):
        c = a[i] if i < a.size else 44  # a virtual comma closes the last number
        if c == 44:
            if chars > MAX_CHARS:
                return vals[:0], starts[:0], False
            vals[k] = -float(acc) if neg else float(acc)
            k += 1
            if k < n:
                starts[k] = i + 1
            acc, neg, chars = 0, False, 0
        else:
            chars += 1
            if c == 45:
                neg = True
            else:
                acc = acc * 10 + (c - 48)
    return vals, starts, True
