"""Compiled (numba) loops behind `eval.geometry.iou`: quad preparation, the axis-aligned prefilter, the pairwise
clipped-edge IoU of convex quads and the winding-number IoU of the DOTA devkit's quad policy. The algorithms,
quad policies and tolerances are documented in `eval.geometry.iou`.

Why compiled: a reward scores ~100 boxes against ~100, and the vectorised numpy form of the same arithmetic is
bound by the ~50 numpy calls it needs per batch (~200 us), not by arithmetic; a scalar loop does the same work
in a few microseconds (`benchmarks/bench_iou.py`, `benchmarks/bench_rewards.py`). ``cache=True`` keeps the
compiled code beside this file (or in ``NUMBA_CACHE_DIR``), so only the first process pays the ~2 s compile.

Prepared boxes are two float64 arrays (few arguments: numba's dispatch costs ~0.5 us per argument, a tenth of
a reward's whole IoU work):

- ``pts`` (N, 4, 7): per vertex i of the convex positively oriented quad (the hull): x, y, unit direction ux, uy
  of edge i -> i+1 (0 for an empty edge), 1.0 where that edge is a half-plane constraint (has a length), else
  0.0; then the i-th input vertex as given, x, y (the polygon the devkit policy measures);
- ``meta`` (9, N): rows `SCALE` (largest |coordinate|), `AREA` (the area the union uses: hull area, or under the
  devkit policy |signed area| of the polygon as given), `DEGENERATE` (1.0: zero width), the axis-aligned extents
  `LOX`, `LOY`, `HIX`, `HIY` (rows, so the prefilter's inner loop is contiguous), `SIGN` (-1.0 where the
  polygon as given has negative signed area, else 1.0) and `GENERAL` (1.0: pairs with this quad take the
  winding-number path; only under the devkit policy, for quads that are not convex in the order given).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Relative collinearity / degeneracy tolerance (see `eval.geometry.iou`).
REL_TOL = 1e-10
# rows of ``meta``
SCALE, AREA, DEGENERATE, LOX, LOY, HIX, HIY, SIGN, GENERAL = range(9)
# quad policies (`prepare`'s ``policy``; names in `eval.geometry.iou.QUAD_POLICIES`)
HULL, DEVKIT = 0, 1


@njit(cache=True)
def prepare(p, policy):
    """Normalise quads: vertices in angle order around their mean, a reflex vertex replaced by its predecessor
    (hull triangle), unit edges, area, degeneracy and extents; under `DEVKIT` also the signed area and
    orientation of the polygon as given, and which quads need the winding-number path.

    Args:
        p: (N, 4, 2) float64 quads.
        policy: `HULL` or `DEVKIT`.

    Returns:
        (pts, meta): (N, 4, 7) and (9, N) as in the module docstring.
    """
    n = p.shape[0]
    pts = np.zeros((n, 4, 7))
    meta = np.empty((9, n))
    ang = np.empty(4)
    order = np.empty(4, dtype=np.int64)
    s = np.empty((4, 2))
    for k in range(n):
        cx = (((p[k, 0, 0] + p[k, 1, 0]) + p[k, 2, 0]) + p[k, 3, 0]) * 0.25
        cy = (((p[k, 0, 1] + p[k, 1, 1]) + p[k, 2, 1]) + p[k, 3, 1]) * 0.25
        for i in range(4):
            ang[i] = math.atan2(p[k, i, 1] - cy, p[k, i, 0] - cx)
            order[i] = i
        # stable insertion sort of 4 angles (numpy's argsort of 4 elements is an insertion sort too)
        for i in range(1, 4):
            j = i
            while j > 0 and ang[order[j - 1]] > ang[order[j]]:
                order[j - 1], order[j] = order[j], order[j - 1]
                j -= 1
        for i in range(4):
            s[i, 0] = p[k, order[i], 0]
            s[i, 1] = p[k, order[i], 1]
        lox = min(min(s[0, 0], s[1, 0]), min(s[2, 0], s[3, 0]))
        loy = min(min(s[0, 1], s[1, 1]), min(s[2, 1], s[3, 1]))
        hix = max(max(s[0, 0], s[1, 0]), max(s[2, 0], s[3, 0]))
        hiy = max(max(s[0, 1], s[1, 1]), max(s[2, 1], s[3, 1]))
        # A quad has at most one reflex vertex; replacing it by its predecessor gives the hull triangle.
        for i in range(4):
            pr, nx = (i + 3) % 4, (i + 1) % 4
            dx, dy = s[i, 0] - s[pr, 0], s[i, 1] - s[pr, 1]
            ex, ey = s[nx, 0] - s[i, 0], s[nx, 1] - s[i, 1]
            src = pr if dx * ey - dy * ex < 0 else i
            pts[k, i, 0] = s[src, 0]
            pts[k, i, 1] = s[src, 1]
        total = 0.0
        twice = 0.0
        for i in range(4):
            nx = (i + 1) % 4
            ex, ey = pts[k, nx, 0] - pts[k, i, 0], pts[k, nx, 1] - pts[k, i, 1]
            length = math.hypot(ex, ey)
            total += length
            if length > 0:  # zero-length edges (duplicated vertex) are not half-plane constraints
                pts[k, i, 2] = ex / length
                pts[k, i, 3] = ey / length
                pts[k, i, 4] = 1.0
            qx, qy = pts[k, i, 0] - pts[k, 0, 0], pts[k, i, 1] - pts[k, 0, 1]
            rx, ry = pts[k, nx, 0] - pts[k, 0, 0], pts[k, nx, 1] - pts[k, 0, 1]
            twice += qx * ry - qy * rx
        scale = max(max(-lox, hix), max(-loy, hiy))
        area = 0.5 * twice  # >= 0 by construction
        meta[SCALE, k] = scale
        meta[AREA, k] = area
        meta[DEGENERATE, k] = 1.0 if area <= REL_TOL * (1.0 + scale) * total else 0.0
        meta[LOX, k], meta[LOY, k], meta[HIX, k], meta[HIY, k] = lox, loy, hix, hiy
        # The polygon as given: twice its signed area by the devkit's own sum, in absolute coordinates and in
        # its order (x_i y_i+1 - y_i x_i+1, i = 0..3). A bow-tie with lobes of equal area (a rectangle with two
        # corners swapped) has zero net area, and the rounding of this sum alone orients it (the devkit reverses
        # a polygon of negative area); the same arithmetic takes the same sign. Also the turn at every vertex.
        signed = 0.0
        left = right = False
        for i in range(4):
            pts[k, i, 5] = p[k, i, 0]
            pts[k, i, 6] = p[k, i, 1]
            pr, nx = (i + 3) % 4, (i + 1) % 4
            turn = (p[k, i, 0] - p[k, pr, 0]) * (p[k, nx, 1] - p[k, i, 1]) - (p[k, i, 1] - p[k, pr, 1]) * (
                p[k, nx, 0] - p[k, i, 0]
            )
            left |= turn > 0
            right |= turn < 0
            signed += p[k, i, 0] * p[k, nx, 1] - p[k, i, 1] * p[k, nx, 0]
        meta[SIGN, k] = -1.0 if signed < 0 else 1.0
        # Convex in the order given (no turn of both senses): the polygon is its own hull, so the fast convex
        # path is exact for it under either policy. Otherwise (a dart or a bow-tie) the devkit measures the
        # polygon as given.
        general = policy == DEVKIT and left and right
        meta[GENERAL, k] = 1.0 if general else 0.0
        if general:
            meta[AREA, k] = 0.5 * abs(signed)
            meta[DEGENERATE, k] = 0.0  # a bow-tie of zero net area still overlaps things
    return pts, meta


@njit(cache=True)
def shapes(p):
    """(N,) int8 shape of quads as written (`eval.geometry.quad_shape`): 0 convex, 1 dart, 2 bow-tie.

    Args:
        p: (N, 4, 2) float64 quads.
    """
    out = np.empty(p.shape[0], dtype=np.int8)
    for k in range(p.shape[0]):
        left = right = 0
        for i in range(4):
            pr, nx = (i + 3) % 4, (i + 1) % 4
            turn = (p[k, i, 0] - p[k, pr, 0]) * (p[k, nx, 1] - p[k, i, 1]) - (p[k, i, 1] - p[k, pr, 1]) * (
                p[k, nx, 0] - p[k, i, 0]
            )
            left += turn > 0
            right += turn < 0
        out[k] = 0 if left == 0 or right == 0 else (2 if left == 2 and right == 2 else 1)
    return out


@njit(cache=True, inline="always")
def _clip_side(pts, a, b, ox, oy, tol, keep_collinear):
    """Twice the signed area contributed by quad a's edges clipped to quad b (local origin ox, oy).

    ``keep_collinear``: an a edge collinear with a same-direction b edge counts (side A) or not (side B);
    opposite-direction collinear edges never count.
    """
    twice = 0.0
    for i in range(4):
        nx = (i + 1) % 4
        px, py = pts[a, i, 0] - ox, pts[a, i, 1] - oy
        qx, qy = pts[a, nx, 0] - ox, pts[a, nx, 1] - oy
        ex, ey = qx - px, qy - py
        t0, t1 = 0.0, 1.0
        reject = False
        for j in range(4):
            if pts[b, j, 4] == 0.0:
                continue
            bx, by = pts[b, j, 0] - ox, pts[b, j, 1] - oy
            ux, uy = pts[b, j, 2], pts[b, j, 3]
            # signed distances of the edge's ends from the line of b's edge j (>= 0 inside)
            d0 = ux * (py - by) - uy * (px - bx)
            d1 = ux * (qy - by) - uy * (qx - bx)
            if abs(d0) <= tol and abs(d1) <= tol:  # collinear with b's edge j
                if not (keep_collinear and ex * ux + ey * uy > 0):
                    reject = True
                continue
            if d0 < 0 and d1 < 0:
                reject = True
            elif (d0 < 0) != (d1 < 0):
                tc = d0 / (d0 - d1)
                if d0 < 0:
                    t0 = max(t0, tc)
                else:
                    t1 = min(t1, tc)
        if not reject and t1 > t0:
            twice += (t1 - t0) * (px * ey - py * ex)  # cross(p_i, p_i+1) = cross(p_i, e_i)
    return twice


@njit(cache=True, inline="always")
def _winding_side(pts, a, b, ox, oy, tol):
    """``Σ_i cross(p_i, p_i+1) · ∫_0^1 w_b(p_i + t (p_i+1 - p_i)) dt`` over the edges of quad a as given, where
    w_b is the winding number of quad b as given (local origin ox, oy).

    w_b is the signed sum of the indicators of the fan triangles (O, b_j, b_j+1): +1 for a counter-clockwise
    triangle, -1 for a clockwise one. Each a edge is clipped (Cyrus-Beck) to each triangle; where it lies on a
    triangle side (within ``tol``) it counts half, the mean of w_b on both sides of that line.
    """
    # b's fan triangles, positively oriented: vertex (x, y) and unit side direction (ux, uy) for O, v1, v2
    tx = np.zeros((4, 3))
    ty = np.zeros((4, 3))
    tu = np.zeros((4, 3))
    tv = np.zeros((4, 3))
    sgn = np.zeros(4)
    for j in range(4):
        nx = (j + 1) % 4
        x1, y1 = pts[b, j, 5] - ox, pts[b, j, 6] - oy
        x2, y2 = pts[b, nx, 5] - ox, pts[b, nx, 6] - oy
        c = x1 * y2 - y1 * x2
        if not (c > 0 or c < 0):  # a triangle of zero area covers nothing (NaN: non-finite input)
            continue
        if c < 0:
            x1, y1, x2, y2 = x2, y2, x1, y1
        tx[j, 1], ty[j, 1], tx[j, 2], ty[j, 2] = x1, y1, x2, y2
        ok = True
        for s in range(3):
            s1 = (s + 1) % 3
            ex, ey = tx[j, s1] - tx[j, s], ty[j, s1] - ty[j, s]
            length = math.hypot(ex, ey)  # > 0 for a triangle with area, short of under/overflow
            if not length > 0:
                ok = False
                break
            tu[j, s], tv[j, s] = ex / length, ey / length
        if ok:
            sgn[j] = 1.0 if c > 0 else -1.0
    twice = 0.0
    for i in range(4):
        nx = (i + 1) % 4
        px, py = pts[a, i, 5] - ox, pts[a, i, 6] - oy
        qx, qy = pts[a, nx, 5] - ox, pts[a, nx, 6] - oy
        w = px * qy - py * qx  # cross(p, q): 0 for an edge on a line through O, which adds nothing
        if w == 0.0:
            continue
        acc = 0.0
        for j in range(4):
            if sgn[j] == 0.0:
                continue
            t0, t1, f = 0.0, 1.0, 1.0
            for s in range(3):
                ux, uy = tu[j, s], tv[j, s]
                d0 = ux * (py - ty[j, s]) - uy * (px - tx[j, s])  # >= 0 inside
                d1 = ux * (qy - ty[j, s]) - uy * (qx - tx[j, s])
                if abs(d0) <= tol and abs(d1) <= tol:
                    f *= 0.5
                elif d0 < 0 and d1 < 0:
                    t1 = -1.0
                    break
                elif (d0 < 0) != (d1 < 0):
                    tc = d0 / (d0 - d1)
                    if d0 < 0:
                        t0 = max(t0, tc)
                    else:
                        t1 = min(t1, tc)
            if t1 > t0:
                acc += sgn[j] * f * (t1 - t0)
        twice += w * acc
    return twice


@njit(cache=True)
def _iou_winding(pts, meta, a, b):
    """IoU of quads a and b as given, by the DOTA devkit's arithmetic (see `eval.geometry.iou`):
    ``inter = ∫ w_a w_b`` with each polygon oriented to non-negative signed area, ``union = |A_a| + |A_b| - inter``.

    ``∫ w_a w_b dA = 1/2 Σ_{edges of a} ∫ w_b (x × dx) + 1/2 Σ_{edges of b} ∫ w_a (x × dx)`` (Green's theorem on
    the fan-triangle decomposition: the fan's sides through O have x × dx = 0).
    """
    ox = (((pts[a, 0, 5] + pts[a, 1, 5]) + pts[a, 2, 5]) + pts[a, 3, 5]) * 0.25
    oy = (((pts[a, 0, 6] + pts[a, 1, 6]) + pts[a, 2, 6]) + pts[a, 3, 6]) * 0.25
    tol = REL_TOL * (1.0 + max(meta[SCALE, a], meta[SCALE, b]))
    twice = _winding_side(pts, a, b, ox, oy, tol) + _winding_side(pts, b, a, ox, oy, tol)
    inter = 0.5 * twice * meta[SIGN, a] * meta[SIGN, b]
    union = meta[AREA, a] + meta[AREA, b] - inter
    return inter / union if union != 0 else 0.0


@njit(cache=True)
def _iou(pts, meta, a, b):
    """IoU of prepared quads a and b."""
    if meta[GENERAL, a] != 0.0 or meta[GENERAL, b] != 0.0:
        return _iou_winding(pts, meta, a, b)
    if meta[DEGENERATE, a] != 0.0 or meta[DEGENERATE, b] != 0.0:
        return 0.0
    # per-pair origin at a's vertex mean keeps the cross products' digits
    ox = (((pts[a, 0, 0] + pts[a, 1, 0]) + pts[a, 2, 0]) + pts[a, 3, 0]) * 0.25
    oy = (((pts[a, 0, 1] + pts[a, 1, 1]) + pts[a, 2, 1]) + pts[a, 3, 1]) * 0.25
    tol = REL_TOL * (1.0 + max(meta[SCALE, a], meta[SCALE, b]))
    twice = _clip_side(pts, a, b, ox, oy, tol, True) + _clip_side(pts, b, a, ox, oy, tol, False)
    area_a, area_b = meta[AREA, a], meta[AREA, b]
    inter = min(max(0.5 * twice, 0.0), min(area_a, area_b))
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


@njit(cache=True)
def _overlap(meta, a, b):
    """Strict overlap of the axis-aligned extents: touching or disjoint pairs have IoU 0."""
    return (meta[LOX, a] < meta[HIX, b]) & (meta[LOX, b] < meta[HIX, a]) & (meta[LOY, a] < meta[HIY, b]) & (
        meta[LOY, b] < meta[HIY, a]
    )


@njit(cache=True)
def iou_matrix(pts, meta, n):
    """(n, N - n) IoU matrix of prepared boxes [0, n) against [n, N)."""
    m = pts.shape[0] - n
    out = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            if _overlap(meta, i, n + j):
                out[i, j] = _iou(pts, meta, i, n + j)
    return out


@njit(cache=True)
def iou_sparse(pts, meta, n, ga, gb):
    """Pairs (i, j) of prepared boxes i < n and n + j with equal groups ga[i] == gb[j] and overlapping extents,
    in row-major order, with their IoU: ((K,) int64, (K,) int64, (K,) float64)."""
    m = pts.shape[0] - n
    hit = np.empty((n, m), dtype=np.bool_)
    lox, loy, hix, hiy = meta[LOX, n:], meta[LOY, n:], meta[HIX, n:], meta[HIY, n:]
    k = 0
    for i in range(n):
        x0, y0, x1, y1, g = meta[LOX, i], meta[LOY, i], meta[HIX, i], meta[HIY, i], ga[i]
        row = hit[i]
        # branch-free test of a whole row: LLVM vectorises it (a branchy test costs ~5x more)
        for j in range(m):
            row[j] = (x0 < hix[j]) & (lox[j] < x1) & (y0 < hiy[j]) & (loy[j] < y1) & (g == gb[j])
        for j in range(m):
            k += row[j]
    ia = np.empty(k, dtype=np.int64)
    ib = np.empty(k, dtype=np.int64)
    val = np.empty(k)
    q = 0
    for i in range(n):
        for j in range(m):
            if hit[i, j]:
                ia[q], ib[q] = i, j
                val[q] = _iou(pts, meta, i, n + j)
                q += 1
    return ia, ib, val


@njit(cache=True)
def iou_indexed(pts, meta, ia, ib):
    """(K,) IoU of prepared boxes ia[k] and ib[k] (indices already checked and offset)."""
    out = np.zeros(ia.shape[0])
    for k in range(ia.shape[0]):
        if _overlap(meta, ia[k], ib[k]):
            out[k] = _iou(pts, meta, ia[k], ib[k])
    return out
