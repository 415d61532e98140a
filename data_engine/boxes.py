"""Pure box conversions between polygons (quads), oriented boxes and horizontal boxes.

All functions are vectorised numpy, take and return float64 arrays in **image coordinates** (x to the right,
y down, original-image pixels unless the caller says otherwise), and never import other GeoRFT packages, so the
renderer, the parsers, the rewards and the evaluators all share one convention.

Formats:

- polygon (quad): (N, 8) ``x1, y1, x2, y2, x3, y3, x4, y4``;
- HBB: (N, 4) ``x1, y1, x2, y2`` (left, top, right, bottom; no +1 pixel convention);
- OBB: (N, 5) ``cx, cy, w, h, angle_deg``.

OBB convention (RSCoVLM / le90-style, docs/formats.md §3): the rectangle is the minimum-area rectangle of the
polygon; ``w`` is the longer side and ``h`` the shorter; ``angle_deg`` is the direction of the ``w`` side,
``atan2(dy, dx)`` in degrees measured in image coordinates, wrapped to [-90, 90). Because y points down,
**a positive angle turns the w side clockwise on screen** (the OpenCV / mmrotate sign, the opposite of
torchvision's CCW-positive degrees). A square (w == h up to 1e-9 relative) has no preferred side: we report
the side whose angle lies in [-45, 45). ``(w, h, a)`` and ``(h, w, a + 90)`` describe the same rectangle; only
the first form is ever produced.

The minimum-area rectangle is computed here without OpenCV: the optimal rectangle has one side collinear with
a convex-hull edge, and every hull edge of a quad joins two of its four vertices, so taking the tightest
bounding rectangle over the six vertex-pair directions (a superset of the hull edges; the extra directions only
give larger rectangles) is exact and stays fully vectorised. Results agree with ``cv2.minAreaRect`` up to its
float32 rounding and its choice of side for squares.
"""

from __future__ import annotations

import numpy as np

# Vertex pairs whose directions are the candidate rectangle orientations (all 6 pairs of 4 vertices).
_PAIRS_I = np.array([0, 0, 0, 1, 1, 2])
_PAIRS_J = np.array([1, 2, 3, 2, 3, 3])
# Two sides are "equal" (square) within this relative tolerance.
_SQUARE_RTOL = 1e-9


