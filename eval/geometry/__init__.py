"""Geometry shared by evaluation and rewards: exact quad / rotated-box IoU, horizontal IoU, rotated NMS and
DOTA patch merging, the shape of a quad as written (convex, dart, bow-tie). float64 numpy, per-pair loops compiled with numba; box conversions live in `data_engine.boxes`."""

from eval.geometry.iou import hbb_iou, rotated_iou, rotated_iou_indexed, rotated_iou_pairs, rotated_iou_sparse
from eval.geometry.nms import merge_patches, parse_patch_id, rotated_nms
from eval.geometry.quad_shape import BOWTIE, CONVEX, DART, quad_shape

__all__ = [
    "BOWTIE",
    "CONVEX",
    "DART",
    "hbb_iou",
    "merge_patches",
    "parse_patch_id",
    "quad_shape",
    "rotated_iou",
    "rotated_iou_indexed",
    "rotated_iou_pairs",
    "rotated_iou_sparse",
    "rotated_nms",
]
