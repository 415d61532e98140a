"""Exact IoU of quads (rotated boxes, polygons) and of horizontal boxes, vectorised in float64 numpy.

Algorithm (`rotated_iou`, `rotated_iou_pairs`): both quads are normalised to convex, positively oriented
4-vertex polygons (see *Quad policy*); the intersection area follows from Green's theorem as
``1/2 * sum of cross(p, q)`` over the directed boundary segments ``p -> q`` of A ∩ B, and that boundary is made
of the parts of A's edges inside B plus the parts of B's edges inside A. Each part is one parametric
(Cyrus-Beck) clip of an edge against four half-planes, so a pair costs a fixed, sort-free 2 × 16 half-plane
tests; because ``cross(a + t0 e, a + t1 e) = (t1 - t0) cross(a, e)`` each edge contributes
``(t1 - t0)+ · cross(a_i, a_i+1)``. Coordinates are shifted to a per-pair origin (A's vertex mean) so the
cross products do not lose digits far from (0, 0). In the matrix form an axis-aligned-box prefilter skips
disjoint pairs, which is what makes sparse aerial scenes cheap; `rotated_iou_sparse` also skips pairs of
different groups (classes) and returns only the candidate pairs.

Shared boundaries: an A edge and a B edge lying on the same line (within ``tol``, see below) would be counted
twice (same direction, e.g. identical boxes) or once spuriously (opposite direction, touching boxes). Rule: a
collinear same-direction pair is counted once, from A; opposite-direction collinear edges are dropped on both
sides (their contributions would cancel anyway). The collinearity tolerance is a distance,
``tol = 1e-10 · (1 + largest |coordinate| of the pair)``, far above float64 noise of box corners and far below
anything visible, so the same box written as (w, h, θ) and (h, w, θ + 90°) gives IoU 1 to ~1e-15 (shapely/GEOS
without ``grid_size`` returns 0 for a few such pairs).

Quad policy (non-convex and self-intersecting input): every quad is replaced by the **convex hull of its four
vertices**. A convex quad written in any vertex order (including bow-tie orders) is therefore read as that
quad; a dart (one reflex vertex) becomes its hull triangle. The DOTA devkit computes the exact non-convex
area instead and returns 0 for bow-ties; real annotations are convex, so the difference only touches malformed
model output.

Degenerate boxes: a quad whose area is at most ``tol × perimeter`` (zero width) has IoU 0 with everything,
itself included; so does a pair with zero union. IoU is a plain ratio of areas: no +1 pixel convention.
"""

from __future__ import annotations

import numpy as np

# Pairs per vectorised chunk: (K, 4, 4) float64 temporaries stay around 10 MB, inside the L2/L3 sweet spot.
_CHUNK = 32768
# Relative collinearity / degeneracy tolerance (see module docstring).
_REL_TOL = 1e-10


def _as_quads(x) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4, 2)
    if arr.shape[-1] == 8:
        return arr.reshape(-1, 4, 2)
    if arr.shape[-2:] == (4, 2):
        return arr.reshape(-1, 4, 2)
    raise ValueError(f"expected quads of shape (N, 8) or (N, 4, 2), got shape {arr.shape}")


def _cross(ax, ay, bx, by):
    return ax * by - ay * bx


# Cyclic successor / predecessor of a quad's 4 vertices. Small inputs (a reward's ~100 pairs) are bound by the
# number of numpy calls, so the arrays put the vertex axes first: shifts are one take, and reductions over
# vertices or edges combine whole (.., K) slabs instead of running a tiny inner loop per element.
_NXT = np.array([1, 2, 3, 0])
_PRV = np.array([3, 0, 1, 2])
# Side 0 of a stacked pair is A (its edges keep same-direction collinear overlaps), side 1 is B (drops them).
_A_SIDE = np.array([True, False])[:, None]


