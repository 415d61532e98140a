"""Binary masks: COCO RLE storage (pycocotools) and the merged-patch grid that mask answers are written on.

Masks are stored in a row's target as COCO RLE ``{"size": [h, w], "counts": str}`` of the ORIGINAL image
(`encode_mask`; pycocotools' compressed counts, decoded to ``str`` so the target stays JSON). Every mask operation
(area, IoU, decode) goes through pycocotools.

The grid (docs/formats.md §6) is the shown image's merged-patch grid, ``grid_h x grid_w`` cells of the family's
patch x merge factor (28 px Qwen2.5-VL, 32 px Qwen3-VL) of the smart-resized image. Original pixel ``i`` of an
axis of ``n`` pixels belongs to cell ``((2 i + 1) g) // (2 n)`` of that axis's ``g`` cells (the cell holding the
pixel's centre), so:

- `mask_to_grid`: a cell is on when >= 50 % of the original pixels it holds are on; a cell that holds no pixel
  centre (only when the image is shown larger than one pixel per cell) takes the pixel under its own centre;
- `grid_to_mask`: an original pixel is on when its cell is on.

``mask_to_grid(grid_to_mask(G)) == G`` exactly whenever every cell holds at least one pixel (``n >= g``), which
is what makes render -> parse the identity on grid-representable masks.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pycocotools import mask as mask_utils

from data_engine.errors import UserError


def encode_mask(mask: np.ndarray) -> dict:
    """A binary mask as JSON-safe COCO RLE.

    Args:
        mask: (h, w) array; non-zero = on.

    Returns:
        ``{"size": [h, w], "counts": str}``.
    """
    m = np.asfortranarray(np.asarray(mask) != 0, dtype=np.uint8)
    if m.ndim != 2:
        raise UserError(f"a mask must be 2-D, got shape {m.shape}")
    rle = mask_utils.encode(m)
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


MAX_MASK_PIXELS = 1 << 31


# Strings up to this length are memoised (a batch scores the same target mask G times); longer ones are checked
# afresh each time, so a hostile 20 MB counts string is never kept.
_CACHED_COUNTS = 4096


def rle_problem(counts: str, h: int, w: int) -> str | None:
    """Why a compressed RLE cannot be decoded safely, or None. pycocotools' C decoder trusts its input (a corrupt
    string or runs that do not add up to h*w make it write out of bounds and crash the process), so every stored
    or read RLE is checked here first: pycocotools' own string format (`rleFrString`), decoded vectorised.

    Cost is linear in ``len(counts)`` and bounded before decoding: a string longer than any RLE of an h x w mask
    can be (7 characters a run, at most h*w + 1 runs) is refused unread.
    """
    if len(counts) <= _CACHED_COUNTS:
        return _rle_problem_cached(counts, h, w)
    return _rle_problem(counts, h, w)


@lru_cache(maxsize=4096)
def _rle_problem_cached(counts: str, h: int, w: int) -> str | None:
    return _rle_problem(counts, h, w)


def _rle_problem(counts: str, h: int, w: int) -> str | None:
    if not (0 < h and 0 < w and h * w <= MAX_MASK_PIXELS):
        return f"bad mask size {h}x{w}"
    n, pixels = len(counts), h * w
    if n > 7 * (pixels + 1):
        return f"counts of {n} characters: more than any RLE of a {h}x{w} mask"
    if n == 0:
        return f"runs cover 0 pixels, the mask has {pixels}"
    try:
        c = np.frombuffer(counts.encode("ascii"), np.uint8).astype(np.int64) - 48
    except UnicodeEncodeError as e:
        return f"character {counts[e.start]!r} outside the RLE alphabet"
    outside = (c < 0) | (c >= 64)
    if outside.any():
        return f"character {counts[int(np.argmax(outside))]!r} outside the RLE alphabet"
    more = (c & 0x20) != 0
    if more[-1]:
        return "truncated counts"
    # A run is 1-7 characters of 5 bits, least significant first; 0x20 = another character follows, 0x10 on the
    # last one = negative (two's complement). Runs after the second are stored as differences to the run two back.
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if (lengths > 7).any():
        return "negative or oversized run"
    shift = 5 * (np.arange(n) - np.repeat(starts, lengths))
    raw = np.add.reduceat((c & 0x1F) << shift, starts)
    raw = np.where((c[ends] & 0x10) != 0, raw - (np.int64(1) << (5 * lengths)), raw)
    runs = raw.copy()
    runs[1::2] = np.cumsum(raw[1::2])
    runs[2::2] = np.cumsum(raw[2::2])
    # Each run must lie in [0, h*w] (this also rules out int64 wrap-around, which would need larger runs first).
    if (runs < 0).any():
        return "negative or oversized run"
    if (runs > pixels).any() or int(runs.sum()) != pixels:
        total = int(runs.sum()) if not (runs > pixels).any() else f"more than {pixels}"
        return f"runs cover {total} pixels, the mask has {pixels}"
    return None


def _coco(rle: dict) -> dict:
    """RLE with bytes counts, as pycocotools' C functions want it, after `rle_problem` found it safe.

    Raises:
        UserError: a malformed RLE (wrong types, size, or counts that would crash pycocotools).
    """
    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
        text = counts.decode("ascii") if isinstance(counts, bytes) else counts
        problem = rle_problem(text, h, w) if isinstance(text, str) else f"counts must be text, got {type(text)}"
    except (KeyError, TypeError, ValueError, UnicodeError) as e:
        raise UserError(f"malformed mask RLE: {type(e).__name__}: {e}") from None
    if problem:
        raise UserError(f"malformed mask RLE: {problem}")
    return {"size": [h, w], "counts": text.encode("ascii")}


def decode_mask(rle: dict) -> np.ndarray:
    """(h, w) bool array of a stored RLE."""
    return mask_utils.decode(_coco(rle)).astype(bool)


def mask_area(rle: dict) -> int:
    """Number of on pixels."""
    return int(mask_utils.area(_coco(rle)))


def mask_size(rle: dict) -> tuple[int, int]:
    """(w, h) of a stored RLE (its ``size`` is [h, w])."""
    h, w = _coco(rle)["size"]
    return w, h


def same_size(pred: dict | None, gt: dict) -> dict | None:
    """``pred`` when it is a mask of ``gt``'s size, else None (a prediction of another size counts as empty)."""
    if pred is None:
        return None
    try:
        return pred if _coco(pred)["size"] == _coco(gt)["size"] else None
    except UserError:
        return None


