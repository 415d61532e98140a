"""Paired bootstrap intervals of a metric's difference between two runs scored on the same samples.

Two runs (two checkpoints, or a checkpoint and a trivial baseline) evaluated on the same N samples are compared by
resampling the *sample indices* with replacement, the same draw for both runs (paired), and recomputing the
difference of the metric on every draw; the interval is the percentile interval of those differences
(`scipy.stats.bootstrap`, ``method="percentile"``, seeded, ``n_resamples`` >= 1000 by default).

- A metric that is a mean of per-sample scores (accuracy, mean IoU, per-image F1, a reward) resamples the score
  vectors directly (`paired_mean_interval`, vectorised).
- A corpus metric is recomputed on each draw from the drawn samples (`paired_stat_interval`): detection mAP through
  `ResampledMAP` (each drawn image is a separate image, duplicates included). CIDEr-D's document frequencies come
  from the references of the whole evaluation set, a property of the data rather than of the model, so they are
  held fixed and corpus CIDEr-D is the mean of its per-sample scores: it resamples as a mean.

Percentile rather than BCa: BCa is undefined (NaN) whenever the per-sample differences are all equal, which is
common here (two runs that answer alike), and it needs N extra evaluations of a corpus metric. The interval is
reported as Δ [lo, hi]; it *excludes 0* when lo > 0 or hi < 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

N_RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 0


@dataclass(frozen=True)
class Interval:
    """A difference ``b - a`` on the same samples and its bootstrap interval.

    Attributes:
        delta: the difference on all samples.
        lo, hi: the interval's ends.
        n: samples paired.
    """

    delta: float
    lo: float
    hi: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0

    def to_dict(self) -> dict:
        return {"delta": self.delta, "lo": self.lo, "hi": self.hi, "n": self.n, "excludes_zero": self.excludes_zero}


def _bootstrap(data: tuple, statistic: Callable, *, vectorized: bool, paired: bool, n_resamples: int,
               confidence: float, seed: int) -> tuple[float, float]:
    from scipy.stats import bootstrap

    res = bootstrap(data, statistic, n_resamples=n_resamples, vectorized=vectorized, paired=paired,
                    confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_mean_interval(a, b, *, n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE,
                         seed: int = SEED) -> Interval:
    """Interval of ``mean(b) - mean(a)`` over paired per-sample scores.

    Args:
        a, b: (N,) per-sample scores of the two runs, sample k of `a` paired with sample k of `b`.

    Returns:
        The difference and its percentile interval; with N < 2 or identical differences, ``[delta, delta]``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores need equal 1-D shapes, got {a.shape} and {b.shape}")
    n = a.size
    delta = float(b.mean() - a.mean()) if n else 0.0
    d = b - a
    if n < 2 or np.all(d == d[0]):
        return Interval(delta, delta, delta, n)  # every resample has the same mean difference

    def stat(x, y, axis=-1):
        return np.mean(y, axis=axis) - np.mean(x, axis=axis)

    lo, hi = _bootstrap((a, b), stat, vectorized=True, paired=True, n_resamples=n_resamples,
                        confidence=confidence, seed=seed)
    return Interval(delta, lo, hi, n)


def paired_stat_interval(n: int, stat_a: Callable[[np.ndarray], float], stat_b: Callable[[np.ndarray], float], *,
                         n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE,
                         seed: int = SEED) -> Interval:
    """Interval of ``stat_b(idx) - stat_a(idx)`` for a corpus statistic recomputed on resampled sample indices.

    Args:
        n: number of paired samples.
        stat_a, stat_b: (K,) int sample indices (with repeats) -> the run's metric on those samples. Called once
            per resample each; memoise them (`memo`) when the same run appears in several pairs, since equal seeds
            draw the same resamples.

    Returns:
        The difference on ``arange(n)`` and its percentile interval.
    """
    full = np.arange(n)
    delta = float(stat_b(full) - stat_a(full)) if n else 0.0
    if n < 2:
        return Interval(delta, delta, delta, n)

    def stat(idx):
        idx = np.asarray(idx, dtype=np.int64)
        return stat_b(idx) - stat_a(idx)

    lo, hi = _bootstrap((full,), stat, vectorized=False, paired=False, n_resamples=n_resamples,
                        confidence=confidence, seed=seed)
    # the percentile ends of a constant difference can differ from it by float rounding only
    return Interval(delta, min(lo, delta) if np.isclose(lo, delta) else lo,
                    max(hi, delta) if np.isclose(hi, delta) else hi, n)