class _Quads:
    """Per-box precomputation: convex positively oriented vertices, unit edge directions, areas, boxes.

    Attributes:
        t: (5, 4, N) per vertex i: x, y, unit direction ux, uy of edge i -> i+1 (0 for an empty edge) and 1.0 where
            that edge has a length (a half-plane constraint), else 0.0; one gather fetches all a pair needs.
        scale: (N,) largest |coordinate|; area: (N,) areas; degenerate: (N,) zero-width boxes.
        lo, hi: (N, 2) axis-aligned extents.
    """

    def __init__(self, polys) -> None:
        p = _as_quads(polys)
        v = np.ascontiguousarray(p.transpose(2, 1, 0))  # (2, 4, N): coordinate, vertex, box
        c = v.sum(axis=1) * 0.25  # vertex mean
        # angle order around the vertex mean = positive (shoelace > 0) orientation, bow-ties untangled
        ang = np.arctan2(v[1] - c[1], v[0] - c[0])
        # gather through flat indices: take keeps C order (fancy indexing here would put N innermost-but-one)
        n = p.shape[0]
        v = v.reshape(2, 4 * n).take(np.argsort(ang, axis=0) * n + np.arange(n), axis=1)
        lo, hi = v.min(axis=1), v.max(axis=1)  # (2, N)
        # A quad has at most one reflex vertex; replacing it by its predecessor gives the hull triangle.
        prev = v.take(_PRV, axis=1)
        d, e = v - prev, v.take(_NXT, axis=1) - v
        v = np.where(d[0] * e[1] - d[1] * e[0] < 0, prev, v)
        e = v.take(_NXT, axis=1) - v
        length = np.hypot(e[0], e[1])  # (4, N)
        ok = length > 0  # zero-length edges (duplicated vertex) are not half-plane constraints
        u = np.where(ok, e / np.where(ok, length, 1.0), 0.0)
        self.t = np.concatenate((v, u, ok[None].astype(np.float64)))
        self.scale = np.maximum(-lo, hi).max(axis=0)
        q = v - v[:, :1]
        qn = q.take(_NXT, axis=1)
        self.area = 0.5 * (q[0] * qn[1] - q[1] * qn[0]).sum(axis=0)  # >= 0 by construction
        self.degenerate = self.area <= _REL_TOL * (1.0 + self.scale) * length.sum(axis=0)
        self.lo, self.hi = lo.T, hi.T


def _clip_sum(xy, ux, uy, ok, tol):
    """Sum of (t1 - t0)+ · cross(p_i, p_i+1) over P's edges clipped to polygon Q, for both sides of each pair.

    Side 0 clips A's edges to B (P = A, Q = B) and keeps A edges collinear with a same-direction B edge; side 1
    clips B's edges to A and drops every collinear edge (see *Shared boundaries*). Both sides run in one set of
    numpy calls: Q is P with the side axis reversed (a view).

    Args:
        xy: (2, 4, 2, K) coordinate, vertex, side (A, B), pair: vertices in the pair's local frame.
        ux, uy: (4, 2, K) unit edge directions of A and B.
        ok: (4, 2, K) whether each edge is a real constraint.
        tol: (K,) collinearity distance.

    Returns:
        (2, K) twice the signed area contributed by A's edges (row 0) and by B's edges (row 1).
    """
    px, py = xy[0], xy[1]
    # rel[c, j, i, s, k] = P vertex i - Q vertex j
    rel = xy[:, None] - np.ascontiguousarray(xy[:, :, ::-1])[:, :, None]
    qux, quy = ux[:, ::-1][:, None], uy[:, ::-1][:, None]
    # d0[j, i, s, k]: signed distance of P vertex i from the line of Q edge j (>= 0 inside)
    d0 = qux * rel[1] - quy * rel[0]
    d1 = d0.take(_NXT, axis=1)  # distance of the edge's end vertex
    near = np.abs(d0) <= tol
    coll = near & near.take(_NXT, axis=1)
    e = xy.take(_NXT, axis=1) - xy  # (2, 4, 2, K) P edge vectors
    ex, ey = e[0], e[1]
    neg0 = d0 < 0
    neg1 = neg0.take(_NXT, axis=1)
    q_ok = ok[:, ::-1][:, None]
    if coll.any():
        coll_keep = coll & ((ex * qux + ey * quy) > 0) & _A_SIDE
        reject = (q_ok & ((coll & ~coll_keep) | (~coll_keep & neg0 & neg1))).any(axis=0)
        active = q_ok & ~coll & (neg0 != neg1)
    else:  # no shared boundary (the usual case): the same tests without the collinear terms
        reject = (q_ok & neg0 & neg1).any(axis=0)
        active = q_ok & (neg0 != neg1)
    tc = d0 / np.where(active, d0 - d1, 1.0)
    t0 = np.where(active & neg0, tc, 0.0).max(axis=0)
    t1 = np.where(active & (d0 >= 0), tc, 1.0).min(axis=0)
    span = np.where(reject, 0.0, np.maximum(t1 - t0, 0.0))
    return (span * (px * ey - py * ex)).sum(axis=0)  # cross(p_i, p_i+1) = cross(p_i, e_i)


