"""Exact IoU of quads (rotated boxes, polygons) and of horizontal boxes, in float64.

Algorithm (`rotated_iou`, `rotated_iou_pairs`), convex path: both quads are normalised to convex, positively
oriented 4-vertex polygons (see *Quad policy* for darts and bow-ties); the intersection area follows from Green's theorem as
``1/2 * sum of cross(p, q)`` over the directed boundary segments ``p -> q`` of A ∩ B, and that boundary is made
of the parts of A's edges inside B plus the parts of B's edges inside A. Each part is one parametric
(Cyrus-Beck) clip of an edge against four half-planes, so a pair costs a fixed, sort-free 2 × 16 half-plane
tests; because ``cross(a + t0 e, a + t1 e) = (t1 - t0) cross(a, e)`` each edge contributes
``(t1 - t0)+ · cross(a_i, a_i+1)``. Coordinates are shifted to a per-pair origin (A's vertex mean) so the
cross products do not lose digits far from (0, 0). In the matrix form an axis-aligned-box prefilter skips
disjoint pairs, which is what makes sparse aerial scenes cheap; `rotated_iou_sparse` also skips pairs of
different groups (classes) and returns only the candidate pairs. The per-pair loops are compiled with numba
(`eval.geometry.quad_kernels`); this module validates shapes and indices.

Shared boundaries: an A edge and a B edge lying on the same line (within ``tol``, see below) would be counted
twice (same direction, e.g. identical boxes) or once spuriously (opposite direction, touching boxes). Rule: a
collinear same-direction pair is counted once, from A; opposite-direction collinear edges are dropped on both
sides (their contributions would cancel anyway). The collinearity tolerance is a distance,
``tol = 1e-10 · (1 + largest |coordinate| of the pair)``, far above float64 noise of box corners and far below
anything visible, so the same box written as (w, h, θ) and (h, w, θ + 90°) gives IoU 1 to ~1e-15 (shapely/GEOS
without ``grid_size`` returns 0 for a few such pairs).

Quad policy (non-convex and self-intersecting input), ``quad_policy``:

- ``"hull"`` (default): every quad is replaced by the **convex hull of its four vertices**. A convex quad written
  in any vertex order (including bow-tie orders) is read as that quad; a dart (one reflex vertex) becomes its
  hull triangle. IoU is always in [0, 1]. Rewards, NMS, grounding and the mmrotate protocol's geometry use it.
- ``"devkit"``: the DOTA devkit's ``polyiou`` arithmetic on the polygon **as given**. The devkit orients each
  polygon to non-negative signed (shoelace) area, takes ``inter = Σ_ij ± area(T_i ∩ U_j)`` over the fan
  triangles ``T_i = (0, p_i, p_i+1)``, ``U_j = (0, q_j, q_j+1)`` (sign: product of the triangles' orientations)
  and ``union = |area(p)| + |area(q)| - inter``. That sum is ``∫ w_p w_q dA`` with ``w`` the winding number, so:
  for simple polygons (convex or darts) it is the exact intersection area; for a self-intersecting (bow-tie)
  quad, whose lobes have winding numbers of opposite sign, it is a signed value: the bow-tie
  ``0 0 10 10 10 0 0 10`` has area 0 and IoU 0 with the square ``0 0 10 0 10 10 0 10``, and jittered bow-ties
  score anywhere from below 0 to above 1. We compute the same ``∫ w_p w_q`` (not the devkit's rounding) by
  Green's theorem on the fan decomposition: ``1/2 Σ_edges of p ∫ w_q (x × dx) + 1/2 Σ_edges of q ∫ w_p (x × dx)``,
  each edge clipped against the other quad's four fan triangles (the fan sides through the origin add nothing,
  since ``x × dx = 0`` on them). Quads that are convex in the order given take the convex path above, which is
  exact for them; only pairs involving a dart or a bow-tie pay for the winding-number path (4–5× the time of a convex
  pair; `bench_iou`). Zero union gives 0 here; the devkit divides by zero (NaN) or by rounding noise.

Degenerate boxes: a quad whose area is at most ``tol × perimeter`` (zero width) has IoU 0 with everything,
itself included; so does a pair with zero union. IoU is a plain ratio of areas: no +1 pixel convention.
"""

from __future__ import annotations

import numpy as np

from eval.geometry import quad_kernels as qk

QUAD_POLICIES = ("hull", "devkit")


def _as_quads(x) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4, 2)
    if arr.shape[-1] == 8:
        return arr.reshape(-1, 4, 2)
    if arr.shape[-2:] == (4, 2):
        return arr.reshape(-1, 4, 2)
    raise ValueError(f"expected quads of shape (N, 8) or (N, 4, 2), got shape {arr.shape}")


