"""DOTA-devkit mAP: ours (eval.metrics.dota_map) vs the plain-loop shapely reference, one table.

    python benchmarks/bench_map.py [--quick]

Random DOTA-like scenes (500 images x 50 objects, 15 classes, 10 % difficult, jittered detections with random
scores rounded to 0.01 so ties occur); both sides use the devkit protocol (VOC07, IoU > 0.5, difficult ignored,
the devkit's polygon IoU). Rows for two scenes: convex quads only, and one where 3 % of GT quads are darts (one
corner pushed inside) and 3 % of detections are bow-ties (two corners swapped), measured as the devkit does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from data_engine.boxes import obb_to_poly
from eval.metrics.dota_map import dota_map

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_map import reference_map  # noqa: E402


def dart(poly: np.ndarray) -> np.ndarray:
    """A quad with its third corner moved past the centre (a reflex corner inside the hull triangle)."""
    q = poly.reshape(4, 2).copy()
    c = q.mean(axis=0)
    q[2] = c - 0.4 * (q[2] - c)
    return q.reshape(8)


def bowtie(poly: np.ndarray) -> np.ndarray:
    """The same corners with the second and third swapped: a self-intersecting quad."""
    return poly.reshape(4, 2)[[0, 2, 1, 3]].reshape(8)


def scene(rng, n_img, n_obj, n_cls=15, malformed=0.0):
    """(detections, ground truths); ``malformed``: share of dart GT quads and of bow-tie detections."""
    gts, dets = [], []
    for i in range(n_img):
        o = np.c_[rng.uniform(0, 1000, (n_obj, 2)), rng.uniform(10, 80, (n_obj, 2)), rng.uniform(-90, 90, n_obj)]
        lab = rng.integers(0, n_cls, n_obj)
        for k, p in enumerate(obb_to_poly(o)):
            if rng.random() < malformed:
                p = dart(p)
            gts.append(
                {
                    "image_id": f"P{i:04d}",
                    "label": f"c{lab[k]}",
                    "poly": p.tolist(),
                    "difficult": int(rng.random() < 0.1),
                }
            )
        o2 = o + np.c_[rng.normal(0, 3, (n_obj, 2)), rng.normal(0, 3, (n_obj, 2)), rng.normal(0, 5, n_obj)]
        o2[:, 2:4] = np.abs(o2[:, 2:4]) + 1
        lab2 = np.where(rng.random(n_obj) < 0.9, lab, rng.integers(0, n_cls, n_obj))
        for k, p in enumerate(obb_to_poly(o2)):
            if rng.random() < malformed:
                p = bowtie(p)
            dets.append(
                {
                    "image_id": f"P{i:04d}",
                    "label": f"c{lab2[k]}",
                    "poly": p.tolist(),
                    "score": float(np.round(rng.random(), 2)),
                }
            )
    return dets, gts


def compare(dets, gts) -> tuple:
    """(ours, reference, best-of-3 time ours, time reference)."""
    t = time.perf_counter()
    ref = reference_map(dets, gts)
    t_ref = time.perf_counter() - t
    t_ours = np.inf
    for _ in range(3):
        t = time.perf_counter()
        ours = dota_map(dets, gts)
        t_ours = min(t_ours, time.perf_counter() - t)
    return ours, ref, t_ours, t_ref


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100 images instead of 500")
    args = ap.parse_args()
    n_img = 100 if args.quick else 500
    rows = []
    for name, malformed in (("convex quads", 0.0), ("3 % darts (GT) + 3 % bow-ties (det)", 0.03)):
        dets, gts = scene(np.random.default_rng(0), n_img, 50, malformed=malformed)
        ours, ref, t_ours, t_ref = compare(dets, gts)
        hull = dota_map(dets, gts, quad_policy="hull")["map"]
        diff = max(abs(ours["ap"][c] - ref["ap"][c]) for c in ref["ap"])
        rows += [
            (f"scene: {name}", f"{n_img} images x 50 objects, {len(dets)} detections", ""),
            ("  mAP (devkit, VOC07)", f"{ours['map']:.12f}", f"{ref['map']:.12f}"),
            ("  mAP with quad_policy=hull", f"{hull:.12f}", ""),
            ("  max |AP difference| over classes", f"{diff:.1e}", ""),
            ("  time", f"{t_ours:.3f} s", f"{t_ref:.3f} s"),
            ("  speed ratio", f"{t_ref / t_ours:.1f}x", "1x"),
        ]
    w = [max(len(r[i]) for r in rows + [("", "ours", "reference loop")]) for i in range(3)]
    print(" | ".join(h.ljust(w[i]) for i, h in enumerate(("", "ours", "reference loop"))))
    print("-+-".join("-" * x for x in w))
    for r in rows:
        print(" | ".join(c.ljust(w[i]) for i, c in enumerate(r)))


if __name__ == "__main__":
    main()
