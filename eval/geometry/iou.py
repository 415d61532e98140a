"""Exact IoU of quads (rotated boxes, polygons) and of horizontal boxes, vectorised in float64 numpy.

Algorithm (`rotated_iou`, `rotated_iou_pairs`): both quads are normalised to convex, positively oriented
4-vertex polygons (see *Quad policy*); the intersection area follows from Green's theorem as
``1/2 * sum of cross(p, q)`` over the directed boundary segments ``p -> q`` of A ∩ B, and that boundary is made
of the parts of A's edges inside B plus the parts of B's edges inside A. Each part is one parametric
(Cyrus-Beck) clip of an edge against four half-planes, so a pair costs a fixed, sort-free 2 × 16 half-plane
tests; because ``cross(a + t0 e, a + t1 e) = (t1 - t0) cross(a, e)`` each edge contributes
``(t1 - t0)+ · cross(a_i, a_i+1)``. Coordinates are shifted to a per-pair origin (A's vertex mean) so the
cross products do not lose digits far from (0, 0). In the matrix form an axis-aligned-box prefilter skips
disjoint pairs, which is what makes sparse aerial scenes cheap.

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


class _Quads:
    """Per-box precomputation: convex positively oriented vertices, unit edge directions, areas, boxes."""

    def __init__(self, polys) -> None:
        p = _as_quads(polys)
        c = p.mean(axis=1, keepdims=True)
        # angle order around the vertex mean = positive (shoelace > 0) orientation, bow-ties untangled
        ang = np.arctan2(p[..., 1] - c[..., 1], p[..., 0] - c[..., 0])
        v = np.take_along_axis(p, np.argsort(ang, axis=1)[..., None], axis=1)
        # A quad has at most one reflex vertex; replacing it by its predecessor gives the hull triangle.
        prev, nxt = np.roll(v, 1, axis=1), np.roll(v, -1, axis=1)
        turn = _cross(
            v[..., 0] - prev[..., 0], v[..., 1] - prev[..., 1], nxt[..., 0] - v[..., 0], nxt[..., 1] - v[..., 1]
        )
        reflex = turn < 0
        v = np.where(reflex[..., None], prev, v)
        self.v = v  # (N, 4, 2)
        e = np.roll(v, -1, axis=1) - v
        length = np.hypot(e[..., 0], e[..., 1])
        self.edge_ok = length > 0  # zero-length edges (duplicated vertex) are not half-plane constraints
        safe = np.where(self.edge_ok, length, 1.0)
        u = e / safe[..., None]
        u[~self.edge_ok] = 0.0
        # contiguous (N, 4) coordinate planes: strided (..., 2) slices are several times slower to gather
        self.x, self.y = np.ascontiguousarray(v[..., 0]), np.ascontiguousarray(v[..., 1])
        self.ux, self.uy = np.ascontiguousarray(u[..., 0]), np.ascontiguousarray(u[..., 1])
        self.scale = np.abs(p).reshape(-1, 8).max(axis=1) if p.shape[0] else np.zeros(0)
        q = v - v[:, :1, :]
        s = _cross(q[..., 0], q[..., 1], np.roll(q[..., 0], -1, axis=1), np.roll(q[..., 1], -1, axis=1))
        self.area = 0.5 * s.sum(axis=1)  # >= 0 by construction
        perimeter = length.sum(axis=1)
        self.degenerate = self.area <= _REL_TOL * (1.0 + self.scale) * perimeter
        self.lo = p.min(axis=1)  # (N, 2)
        self.hi = p.max(axis=1)


def _clip_sum(px, py, qx, qy, qux, quy, q_ok, same_dir_counts: bool, tol):
    """Sum of (t1 - t0)+ · cross(p_i, p_i+1) over P's edges clipped to polygon Q.

    Args:
        px, py: (K, 4) vertices of P in the pair's local frame.
        qx, qy: (K, 4) vertices of Q in the same frame.
        qux, quy: (K, 4) unit edge directions of Q.
        q_ok: (K, 4) whether each Q edge is a real constraint.
        same_dir_counts: keep P edges collinear with a same-direction Q edge (True for A, False for B).
        tol: (K,) collinearity distance.

    Returns:
        (K,) twice the signed area contributed by P's edges.
    """
    # d0[k, i, j]: signed distance of P vertex i from the line of Q edge j (>= 0 inside)
    qux3, quy3 = qux[:, None, :], quy[:, None, :]
    d0 = qux3 * (py[:, :, None] - qy[:, None, :]) - quy3 * (px[:, :, None] - qx[:, None, :])
    d1 = np.roll(d0, -1, axis=1)  # distance of the edge's end vertex
    t = tol[:, None, None]
    coll = (np.abs(d0) <= t) & (np.abs(d1) <= t)
    ex = np.roll(px, -1, axis=1) - px  # (K, 4) P edge vectors
    ey = np.roll(py, -1, axis=1) - py
    if same_dir_counts:
        same = (ex[:, :, None] * qux3 + ey[:, :, None] * quy3) > 0
        coll_reject = coll & ~same
        coll_keep = coll & same
        outside = ~coll_keep & (d0 < 0) & (d1 < 0)
    else:
        coll_reject = coll
        outside = (d0 < 0) & (d1 < 0)
    q_ok = q_ok[:, None, :]
    reject = (q_ok & (coll_reject | outside)).any(axis=2)
    active = q_ok & ~coll & ((d0 < 0) != (d1 < 0))
    denom = np.where(active, d0 - d1, 1.0)
    tc = d0 / denom
    enter = active & (d0 < 0)
    leave = active & (d0 >= 0)
    t0 = np.where(enter, tc, 0.0).max(axis=2)
    t1 = np.where(leave, tc, 1.0).min(axis=2)
    span = np.where(reject, 0.0, np.clip(t1 - t0, 0.0, None))
    c = px * ey - py * ex  # cross(p_i, p_i+1) = cross(p_i, e_i)
    return (span * c).sum(axis=1)


def _pair_iou(qa: _Quads, ia: np.ndarray, qb: _Quads, ib: np.ndarray) -> np.ndarray:
    """IoU of pairs (qa[ia[k]], qb[ib[k]]), (K,) float64."""
    out = np.empty(ia.shape[0])
    for s in range(0, ia.shape[0], _CHUNK):
        a, b = ia[s : s + _CHUNK], ib[s : s + _CHUNK]
        ax, ay, bx, by = qa.x[a], qa.y[a], qb.x[b], qb.y[b]
        ox, oy = ax.mean(axis=1, keepdims=True), ay.mean(axis=1, keepdims=True)
        ax, ay, bx, by = ax - ox, ay - oy, bx - ox, by - oy
        tol = _REL_TOL * (1.0 + np.maximum(qa.scale[a], qb.scale[b]))
        twice = _clip_sum(ax, ay, bx, by, qb.ux[b], qb.uy[b], qb.edge_ok[b], True, tol)
        twice += _clip_sum(bx, by, ax, ay, qa.ux[a], qa.uy[a], qa.edge_ok[a], False, tol)
        area_a, area_b = qa.area[a], qb.area[b]
        inter = np.clip(0.5 * twice, 0.0, np.minimum(area_a, area_b))
        union = area_a + area_b - inter
        ok = ~(qa.degenerate[a] | qb.degenerate[b]) & (union > 0)
        out[s : s + a.shape[0]] = np.where(ok, inter / np.where(ok, union, 1.0), 0.0)
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
    qa, qb = _Quads(a), _Quads(b)
    n, m = qa.v.shape[0], qb.v.shape[0]
    out = np.zeros((n, m))
    if n == 0 or m == 0:
        return out
    # Row blocks keep the (rows, M) prefilter mask small for big inputs.
    rows = max(1, 4_000_000 // m)
    for r in range(0, n, rows):
        sl = slice(r, min(n, r + rows))
        lo, hi = qa.lo[sl], qa.hi[sl]
        # strict overlap of the axis-aligned extents: touching or disjoint pairs have IoU 0
        hit = (lo[:, None, 0] < qb.hi[None, :, 0]) & (qb.lo[None, :, 0] < hi[:, None, 0])
        hit &= (lo[:, None, 1] < qb.hi[None, :, 1]) & (qb.lo[None, :, 1] < hi[:, None, 1])
        ii, jj = np.nonzero(hit)
        if ii.size:
            out[ii + r, jj] = _pair_iou(qa, ii + r, qb, jj)
    return out


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
    qa, qb = _Quads(a), _Quads(b)
    ia = np.asarray(ia, dtype=np.int64).reshape(-1)
    ib = np.asarray(ib, dtype=np.int64).reshape(-1)
    out = np.zeros(ia.shape[0])
    hit = (qa.lo[ia, 0] < qb.hi[ib, 0]) & (qb.lo[ib, 0] < qa.hi[ia, 0])
    hit &= (qa.lo[ia, 1] < qb.hi[ib, 1]) & (qb.lo[ib, 1] < qa.hi[ia, 1])
    k = np.flatnonzero(hit)
    if k.size:
        out[k] = _pair_iou(qa, ia[k], qb, ib[k])
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
