"""Mask reward throughput: ``mask_iou`` rewards per second on 512 x 512 masks with 32 x 32 grid answers, one core.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_masks.py [--seconds 3]``. Target (issue 15): >= 2,000 rewards/s.

Targets are random rotated ellipses; each is scored against ``--group`` completions (a GRPO group shares one target,
so the target's per-cell counts are computed once per group, `data_engine.masks.grid_intersection_union`), each a
perturbed grid of the target. ``--group 1`` measures the worst case (a new target every completion).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from data_engine.frames import Frame  # noqa: E402
from data_engine.masks import encode_mask, mask_to_grid  # noqa: E402
from data_engine.seg_answers import grid_rows  # noqa: E402
from rewards.segmentation import mask_iou  # noqa: E402

SIDE, GRID = 512, 32


def ellipse(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    cx, cy = rng.uniform(100, 412, 2)
    a, b, t = rng.uniform(30, 150), rng.uniform(20, 90), rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
    v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def workload(rng: np.random.Generator, n_targets: int, group: int) -> list[tuple[str, dict]]:
    out = []
    for _ in range(n_targets):
        m = ellipse(rng)
        sample = {"task": "referring_segmentation", "target": json.dumps({"expression": "x", "mask": encode_mask(m)})}
        grid = mask_to_grid(m, GRID, GRID)
        for _ in range(group):
            g = grid ^ (rng.random(grid.shape) < 0.05)
            out.append(("<seg>" + grid_rows(g) + "</seg>", sample))
    return out


def rate(items, frame: Frame, seconds: float) -> float:
    rounds = []
    for _ in range(5):
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds / 5:
            for text, s in items:
                mask_iou(text, s, frame)
            n += len(items)
        rounds.append(n / (time.perf_counter() - t0))
    return float(np.median(rounds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--group", type=int, default=8)
    args = ap.parse_args()
    frame = Frame("absolute", SIDE, SIDE, GRID * 28, GRID * 28, GRID, GRID)
    rng = np.random.default_rng(0)
    grouped = workload(rng, 16, args.group)
    print(f"mask_iou, 512^2 masks, 32x32 grid answers, groups of {args.group}: {rate(grouped, frame, args.seconds):,.0f}/s")
    from data_engine.masks import _cell_table

    items = workload(rng, 64, 1)
    t0 = time.perf_counter()
    for text, s in items:
        _cell_table.cache_clear()
        mask_iou(text, s, frame)
    print(f"mask_iou, a new target every completion: {len(items) / (time.perf_counter() - t0):,.0f}/s")


if __name__ == "__main__":
    main()