def intersection_union(pred: dict | None, gt: dict) -> tuple[int, int]:
    """(|P ∩ G|, |P ∪ G|) in pixels (pycocotools merge); ``pred`` None is the empty mask.

    Raises:
        UserError: the two masks differ in size.
    """
    if pred is None:
        return 0, mask_area(gt)
    p, g = _coco(pred), _coco(gt)
    if p["size"] != g["size"]:
        raise UserError(f"mask sizes differ: {p['size']} vs {g['size']}")
    inter = int(mask_utils.area(mask_utils.merge([p, g], intersect=True)))
    union = int(mask_utils.area(mask_utils.merge([p, g], intersect=False)))
    return inter, union


def semantic_areas(pred: dict | None, gt: dict, ignore: dict | None = None) -> tuple[int, int, int]:
    """(|P ∩ G|, |P|, |G|) in pixels with the ``ignore`` pixels dropped from P (G holds none by construction)."""
    inter = intersection_union(pred, gt)[0] if pred is not None else 0
    area_p = mask_area(pred) if pred is not None else 0
    if pred is not None and ignore is not None:
        area_p -= intersection_union(pred, ignore)[0]
    return inter, area_p, mask_area(gt)


def mask_iou(pred: dict | None, gt: dict) -> float:
    """IoU of two RLE masks of one size (pycocotools); two empty masks score 1 (nothing to find, nothing found)."""
    inter, union = intersection_union(pred, gt)
    return 1.0 if union == 0 else inter / union


# ------------------------------------------------------------------------------------------------------ the grid
def cell_index(n: int, g: int) -> np.ndarray:
    """(n,) int64: the cell (of ``g``) holding each pixel's centre on an axis of ``n`` pixels."""
    return ((2 * np.arange(n, dtype=np.int64) + 1) * g) // (2 * n)


def _one_hot(n: int, g: int) -> np.ndarray:
    """(g, n) float32 membership of pixels in cells."""
    m = np.zeros((g, n), dtype=np.float32)
    m[cell_index(n, g), np.arange(n)] = 1.0
    return m


