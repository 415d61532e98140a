"""Shape of a quad as written: convex, non-convex ("dart") or self-intersecting ("bow-tie").

The four turns ``cross(v_i - v_i-1, v_i+1 - v_i)`` decide it: no turn of both senses is convex (its own hull; a
collinear or repeated corner, a turn of 0, counts with either sense); three of one sense and one of the other
is a simple polygon with one reflex corner; two and two is self-intersecting (its turning angles sum to 0, not
±360°). DOTA ground truth has some darts; a model that writes a box's corners out of order writes bow-ties.
"""

from __future__ import annotations

import numpy as np

CONVEX, DART, BOWTIE = 0, 1, 2


def quad_shape(polys) -> np.ndarray:
    """Classify quads by the senses of their four turns.

    Args:
        polys: (N, 8) quads ``x1, y1, ..., x4, y4`` (or (N, 4, 2)).

    Returns:
        (N,) int8: `CONVEX` (0), `DART` (1) or `BOWTIE` (2).
    """
    p = np.asarray(polys, dtype=np.float64).reshape(-1, 4, 2)
    d_in = p - np.roll(p, 1, axis=1)  # v_i - v_i-1
    d_out = np.roll(p, -1, axis=1) - p  # v_i+1 - v_i
    turn = d_in[..., 0] * d_out[..., 1] - d_in[..., 1] * d_out[..., 0]
    left = np.count_nonzero(turn > 0, axis=1)
    right = np.count_nonzero(turn < 0, axis=1)
    out = np.full(p.shape[0], DART, dtype=np.int8)
    out[(left == 0) | (right == 0)] = CONVEX
    out[(left == 2) & (right == 2)] = BOWTIE
    return out
