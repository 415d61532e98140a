"""Average precision from a ranked recall/precision curve: VOC07 11-point and area (VOC10+) forms.

Both follow the DOTA devkit / mmrotate arithmetic exactly, including their recall thresholds ``i * 0.1``
(``np.arange(0, 1.1, 0.1)``, so the fourth threshold is 0.30000000000000004 and a recall of exactly 3/10 misses
it; ``i / 10`` would give a higher AP).
"""

from __future__ import annotations

import numpy as np

# np.arange(0., 1.1, 0.1) computes start + i * step: identical to the devkit's and mmrotate's thresholds.
ELEVEN_POINTS = np.arange(11) * 0.1


def eleven_point_ap(recall: np.ndarray, precision: np.ndarray, style: str = "devkit") -> float:
    """VOC07 11-point AP: ``(1/11) Σ_{t ∈ {0, 0.1, .., 1}} max_{r >= t} p(r)`` (0 where no recall reaches t).

    Args:
        recall: (K,) cumulative recall at each rank (NaN entries never reach a threshold, as in the devkit).
        precision: (K,) cumulative precision.
        style: "devkit" adds ``p / 11`` in float64 (``dota_evaluation_task1.voc_ap``); "mmrotate" sums the
            precisions into a float32 accumulator and divides by 11 (``average_precision(mode='11points')``).

    Returns:
        AP as a Python float.
    """
    if style == "devkit":
        ap = 0.0
        for t in ELEVEN_POINTS:
            sel = precision[recall >= t]
            ap = ap + (float(np.max(sel)) if sel.size else 0.0) / 11.0
        return float(ap)
    if style == "mmrotate":
        acc = np.zeros(1, dtype=np.float32)
        for t in ELEVEN_POINTS:
            sel = precision[recall >= t]
            acc += sel.max() if sel.size else 0
        acc /= 11
        return float(acc[0])
    raise ValueError(f"style must be 'devkit' or 'mmrotate', got {style!r}")


def area_ap(recall: np.ndarray, precision: np.ndarray, out_dtype=np.float64) -> float:
    """Area under the monotone precision envelope: ``Σ Δr · p_env(r)`` with sentinels r = 0 and r = 1 (p = 0).

    Args:
        recall: (K,) cumulative recall.
        precision: (K,) cumulative precision.
        out_dtype: dtype the result is stored in (mmrotate keeps AP in float32).

    Returns:
        AP as a Python float (NaN if recall contains NaN, as in the devkit when a class has no positives).
    """
    mrec = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    mpre = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    # envelope: precision at r is the best precision at any recall >= r
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.asarray(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]), dtype=out_dtype))
