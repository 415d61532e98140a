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


def _coco(rle: dict) -> dict:
    """RLE with bytes counts, as pycocotools' C functions want it."""
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def decode_mask(rle: dict) -> np.ndarray:
    """(h, w) bool array of a stored RLE."""
    return mask_utils.decode(_coco(rle)).astype(bool)


def mask_area(rle: dict) -> int:
    """Number of on pixels."""
    return int(mask_utils.area(_coco(rle)))


def mask_size(rle: dict) -> tuple[int, int]:
    """(w, h) of a stored RLE (its ``size`` is [h, w])."""
    h, w = (int(v) for v in rle["size"])
    return w, h


def intersection_union(pred: dict | None, gt: dict) -> tuple[int, int]:
    """(|P ∩ G|, |P ∪ G|) in pixels (pycocotools merge); ``pred`` None is the empty mask.

    Raises:
        UserError: the two masks differ in size.
    """
    if pred is None:
        return 0, mask_area(gt)
    if list(pred["size"]) != list(gt["size"]):
        raise UserError(f"mask sizes differ: {pred['size']} vs {gt['size']}")
    p, g = _coco(pred), _coco(gt)
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
    m = mask_utils.decode({"size": [h, w], "counts": counts.encode("ascii")}).astype(np.float32)
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
