"""Mask reward ``mask_iou`` (referring and semantic segmentation): IoU of the answer's mask with the target mask in original pixels (docs/rewards-and-metrics.md §8).

The answer is read by the row's ``mask_format`` (the GRPO row's ``mask_format`` column, ``seg_grid`` when absent).
A ``seg_polygon`` answer (docs/formats.md §7) is rasterised by pycocotools (`eval.parsers.segmentation.read_seg_polygon`)
and scored with pycocotools' RLE intersection and union. A ``seg_grid`` answer is read by its grammar (`eval.parsers.segmentation.read_seg_grid`); its grid is upsampled
to the original image (`data_engine.masks.grid_to_mask`) and compared with the target's COCO RLE. The value equals
pycocotools' IoU of the two RLEs (tested); it is computed from the target's per-cell pixel counts, cached per target
and grid shape (`data_engine.masks.grid_intersection_union`), so a group's completions cost a sum each.

- ``There is none.`` (or an all-off grid) scores 1 when the target is empty and 0 otherwise;
- a whole-image mask scores its true IoU, the target's share of the image (no bonus);
- a malformed answer, or a grid of another shape than the shown image's, scores 0.
"""

from __future__ import annotations

from typing import Any

from data_engine.frames import Frame
from data_engine.masks import grid_intersection_union, intersection_union, mask_area, mask_size
from data_engine.options import MASK_FORMATS
from eval.parsers import completion_text
from eval.parsers.segmentation import read_seg_grid, read_seg_polygon
from rewards.common import finite01, target_of

PARTS = ("iou", "format", "says_none")


def mask_iou(completion: Any, sample: dict, frame: Frame | None = None, **_: Any) -> dict:
    """Score a mask answer against ``sample["target"]["mask"]`` (see the module docstring).

    Returns:
        ``{"overall", "iou", "format", "says_none"}``.
    """
    zero = {"overall": 0.0, "iou": 0.0, "format": 0.0, "says_none": 0.0}
    try:
        gt = target_of(sample).get("mask")
        gt_empty = gt is None or mask_area(gt) == 0
        if sample.get("mask_format") == MASK_FORMATS[1]:
            return _polygon_iou(completion_text(completion), sample, frame, gt, gt_empty)
        status, grid = read_seg_grid(completion_text(completion))
    except Exception:  # noqa: BLE001 - a malformed stored target scores 0 (check_rewards reports it), never raises
        return zero
    if status == "malformed":
        return zero
    if status == "none" or not grid.any():
        iou = 1.0 if gt_empty else 0.0
        return {"overall": iou, "iou": iou, "format": 1.0, "says_none": float(status == "none")}
    if frame is not None and frame.grid_w and frame.grid_h and grid.shape != (frame.grid_h, frame.grid_w):
        return zero
    if gt is None:
        return {"overall": 0.0, "iou": 0.0, "format": 1.0, "says_none": 0.0}
    try:
        inter, union = grid_intersection_union(grid, gt)
        ignore = target_of(sample).get("ignore")
        if ignore is not None:  # ignore_index pixels count in no union (mmseg's rule)
            union -= grid_intersection_union(grid, ignore)[0]
    except Exception:  # noqa: BLE001 - a corrupt stored RLE
        return zero
    iou = finite01(inter / union) if union else 1.0
    return {"overall": iou, "iou": iou, "format": 1.0, "says_none": 0.0}


def _polygon_iou(text: str, sample: dict, frame: Frame | None, gt: dict | None, gt_empty: bool) -> dict:
    """`mask_iou` of a ``seg_polygon`` answer (no frame: the completion is in the target's original pixels)."""
    if frame is None and gt is not None:
        w, h = mask_size(gt)
        frame = Frame.identity(w, h)
    status, pred = read_seg_polygon(text, frame)
    if status == "malformed":
        return {"overall": 0.0, "iou": 0.0, "format": 0.0, "says_none": 0.0}
    pred_empty = status == "none" or mask_area(pred) == 0
    if pred_empty or gt is None:
        iou = 1.0 if (pred_empty and gt_empty) else 0.0
        return {"overall": iou, "iou": iou, "format": 1.0, "says_none": float(status == "none")}
    inter, union = intersection_union(pred, gt)  # raises on a size mismatch: the caller scores it 0
    ignore = target_of(sample).get("ignore")
    if ignore is not None:  # ignore_index pixels count in no union (mmseg's rule)
        union -= intersection_union(pred, ignore)[0]
    iou = finite01(inter / union) if union else 1.0
    return {"overall": iou, "iou": iou, "format": 1.0, "says_none": 0.0}
