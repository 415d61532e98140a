"""Mask reward ``mask_iou`` (referring and semantic segmentation): IoU of the answer's mask with the target mask in original pixels (docs/rewards-and-metrics.md §8).

The answer is read by the ``seg_grid`` grammar (`eval.parsers.segmentation.read_seg_grid`); its grid is upsampled
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
from data_engine.masks import grid_intersection_union, mask_area
from eval.parsers import completion_text
from eval.parsers.segmentation import read_seg_grid
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
