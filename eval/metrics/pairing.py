"""Enumerate (detection, ground truth) pairs that share a key (image, or image and class) without Python loops."""

from __future__ import annotations

import numpy as np


def same_key_pairs(det_key: np.ndarray, gt_key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (i, j) with ``det_key[i] == gt_key[j]``, grouped by detection.

    Args:
        det_key: (K,) int keys of detections.
        gt_key: (G,) int keys of ground truths.

    Returns:
        pair_det (P,) and pair_gt (P,) indices, pairs of one detection contiguous and its GTs in input order;
        count (K,) pairs per detection.
    """
    det_key = np.asarray(det_key, dtype=np.int64)
    gt_key = np.asarray(gt_key, dtype=np.int64)
    gt_order = np.argsort(gt_key, kind="stable")
    sorted_keys = gt_key[gt_order]
    start = np.searchsorted(sorted_keys, det_key, side="left")
    count = np.searchsorted(sorted_keys, det_key, side="right") - start
    pair_det = np.repeat(np.arange(det_key.size), count)
    first = np.repeat(np.cumsum(count) - count, count)
    pair_gt = gt_order[np.repeat(start, count) + np.arange(pair_det.size) - first]
    return pair_det, pair_gt, count
