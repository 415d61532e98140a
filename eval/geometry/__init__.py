"""Geometry shared by evaluation and rewards: exact quad / rotated-box IoU, horizontal IoU, rotated NMS and
DOTA patch merging. float64 numpy, per-pair loops compiled with numba; box conversions live in `data_engine.boxes`."""

from eval.geometry.iou import hbb_iou, rotated_iou, rotated_iou_indexed, rotated_iou_pairs, rotated_iou_sparse
from eval.geometry.nms import merge_patches, parse_patch_id, rotated_nms

__all__ = [
    "hbb_iou",
    "merge_patches",
    "parse_patch_id",
    "rotated_iou",
    "rotated_iou_indexed",
    "rotated_iou_pairs",
    "rotated_iou_sparse",
    "rotated_nms",
]