def mask_to_grid(mask: np.ndarray, grid_h: int, grid_w: int) -> np.ndarray:
    """The grid answer of a mask: a cell is on when >= 50 % of its pixels are on.

    Args:
        mask: (h, w) array, non-zero = on, original pixels.
        grid_h, grid_w: grid cells down and across.

    Returns:
        (grid_h, grid_w) bool.
    """
    m = np.asarray(mask) != 0
    h, w = m.shape
    rows, cols = _one_hot(h, grid_h), _one_hot(w, grid_w)
    on = rows @ m.astype(np.float32) @ cols.T  # (gh, gw) on-pixel counts per cell
    count = np.outer(rows.sum(1), cols.sum(1))
    grid = 2 * on >= count
    empty = count == 0
    if empty.any():  # cells holding no pixel centre: the pixel under the cell's centre
        cy = np.minimum(((np.arange(grid_h) + 0.5) * h / grid_h).astype(np.int64), h - 1)
        cx = np.minimum(((np.arange(grid_w) + 0.5) * w / grid_w).astype(np.int64), w - 1)
        grid[empty] = m[np.ix_(cy, cx)][empty]
    return grid


def grid_to_mask(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """(height, width) bool: each original pixel takes its cell's value."""
    g = np.asarray(grid, dtype=bool)
    return g[cell_index(height, g.shape[0])][:, cell_index(width, g.shape[1])]


@lru_cache(maxsize=1024)
def _cell_table(counts: str, h: int, w: int, grid_h: int, grid_w: int) -> tuple[np.ndarray, np.ndarray, int]:
    m = mask_utils.decode(_coco({"size": [h, w], "counts": counts})).astype(np.float32)
    rows, cols = _one_hot(h, grid_h), _one_hot(w, grid_w)
    on = np.rint(rows @ m @ cols.T).astype(np.int64)
    count = np.outer(rows.sum(1), cols.sum(1)).astype(np.int64)
    return on, count, int(on.sum())


def grid_intersection_union(grid: np.ndarray, gt: dict) -> tuple[int, int]:
    """(|P ∩ G|, |P ∪ G|) of the upsampled grid ``P = grid_to_mask(grid)`` and the RLE ``gt``, in pixels.

    Equals `intersection_union(encode_mask(grid_to_mask(grid, h, w)), gt)` without building the pixel mask: the
    target's per-cell pixel counts are computed once per (target, grid shape) and cached, so the G completions of
    a GRPO group cost a sum each.
    """
    g = np.asarray(grid, dtype=bool)
    w, h = mask_size(gt)
    counts = gt["counts"] if isinstance(gt["counts"], str) else gt["counts"].decode("ascii")
    on, count, area = _cell_table(counts, h, w, g.shape[0], g.shape[1])
    inter = int(on[g].sum())
    return inter, int(count[g].sum()) + area - inter


def grid_rectangles(grid: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The on-cells of a (gh, gw) bool grid as disjoint rectangles ``(row0, col0, row1, col1)`` (ends exclusive):
    each row's runs, a run extending the rectangle above it when their columns match (for drawing a mask as a few
    polygons)."""
    g = np.asarray(grid, dtype=bool)
    done: list[list[int]] = []
    open_: dict[tuple[int, int], list[int]] = {}
    for r, row in enumerate(g):
        edges = np.flatnonzero(np.diff(np.r_[0, row.astype(np.int8), 0]))
        runs = {(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2], strict=True)}
        for key in list(open_):
            if key not in runs:
                done.append(open_.pop(key))
        for a, b in sorted(runs):
            if (a, b) in open_:
                open_[(a, b)][2] = r + 1
            else:
                open_[(a, b)] = [r, a, r + 1, b]
    done.extend(open_.values())
    return sorted((r0, c0, r1, c1) for r0, c0, r1, c1 in done)


def mask_polygons(rle: dict, max_cells: int = 96) -> list[list[float]]:
    """A mask as 4-point polygons in original pixels for drawing: the mask on a grid of at most ``max_cells`` cells
    on its longer side (a cell on when >= half covered; exact for smaller masks), its on-cells as rectangles."""
    w, h = mask_size(rle)
    scale = min(1.0, max_cells / max(w, h, 1))
    gw, gh = max(1, round(w * scale)), max(1, round(h * scale))
    m = decode_mask(rle)
    grid = m if (gw, gh) == (w, h) else mask_to_grid(m, gh, gw)
    # cell c spans the pixels whose centre falls in it: [ceil(c n / g - 1/2), ...) -> use the exact pixel bounds
    xs = np.r_[np.searchsorted(cell_index(w, gw), np.arange(gw)), w].astype(float)
    ys = np.r_[np.searchsorted(cell_index(h, gh), np.arange(gh)), h].astype(float)
    return [[float(v) for v in (xs[c0], ys[r0], xs[c1], ys[r0], xs[c1], ys[r1], xs[c0], ys[r1])]
            for r0, c0, r1, c1 in grid_rectangles(grid)]
