"""Shape of a quad as written: convex, non-convex ("dart") or self-intersecting ("bow-tie").

The four turns ``cross(v_i - v_i-1, v_i+1 - v_i)`` decide it: no turn of both senses is convex (its own hull; a
collinear or repeated corner, a turn of 0, counts with either sense); three of one sense and one of the other
is a simple polygon with one reflex corner; two and two is self-intersecting (its turning angles sum to 0, not
±360°). DOTA ground truth has some darts; a model that writes a box's corners out of order writes bow-ties.
"""

from __future__ import annotations

import numpy as np

from eval.geometry import quad_kernels as qk

CONVEX, DART, BOWTIE = 0, 1, 2


def quad_shape(polys) -> np.ndarray:
    """Classify quads by the senses of their four turns.

    Args:
        polys: (N, 8) quads ``x1, y1, ..., x4, y4`` (or (N, 4, 2)).

    Returns:
        (N,) int8: `CONVEX` (0), `DART` (1) or `BOWTIE` (2).
    """
    p = np.asarray(polys, dtype=np.float64)
    if p.size == 0:
        return np.zeros(0, dtype=np.int8)
    return qk.shapes(np.ascontiguousarray(p.reshape(-1, 4, 2)))