def _policy_code(quad_policy: str) -> int:
    if quad_policy == "hull":
        return qk.HULL
    if quad_policy == "devkit":
        return qk.DEVKIT
    raise ValueError(f"quad_policy must be one of {QUAD_POLICIES}, got {quad_policy!r}")


def _prepared(a: np.ndarray, b: np.ndarray, quad_policy: str) -> tuple:
    """`quad_kernels.prepare` of a's rows followed by b's (rows n.. are b): one call for both sets."""
    return qk.prepare(np.ascontiguousarray(np.concatenate((a, b))), _policy_code(quad_policy))


def rotated_iou(a, b, quad_policy: str = "hull") -> np.ndarray:
    """IoU matrix between two sets of quads (rotated boxes or arbitrary 4-point polygons).

    Args:
        a: (N, 8) quads ``x1, y1, ..., x4, y4``.
        b: (M, 8) quads.
        quad_policy: "hull" or "devkit" (module docstring).

    Returns:
        (N, M) float64 IoU, in [0, 1] except for bow-ties under "devkit"; exact up to float64 rounding (see
        module docstring for the quad policies, degenerate boxes and shared edges).
    """
    a, b = _as_quads(a), _as_quads(b)
    n, m = a.shape[0], b.shape[0]
    _policy_code(quad_policy)
    out = np.zeros((n, m))
    if n == 0 or m == 0:
        return out
    return qk.iou_matrix(*_prepared(a, b, quad_policy), n)


def rotated_iou_sparse(
    a, b, a_group=None, b_group=None, quad_policy: str = "hull"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of the only pairs that can overlap: same group and strictly overlapping axis-aligned extents.

    A sparse `rotated_iou` for scenes where most pairs are disjoint (aerial detection: ~1 candidate per box
    instead of N x M); every pair not returned has IoU 0 or a different group.

    Args:
        a: (N, 8) quads.
        b: (M, 8) quads.
        a_group: (N,) integer group per quad of ``a`` (e.g. class codes; None: one group).
        b_group: (M,) integer group per quad of ``b``; a pair is a candidate only when the groups are equal.
        quad_policy: "hull" or "devkit" (module docstring).

    Returns:
        (ia, ib, iou): (K,) int64 indices into ``a`` and ``b`` in row-major order, and their (K,) float64 IoU
        (equal to the matching entries of ``rotated_iou(a, b)``).
    """
    a, b = _as_quads(a), _as_quads(b)
    n, m = a.shape[0], b.shape[0]
    _policy_code(quad_policy)
    if n == 0 or m == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    if a_group is None or b_group is None:  # one group
        ga, gb = np.zeros(n, dtype=np.int64), np.zeros(m, dtype=np.int64)
    else:
        ga, gb = _groups(a_group, n, "a_group"), _groups(b_group, m, "b_group")
    return qk.iou_sparse(*_prepared(a, b, quad_policy), n, ga, gb)


def _groups(g, n: int, name: str) -> np.ndarray:
    arr = np.asarray(g).reshape(-1)
    if arr.shape[0] != n or arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold {n} integers, got shape {arr.shape} of {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def rotated_iou_pairs(a, b, quad_policy: str = "hull") -> np.ndarray:
    """Element-wise IoU of quads a[k] and b[k].

    Args:
        a: (K, 8) quads.
        b: (K, 8) quads.
        quad_policy: "hull" or "devkit" (module docstring).

    Returns:
        (K,) float64 IoU.
    """
    a = _as_quads(a)
    b = _as_quads(b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"rotated_iou_pairs needs equal lengths, got {a.shape[0]} and {b.shape[0]}")
    idx = np.arange(a.shape[0])
    return rotated_iou_indexed(a, b, idx, idx, quad_policy)


def rotated_iou_indexed(a, b, ia, ib, quad_policy: str = "hull") -> np.ndarray:
    """IoU of the pairs (a[ia[k]], b[ib[k]]) without materialising the gathered quads.

    Each distinct box is prepared once, which matters when one box takes part in many pairs (mAP matching).

    Args:
        a: (N, 8) quads.
        b: (M, 8) quads.
        ia: (K,) indices into a.
        ib: (K,) indices into b.
        quad_policy: "hull" or "devkit" (module docstring).

    Returns:
        (K,) float64 IoU.
    """
    a, b = _as_quads(a), _as_quads(b)
    n, m = a.shape[0], b.shape[0]
    # indexing an arange checks the bounds and resolves negative indices before b's rows are offset by n
    ia = np.arange(n)[np.asarray(ia, dtype=np.int64).reshape(-1)]
    ib = np.arange(m)[np.asarray(ib, dtype=np.int64).reshape(-1)] + n
    _policy_code(quad_policy)
    if ia.shape[0] == 0:
        return np.zeros(0)
    return qk.iou_indexed(*_prepared(a, b, quad_policy), ia, ib)


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
