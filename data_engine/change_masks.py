"""Change masks -> oriented boxes: one 4-point polygon per connected component of a binary change mask.

Used by the LEVIR-CD adapter (docs/multi-image.md §4). Components come from `scipy.ndimage.label` (8-connectivity);
each component's polygon is shapely's minimum rotated rectangle of the convex hull of its boundary pixels' corners,
so the box covers every pixel of the component. Components with fewer than ``min_area`` pixels are left out and
counted (``n_small``); the detection schema stores 4-point polygons, so a concave region becomes its tightest
oriented box.
"""

from __future__ import annotations

import numpy as np

_CORNERS = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)


def mask_to_polys(mask: np.ndarray, min_area: int = 16) -> tuple[list[list[float]], int]:
    """Oriented boxes of the connected components of ``mask > 0``.

    Args:
        mask: (H, W) array; any value > 0 is change (LEVIR-CD labels are 0/255).
        min_area: components with fewer pixels are dropped (and counted).

    Returns:
        (polys, n_small): ``[[x1, y1, ..., x4, y4], ...]`` in pixel-edge coordinates (a pixel (r, c) spans
        ``[c, c + 1] x [r, r + 1]``), ordered by component label (row-major first pixel), and the number of
        components below ``min_area``.
    """
    from scipy import ndimage
    from shapely.geometry import MultiPoint

    binary = np.asarray(mask) > 0
    labels, n = ndimage.label(binary, structure=np.ones((3, 3), dtype=bool))
    polys: list[list[float]] = []
    n_small = 0
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        comp = labels[sl] == k
        if int(comp.sum()) < min_area:
            n_small += 1
            continue
        edge = comp & ~ndimage.binary_erosion(comp)
        rows, cols = np.nonzero(edge)
        pix = np.stack([cols + sl[1].start, rows + sl[0].start], axis=1).astype(np.float64)
        pts = (pix[:, None, :] + _CORNERS[None, :, :]).reshape(-1, 2)
        rect = MultiPoint(pts).convex_hull.minimum_rotated_rectangle
        xy = np.asarray(rect.exterior.coords, dtype=np.float64)[:4]
        polys.append([round(float(v), 2) for v in xy.reshape(-1)])
    return polys, n_small
