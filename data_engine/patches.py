"""DOTA-style splitting of large detection images into overlapping square patches (mmrotate `img_split` rules).

A patch row points at the ORIGINAL image file and records its window in ``target["patch"] = {"parent", "x", "y",
"size"}``; rendering cuts the window out (pixels beyond the image are black padding, as mmrotate pads edge
patches). Object polygons are stored in patch pixels (shifted by ``(-x, -y)``), so eval merges back by adding the
offset, which is also spelled in the patch id ``<id>__<size>__<x>___<y>``. An object is kept in a window when its
intersection-over-foreground (area inside the window / its own area) is at least `iof_thr` (0.7); a kept object
that is cut gets ``"truncated": true`` (mmrotate writes difficulty 2 for it) and keeps its full polygon.
"""

from __future__ import annotations

import json
import math

import numpy as np
import shapely

from data_engine.errors import UserError

IOF_THR = 0.7


def window_starts(length: int, size: int, gap: int) -> list[int]:
    """Window start offsets along one axis: step ``size - gap``; the last window is pulled back to end at the border.

    Example: length 2000, size 1024, gap 200 -> step 824 -> starts [0, 824] would end at 1848 < 2000, so a third
    start is needed: ceil((2000 - 1024) / 824) + 1 = 3 windows [0, 824, 1648] with the last moved to 2000-1024=976.
    """
    if size <= gap:
        raise UserError(f"patch size ({size}) must exceed the gap ({gap})")
    if length <= size:
        return [0]
    step = size - gap
    n = math.ceil((length - size) / step) + 1
    starts = [step * i for i in range(n)]
    if starts[-1] + size > length:
        starts[-1] = length - size
    return starts


def windows(width: int, height: int, size: int, gap: int) -> np.ndarray:
    """(K, 4) int array of windows [x1, y1, x2, y2], row-major (y outer, x inner)."""
    xs, ys = window_starts(width, size, gap), window_starts(height, size, gap)
    return np.array([[x, y, x + size, y + size] for y in ys for x in xs], dtype=np.int64)


def iof(polys: np.ndarray, window) -> np.ndarray:
    """Intersection-over-foreground of each polygon with a window.

    Args:
        polys: (N, 8) polygons in image pixels.
        window: [x1, y1, x2, y2].

    Returns:
        (N,) fraction of each polygon's area inside the window (0 for zero-area polygons).
    """
    if len(polys) == 0:
        return np.zeros(0)
    shapes = shapely.polygons(np.asarray(polys, dtype=np.float64).reshape(-1, 4, 2))
    shapes = shapely.make_valid(shapes)  # self-intersecting (bow-tie) annotations exist in real files
    area = shapely.area(shapes)
    inter = shapely.area(shapely.intersection(shapes, shapely.box(*window)))
    return np.divide(inter, area, out=np.zeros_like(area), where=area > 0)


def patch_id(parent_id: str, size: int, x: int, y: int) -> str:
    return f"{parent_id}__{size}__{x}___{y}"


def split_row(row: dict, size: int = 1024, gap: int = 200, iof_thr: float = IOF_THR,
              keep_empty: bool = True) -> list[dict]:
    """Patch rows of one detection row; a row whose image fits in one patch is returned unchanged.

    Args:
        row: a schema row of task detection.
        size, gap: window side and overlap in pixels.
        iof_thr: minimum intersection-over-foreground for an object to be kept in a window.
        keep_empty: keep windows without objects (valid negatives, "There are none.").
    """
    width, height = int(row["width"]), int(row["height"])
    if max(width, height) <= size:
        return [row]
    target = json.loads(row["target"])
    objects = target["objects"]
    polys = np.array([o["poly"] for o in objects], dtype=np.float64).reshape(-1, 8)
    out = []
    for x1, y1, x2, y2 in windows(width, height, size, gap).tolist():
        frac = iof(polys, (x1, y1, x2, y2))
        kept = []
        for o, p, f in zip(objects, polys, frac, strict=True):
            if f >= iof_thr:
                shifted = (p - np.tile([x1, y1], 4)).tolist()
                kept.append({**o, "poly": shifted, "truncated": bool(f < 1.0 - 1e-9)})
        if not kept and not keep_empty:
            continue
        t = {**target, "objects": kept, "patch": {"parent": row["id"], "x": x1, "y": y1, "size": size}}
        out.append({**row, "id": patch_id(row["id"], size, x1, y1), "width": size, "height": size,
                    "target": json.dumps(t, ensure_ascii=False)})
    return out


def parse_patch_id(pid: str) -> tuple[str, int, int, int] | None:
    """(parent_id, size, x, y) of a patch id, or None when `pid` is not one."""
    head, sep, y = pid.rpartition("___")
    parent, sep2, rest = head.rpartition("__") if sep else ("", "", "")
    if not sep or not sep2:
        return None
    parent, sep3, size = parent.rpartition("__")
    try:
        return (parent, int(size), int(rest), int(y)) if sep3 else None
    except ValueError:
        return None