def _pair_iou(q: _Quads, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """IoU of pairs (q[ia[k]], q[ib[k]]), (K,) float64; both sides index one `_Quads` (prepared once)."""
    out = np.empty(ia.shape[0])
    for s in range(0, ia.shape[0], _CHUNK):
        a = ia[s : s + _CHUNK]
        ab = np.empty((2, a.shape[0]), dtype=np.int64)  # (2, K): row 0 = A, row 1 = B (np.stack's wrapper is slow)
        ab[0], ab[1] = a, ib[s : s + _CHUNK]
        g = q.t.take(ab, axis=2)  # (5, 4, 2, K), C-ordered (fancy indexing would put K outermost in memory)
        # per-pair origin at A's vertex mean keeps the cross products' digits
        xy = g[:2] - (g[:2, :, 0].sum(axis=1) * 0.25)[:, None, None, :]
        scale = q.scale[ab]
        tol = _REL_TOL * (1.0 + np.maximum(scale[0], scale[1]))
        twice = _clip_sum(xy, g[2], g[3], g[4] > 0, tol)
        area = q.area[ab]
        area_a, area_b = area[0], area[1]
        inter = np.minimum(np.maximum(0.5 * (twice[0] + twice[1]), 0.0), np.minimum(area_a, area_b))
        union = area_a + area_b - inter
        deg = q.degenerate[ab]
        ok = ~(deg[0] | deg[1]) & (union > 0)
        out[s : s + ab.shape[1]] = np.where(ok, inter / np.where(ok, union, 1.0), 0.0)
    return out


def rotated_iou(a, b) -> np.ndarray:
    """IoU matrix between two sets of quads (rotated boxes or arbitrary 4-point polygons).

    Args:
        a: (N, 8) quads ``x1, y1, ..., x4, y4``.
        b: (M, 8) quads.

    Returns:
        (N, M) float64 IoU in [0, 1]; exact up to float64 rounding (see module docstring for the quad
        policy, degenerate boxes and shared edges).
    """
    a, b = _as_quads(a), _as_quads(b)
    n, m = a.shape[0], b.shape[0]
    out = np.zeros((n, m))
    if n == 0 or m == 0:
        return out
    # one preparation for both sets (rows n.. are b): per-row results are the same, numpy calls are halved
    q = _Quads(np.concatenate((a, b)))
    lo_b, hi_b = q.lo[n:], q.hi[n:]
    # Row blocks keep the (rows, M) prefilter mask small for big inputs.
    rows = max(1, 4_000_000 // m)
    for r in range(0, n, rows):
        sl = slice(r, min(n, r + rows))
        lo, hi = q.lo[sl], q.hi[sl]
        # strict overlap of the axis-aligned extents: touching or disjoint pairs have IoU 0
        hit = (lo[:, None, 0] < hi_b[None, :, 0]) & (lo_b[None, :, 0] < hi[:, None, 0])
        hit &= (lo[:, None, 1] < hi_b[None, :, 1]) & (lo_b[None, :, 1] < hi[:, None, 1])
        ii, jj = np.nonzero(hit)
        if ii.size:
            out[ii + r, jj] = _pair_iou(q, ii + r, jj + n)
    return out


def rotated_iou_sparse(a, b, a_group=None, b_group=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of the only pairs that can overlap: same group and strictly overlapping axis-aligned extents.

    A sparse `rotated_iou` for scenes where most pairs are disjoint (aerial detection: ~1 candidate per box
    instead of N x M); every pair not returned has IoU 0 or a different group.

    Args:
        a: (N, 8) quads.
        b: (M, 8) quads.
        a_group: (N,) integer group per quad of ``a`` (e.g. class codes; None: one group).
        b_group: (M,) integer group per quad of ``b``; a pair is a candidate only when the groups are equal.

    Returns:
        (ia, ib, iou): (K,) int64 indices into ``a`` and ``b`` in row-major order, and their (K,) float64 IoU
        (equal to the matching entries of ``rotated_iou(a, b)``).
    """
    a, b = _as_quads(a), _as_quads(b)
    n, m = a.shape[0], b.shape[0]
    if n == 0 or m == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    q = _Quads(np.concatenate((a, b)))
    lo, hi, lo_b, hi_b = q.lo[:n], q.hi[:n], q.lo[n:], q.hi[n:]
    # x and y extents in one (N, M, 2) comparison each
    both = (lo[:, None] < hi_b[None]) & (lo_b[None] < hi[:, None])
    hit = both[..., 0] & both[..., 1]
    if a_group is not None and b_group is not None:
        hit &= np.asarray(a_group).reshape(-1)[:, None] == np.asarray(b_group).reshape(-1)[None, :]
    # 1-D flatnonzero + divmod: several times cheaper than a 2-D nonzero, same row-major order
    ii, jj = np.divmod(np.flatnonzero(hit), m)
    return ii, jj, (_pair_iou(q, ii, jj + n) if ii.size else np.zeros(0))


def rotated_iou_pairs(a, b) -> np.ndarray:
    """Element-wise IoU of quads a[k] and b[k].

    Args:
        a: (K, 8) quads.
        b: (K, 8) quads.

    Returns:
        (K,) float64 IoU.
    """
    a = _as_quads(a)
    b = _as_quads(b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"rotated_iou_pairs needs equal lengths, got {a.shape[0]} and {b.shape[0]}")
    idx = np.arange(a.shape[0])
    return rotated_iou_indexed(a, b, idx, idx)


def rotated_iou_indexed(a, b, ia, ib) -> np.ndarray:
    """IoU of the pairs (a[ia[k]], b[ib[k]]) without materialising the gathered quads.

    Each distinct box is prepared once, which matters when one box takes part in many pairs (mAP matching).

    Args:
        a: (N, 8) quads.
        b: (M, 8) quads.
        ia: (K,) indices into a.
        ib: (K,) indices into b.

    Returns:
        (K,) float64 IoU.
    """
    a, b = _as_quads(a), _as_quads(b)
    n, m = a.shape[0], b.shape[0]
    # indexing an arange checks the bounds and resolves negative indices before b's rows are offset by n
    ia = np.arange(n)[np.asarray(ia, dtype=np.int64).reshape(-1)]
    ib = np.arange(m)[np.asarray(ib, dtype=np.int64).reshape(-1)] + n
    out = np.zeros(ia.shape[0])
    if ia.shape[0] == 0:
        return out
    q = _Quads(np.concatenate((a, b)))
    hit = (q.lo[ia, 0] < q.hi[ib, 0]) & (q.lo[ib, 0] < q.hi[ia, 0])
    hit &= (q.lo[ia, 1] < q.hi[ib, 1]) & (q.lo[ib, 1] < q.hi[ia, 1])
    k = np.flatnonzero(hit)
    if k.size:
        out[k] = _pair_iou(q, ia[k], ib[k])
    return out


def hbb_iou(a, b) -> np.ndarray:
    """IoU matrix between horizontal boxes (continuous coordinates, no +1 pixel convention).

    Args:
        a: (N, 4) ``x1, y1, x2, y2``.
        b: (M, 4) boxes.

    Returns:
        (N, M) float64 IoU; pairs with zero union (two empty boxes) get 0.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
