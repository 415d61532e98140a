"""The ``seg_polygon`` mask answer: a mask as polygon lines in the model's coordinate frame (docs/formats.md §7).

One polygon per line, its vertices as integers ``x1,y1,x2,y2,...`` in the family's frame (`data_engine.frames`),
like the detection polygon lines without a label; ``There is none.`` for an empty target. The parser
(`eval.parsers.segmentation.read_seg_polygon`) accepts exactly this grammar and rasterises with pycocotools.

Mask -> polygons (shapely, from the mask's own pixel runs; no hand-written tracing):

1. the on pixels as disjoint rectangles (each row's runs, merged down the rows: `masks.grid_rectangles`), their
   exact union (`shapely.union_all`) in original pixels, pixel ``(x, y)`` being the square
   ``[x, x+1] x [y, y+1]`` (pycocotools' polygon convention);
2. scaled into the model frame; its parts (at most the ``MAX_VERTICES // 3`` largest) simplified
   (Douglas-Peucker, topology kept) with `simplify_tolerance` (the larger of ``SIMPLIFY_TOLERANCE`` model units
   and ``SIMPLIFY_PIXELS`` original pixels), doubled until the answer
   holds at most ``MAX_VERTICES`` vertices (then the largest polygons that fit are kept); a part whose area the
   simplification would change by more than a quarter (one a few units across) is written as its minimum
   rotated rectangle;
3. holes removed by cutting each holed polygon with a vertical line through a hole (the pieces stay exact);
4. each ring oriented clockwise on screen, started at its smallest ``(y, x)`` vertex, rounded to integers
   (consecutive repeats dropped, collapsed rings left out), polygons ordered by that first vertex.

A non-empty mask whose every polygon collapses at the frame's integer resolution is written as its bounding box
(floor / ceil in the model frame), so a present target never reads as absent.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon, box
from shapely.geometry.polygon import orient
from shapely.ops import split

from data_engine.errors import UserError
from data_engine.frames import Frame
from data_engine.masks import decode_mask, grid_rectangles, mask_area, mask_size
from data_engine.seg_answers import NO_MASK_ANSWER

# Douglas-Peucker tolerance: the larger of one model unit (finer is lost to integer rounding anyway) and 1.5
# original pixels (a slanted edge of a rasterised polygon is a staircase up to ~1.4 px off its true edge: kept, it
# costs a vertex a step, ~500 tokens for the synthetic world's rotated rectangles in Qwen3-VL's 0-1000 frame
# against ~31 at 1.5 px, IoU 0.994; `benchmarks/bench_masks.py`).
SIMPLIFY_TOLERANCE = 1.0  # model units
SIMPLIFY_PIXELS = 1.5  # original pixels
MAX_VERTICES = 256  # per answer, all polygons together (~1.3 k tokens at ~5 tokens a vertex)
_MAX_DOUBLINGS = 12


def _polygons(geom) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if isinstance(geom, MultiPolygon) or hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygons(g)]
    return []


def mask_union(mask: np.ndarray):
    """The on pixels of an (h, w) bool mask as one shapely geometry in pixel-edge coordinates."""
    rects = grid_rectangles(mask)
    return shapely.union_all([box(c0, r0, c1, r1) for r0, c0, r1, c1 in rects])


def _without_holes(polys: list[Polygon]) -> list[Polygon]:
    """Cut every polygon with holes along a vertical line through one of its holes, until none has a hole."""
    out, todo = [], list(polys)
    while todo:
        p = todo.pop()
        if not p.interiors:
            out.append(p)
            continue
        x = Polygon(p.interiors[0]).representative_point().x
        _, y0, _, y1 = p.bounds
        todo.extend(_polygons(split(p, LineString([(x, y0 - 1), (x, y1 + 1)]))))
    return out


def _ring(p: Polygon) -> np.ndarray:
    """(n, 2) int64 vertices of a polygon's exterior: clockwise on screen, rounded, no repeats, smallest (y, x)
    first; fewer than 3 rows (or zero area) when the ring collapses at integer resolution."""
    xy = np.asarray(orient(p, sign=1.0).exterior.coords, dtype=np.float64)[:-1]  # y down: math-CCW = screen-CW
    v = np.rint(xy).astype(np.int64)
    keep = np.any(v != np.roll(v, 1, axis=0), axis=1)
    v = v[keep] if keep.any() else v[:1]
    if len(v) < 3:
        return v
    start = np.lexsort((v[:, 0], v[:, 1]))[0]
    v = np.roll(v, -start, axis=0)
    x, y = v[:, 0], v[:, 1]
    area2 = np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)
    return v if area2 != 0 else v[:2]


def _rings(parts: np.ndarray, tolerance: float) -> list[np.ndarray]:
    """Integer rings of the parts (a shapely array, model frame) simplified at ``tolerance``; a part whose area
    simplification changes by more than a quarter (one a few units wide) is written as its minimum rotated
    rectangle instead."""
    simple = shapely.simplify(parts, tolerance, preserve_topology=True)
    before = shapely.area(parts)
    small = np.abs(shapely.area(simple) - before) > 0.25 * before
    simple[small] = shapely.oriented_envelope(parts[small])
    rings = [_ring(p) for g in simple for p in _without_holes(_polygons(g))]
    return [r for r in rings if len(r) >= 3]


def simplify_tolerance(frame: Frame) -> float:
    """The Douglas-Peucker tolerance in model units: max(``SIMPLIFY_TOLERANCE`` units, ``SIMPLIFY_PIXELS`` pixels)."""
    return max(SIMPLIFY_TOLERANCE, SIMPLIFY_PIXELS * max(frame.scale))


def mask_to_polygons(rle: dict, frame: Frame, tolerance: float | None = None,
                     max_vertices: int = MAX_VERTICES) -> list[np.ndarray]:
    """A target mask (COCO RLE, original pixels) as polygons in the frame's integer coordinates (module docstring);
    ``tolerance`` (model units) defaults to `simplify_tolerance`.

    Returns:
        list of (n_i, 2) int64 vertex arrays, n_i >= 3, sum(n_i) <= max_vertices; empty for an empty mask.

    Raises:
        UserError: the mask's size differs from the frame's original size.
    """
    w, h = mask_size(rle)
    if (w, h) != (round(frame.orig_w), round(frame.orig_h)):
        raise UserError(f"mask is {w}x{h} but the image is {frame.orig_w:g}x{frame.orig_h:g}")
    if mask_area(rle) == 0:
        return []
    sx, sy = frame.scale
    geom = shapely.transform(mask_union(decode_mask(rle)), lambda c: c * np.array([sx, sy]))
    # every ring takes >= 3 vertices: past max_vertices // 3 parts only the largest can be written
    parts = sorted(_polygons(geom), key=lambda p: -p.area)[: max(1, max_vertices // 3)]
    parts = np.array(parts, dtype=object)
    tol = simplify_tolerance(frame) if tolerance is None else float(tolerance)
    for _ in range(_MAX_DOUBLINGS):
        rings = _rings(parts, tol)
        if sum(len(r) for r in rings) <= max_vertices:
            break
        tol *= 2
    else:  # still too many: the largest polygons that fit
        kept, n = [], 0
        for r in sorted(rings, key=lambda r: -abs(Polygon(r).area)):
            if n + len(r) <= max_vertices:
                kept.append(r)
                n += len(r)
        rings = kept
    if not rings:  # every part collapses at integer resolution: the bounding box, grown to whole units
        x0, y0, x1, y1 = geom.bounds
        x0, y0 = np.floor(x0), np.floor(y0)
        x1, y1 = max(np.ceil(x1), x0 + 1), max(np.ceil(y1), y0 + 1)
        rings = [np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.int64)]
    return sorted(rings, key=lambda r: (int(r[0, 1]), int(r[0, 0])))


def format_seg_polygon(rle: dict | None, frame: Frame) -> str:
    """The ``seg_polygon`` answer of a target mask (COCO RLE in original pixels): one ``x1,y1,...`` line per
    polygon in the frame's integers, or ``There is none.`` for an empty mask."""
    if rle is None or mask_area(rle) == 0:
        return NO_MASK_ANSWER
    return "\n".join(",".join(str(int(v)) for v in r.ravel()) for r in mask_to_polygons(rle, frame))