def memo(fn: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], float]:
    """`fn` cached by the index array's bytes (one evaluation per distinct draw)."""
    cache: dict[bytes, float] = {}

    def cached(idx: np.ndarray) -> float:
        key = np.asarray(idx, dtype=np.int64).tobytes()
        if key not in cache:
            cache[key] = float(fn(idx))
        return cache[key]

    return cached


class ResampledMAP:
    """Detection mAP of any multiset of a fixed list of images, each drawn image counted as a separate image.

    The per-detection matching (`eval.metrics.dota_map`'s best same-class GT of the same image) is image-local, so
    it is computed once; a draw only selects and repeats detections and GTs (GT indices shifted per copy) and
    re-runs the ranking and AP. Equal to `dota_map` on the drawn images renamed apart (tested).

    Args:
        dets: per image, its detections (``label``, ``poly``, optional ``score``) in emitted order.
        gts: per image, its ground truths (``label``, ``poly``, optional ``difficult``).
        classes, iou_threshold, ap_mode, protocol, quad_policy: as `dota_map`.
    """

    def __init__(self, dets: list[list[dict]], gts: list[list[dict]], classes=None, iou_threshold: float = 0.5,
                 ap_mode: str = "voc07", protocol: str = "dota_devkit", quad_policy: str | None = None) -> None:
        from eval.metrics.dota_map import check_options, match_detections, resolve_quad_policy

        check_options(protocol, ap_mode)
        if len(dets) != len(gts):
            raise ValueError(f"{len(dets)} detection lists for {len(gts)} ground-truth lists")
        flat_d = [{**d, "image_id": i} for i, ds in enumerate(dets) for d in ds]
        flat_g = [{**g, "image_id": i} for i, gs in enumerate(gts) for g in gs]
        self.m = match_detections(flat_d, flat_g, protocol, classes, resolve_quad_policy(protocol, quad_policy))
        keep = set(self.m.classes)
        # match_detections drops labels outside `classes`; count what it kept per image, in input (= image) order
        nd = np.array([sum(d["label"] in keep for d in ds) for ds in dets], dtype=np.int64)
        ng = np.array([sum(g["label"] in keep for g in gs) for gs in gts], dtype=np.int64)
        self.d_start, self.d_count = np.cumsum(nd) - nd, nd
        self.g_start, self.g_count = np.cumsum(ng) - ng, ng
        self.iou_threshold, self.ap_mode, self.protocol = iou_threshold, ap_mode, protocol

    def __call__(self, idx: np.ndarray) -> float:
        """mAP of the images `idx` (K,), in that order, repeats as separate images."""
        from eval.metrics.dota_map import Matched, evaluate_order

        idx = np.asarray(idx, dtype=np.int64)
        m = self.m
        d_sel = _ranges(self.d_start[idx], self.d_count[idx])
        g_sel = _ranges(self.g_start[idx], self.g_count[idx])
        # new index of each copy's first GT; a detection's GT keeps its offset inside its own image's block
        g_new_start = np.cumsum(self.g_count[idx]) - self.g_count[idx]
        shift = np.repeat(g_new_start - self.g_start[idx], self.d_count[idx])
        jmax = m.jmax[d_sel]
        jmax = np.where(jmax >= 0, jmax + shift, -1)
        sub = Matched(m.classes, m.det_cls[d_sel], m.score[d_sel], m.ovmax[d_sel], jmax, m.gt_cls[g_sel],
                      m.gt_difficult[g_sel])
        return float(evaluate_order(sub, np.arange(d_sel.size), self.iou_threshold, self.ap_mode, self.protocol)["map"])


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for each (s, c), vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(counts) - counts
    return np.repeat(starts - offsets, counts) + np.arange(total)