def _as_rows(x, width: int) -> np.ndarray:
    """(N, width) float64 view of array-like boxes; a single box of shape (width,) becomes (1, width)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, width)
    if arr.shape[-1] != width:
        raise ValueError(f"expected boxes with {width} values in the last dimension, got shape {arr.shape}")
    return arr.reshape(-1, width)


def wrap_angle_deg(angle: np.ndarray) -> np.ndarray:
    """Wrap angles in degrees to [-90, 90) (a rectangle is symmetric under a 180-degree turn).

    Args:
        angle: (...) angles in degrees.

    Returns:
        (...) float64 angles in [-90, 90).
    """
    out = np.mod(np.asarray(angle, dtype=np.float64) + 90.0, 180.0) - 90.0
    # fmod rounding can land exactly on +90 for inputs a hair below -90 + 180k
    return np.where(out >= 90.0, out - 180.0, out)


def poly_area(polys) -> np.ndarray:
    """Absolute shoelace area of each quad, vertices taken in the given order.

    For a self-intersecting (bow-tie) vertex order this is the absolute signed sum, not the covered area;
    order the vertices first (`order_poly_vertices`) if that matters.

    Args:
        polys: (N, 8) quads.

    Returns:
        (N,) float64 areas.
    """
    p = _as_rows(polys, 8).reshape(-1, 4, 2)
    # Shoelace about the first vertex: keeps the products small when coordinates are large.
    q = p - p[:, :1, :]
    x, y = q[..., 0], q[..., 1]
    s = x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y
    return 0.5 * np.abs(s.sum(axis=1))


def hbb_to_poly(hbbs) -> np.ndarray:
    """Horizontal boxes to quads, clockwise on screen starting at the top-left corner.

    Args:
        hbbs: (N, 4) ``x1, y1, x2, y2``.

    Returns:
        (N, 8) ``x1,y1, x2,y1, x2,y2, x1,y2``.
    """
    b = _as_rows(hbbs, 4)
    x1, y1, x2, y2 = b.T
    return np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=1)


def poly_to_hbb(polys) -> np.ndarray:
    """Axis-aligned bounding boxes of quads.

    Args:
        polys: (N, 8) quads.

    Returns:
        (N, 4) ``xmin, ymin, xmax, ymax``.
    """
    p = _as_rows(polys, 8).reshape(-1, 4, 2)
    lo = p.min(axis=1)
    hi = p.max(axis=1)
    return np.concatenate([lo, hi], axis=1)


def obb_to_poly(obbs) -> np.ndarray:
    """Oriented boxes to quads.

    Corners come in the box's own order: ``(-w/2, -h/2), (w/2, -h/2), (w/2, h/2), (-w/2, h/2)`` rotated by the
    angle and shifted to the centre, i.e. top-left, top-right, bottom-right, bottom-left for angle 0 (clockwise on
    screen). Use `order_poly_vertices` for the RSCoVLM serialisation order.

    Args:
        obbs: (N, 5) ``cx, cy, w, h, angle_deg`` (positive angle = clockwise on screen, y down).

    Returns:
        (N, 8) quads.
    """
    o = _as_rows(obbs, 5)
    cx, cy, w, h, a = o.T
    t = np.deg2rad(a)
    c, s = np.cos(t), np.sin(t)
    hw, hh = w / 2.0, h / 2.0
    # local corner offsets (N, 4)
    lx = np.stack([-hw, hw, hw, -hw], axis=1)
    ly = np.stack([-hh, -hh, hh, hh], axis=1)
    x = cx[:, None] + lx * c[:, None] - ly * s[:, None]
    y = cy[:, None] + lx * s[:, None] + ly * c[:, None]
    return np.stack([x, y], axis=2).reshape(-1, 8)


def poly_to_obb(polys) -> np.ndarray:
    """Minimum-area rectangles of quads in the RSCoVLM / le90-style OBB convention (see module docstring).

    Degenerate inputs are well defined: collinear points give ``h = 0``; four equal points give
    ``w = h = 0`` and angle 0.

    Args:
        polys: (N, 8) quads, any vertex order.

    Returns:
        (N, 5) ``cx, cy, w, h, angle_deg`` with ``w >= h`` and ``angle_deg`` in [-90, 90).
    """
    p = _as_rows(polys, 8).reshape(-1, 4, 2)
    n = p.shape[0]
    if n == 0:
        return np.zeros((0, 5))
    origin = p.mean(axis=1, keepdims=True)
    q = p - origin  # local coordinates: projections stay accurate for boxes far from (0, 0)
    d = q[:, _PAIRS_J, :] - q[:, _PAIRS_I, :]  # (N, 6, 2) candidate side directions
    length = np.hypot(d[..., 0], d[..., 1])
    ok = length > 0
    ux = np.where(ok, d[..., 0] / np.where(ok, length, 1.0), 1.0)
    uy = np.where(ok, d[..., 1] / np.where(ok, length, 1.0), 0.0)
    # projections of the 4 vertices on each direction u and its normal v = (-uy, ux): (N, 6, 4)
    pu = ux[..., None] * q[:, None, :, 0] + uy[..., None] * q[:, None, :, 1]
    pv = -uy[..., None] * q[:, None, :, 0] + ux[..., None] * q[:, None, :, 1]
    umin, umax = pu.min(axis=2), pu.max(axis=2)
    vmin, vmax = pv.min(axis=2), pv.max(axis=2)
    area = (umax - umin) * (vmax - vmin)
    area = np.where(ok, area, np.inf)
    best = np.argmin(area, axis=1)  # all-coincident points: every area is inf, argmin picks 0 with u = (1, 0)
    r = np.arange(n)
    bux, buy = ux[r, best], uy[r, best]
    w = umax[r, best] - umin[r, best]
    h = vmax[r, best] - vmin[r, best]
    mu = 0.5 * (umax[r, best] + umin[r, best])
    mv = 0.5 * (vmax[r, best] + vmin[r, best])
    cx = origin[:, 0, 0] + mu * bux - mv * buy
    cy = origin[:, 0, 1] + mu * buy + mv * bux
    angle = np.rad2deg(np.arctan2(buy, bux))
    swap = w < h
    w, h = np.where(swap, h, w), np.where(swap, w, h)
    angle = wrap_angle_deg(np.where(swap, angle + 90.0, angle))
    square = np.abs(w - h) <= _SQUARE_RTOL * np.maximum(w, 1e-300)
    angle = np.where(square & (angle >= 45.0), angle - 90.0, angle)
    angle = np.where(square & (angle < -45.0), angle + 90.0, angle)
    return np.stack([cx, cy, w, h, angle], axis=1)


def order_poly_vertices(polys) -> np.ndarray:
    """Reorder quad vertices the RSCoVLM way: by angle around the vertex mean, clockwise on screen, starting
    at the vertex with the smallest (y, x).

    In image coordinates (y down) clockwise on screen is increasing ``atan2(y - cy, x - cx)``. Sorting by angle
    around the mean also untangles bow-tie orders of convex quads.

    Args:
        polys: (N, 8) quads.

    Returns:
        (N, 8) reordered quads.
    """
    p = _as_rows(polys, 8).reshape(-1, 4, 2)
    if p.shape[0] == 0:
        return p.reshape(0, 8)
    c = p.mean(axis=1, keepdims=True)
    ang = np.arctan2(p[..., 1] - c[..., 1], p[..., 0] - c[..., 0])
    q = np.take_along_axis(p, np.argsort(ang, axis=1, kind="stable")[..., None], axis=1)
    # start vertex: minimum y, ties broken by minimum x
    y, x = q[..., 1], q[..., 0]
    at_min_y = y == y.min(axis=1, keepdims=True)
    start = np.argmin(np.where(at_min_y, x, np.inf), axis=1)
    idx = (start[:, None] + np.arange(4)[None, :]) % 4
    return np.take_along_axis(q, idx[..., None], axis=1).reshape(-1, 8)
