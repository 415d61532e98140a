"""Mask answers: ``mask_iou`` rewards per second, and answer tokens of the grid vs a polygon answer.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_masks.py [--seconds 3]``.

1. Rewards/s on 512 x 512 masks with 32 x 32 grid answers, one core (target, issue 15: >= 2,000/s), and with
   ``seg_polygon`` answers of shifted targets.
2. Tokens of the ``seg_grid`` answer (docs/formats.md §6) against the real ``seg_polygon`` answer (§7,
   `data_engine.seg_polygons.format_seg_polygon`) of the same mask, at several views, for both families: the
   synthetic world's referring masks (`data_engine.synth.refseg`: rotated rectangles on 224-px scenes; the object's
   4-vertex detection line ``x1,y1,...,x4,y4`` is shown beside them) and its land-cover class masks
   (`data_engine.synth.landcover`: blobs, bands and buildings of 224-px scenes, one mask per present class), with
   the polygon answer's mean IoU with the target after parsing. Tokens are counted
   as Qwen2's pre-tokenizer splits the text (digits one by one, punctuation apart): for answers made only of
   digits, ``*``, ``,``, ``;``, newlines and the two tags this is the real Qwen token count up to the tags' few
   tokens, since BPE merges only inside a pre-token.

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


def polygon_workload(rng: np.random.Generator, n_targets: int, group: int, frame: Frame) -> list[tuple[str, dict]]:
    """The ``seg_polygon`` answers of shifted copies of each target (docs/formats.md §7), rows carrying the format."""
    from data_engine.seg_polygons import format_seg_polygon

    out = []
    for _ in range(n_targets):
        m = ellipse(rng)
        sample = {"task": "referring_segmentation", "mask_format": "seg_polygon",
                  "target": json.dumps({"expression": "x", "mask": encode_mask(m)})}
        for _ in range(group):
            dy, dx = rng.integers(-8, 9, 2)
            out.append((format_seg_polygon(encode_mask(np.roll(m, (dy, dx), axis=(0, 1))), frame), sample))
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
    print(f"mask_iou, seg_polygon answers (pycocotools rasterisation), groups of {args.group}: "
          f"{rate(polygon_workload(rng, 16, args.group, frame), frame, args.seconds):,.0f}/s")
    token_table()


def token_table(n_scenes: int = 100, n_landcover: int = 30) -> None:
    import regex

    from data_engine.answers import box_values
    from data_engine.families import get_family
    from data_engine.images import smart_size
    from data_engine.masks import mask_iou as rle_iou
    from data_engine.seg_answers import format_seg_grid
    from data_engine.seg_polygons import format_seg_polygon
    from data_engine.synth.draw import scene
    from data_engine.synth.landcover import CLASSES, landcover_scene
    from data_engine.synth.refseg import LABELS, object_mask
    from eval.parsers.segmentation import parse_segmentation
    from models.tokenizer import QWEN_SPLIT_PATTERN

    split = regex.compile(QWEN_SPLIT_PATTERN)
    refer = []
    for i in range(n_scenes):
        rng = np.random.default_rng([0, 15, 9, i])
        img, objs, _ = scene(rng, [str(c) for c in rng.choice(LABELS, size=2)], scale=2.4)
        refer += [(o.poly, encode_mask(np.asarray(object_mask(o.poly, *img.size)) > 1)) for o in objs]
    land = []
    for i in range(n_landcover):
        _, label = landcover_scene(np.random.default_rng([0, 15, 16, i]))
        land += [(None, encode_mask(label == k)) for k in range(1, len(CLASSES) + 1) if (label == k).any()]

    def stats(masks, frame):
        grid = [len(split.findall(format_seg_grid(rle, frame))) for _, rle in masks]
        texts = [format_seg_polygon(rle, frame) for _, rle in masks]
        poly = [len(split.findall(t)) for t in texts]
        iou = [rle_iou(parse_segmentation(t, frame, mask_format="seg_polygon")["mask"], rle)
               for t, (_, rle) in zip(texts, masks, strict=True)]
        return grid, poly, float(np.mean(iou))

    for name, masks in (("referring (rotated rectangles)", refer), ("land-cover classes", land)):
        print(f"answer tokens (Qwen2 pre-tokens), {len(masks)} synthetic {name} masks, 224-px images, mean [max]:")
        for fam_name in ("qwen2_5_vl", "qwen3_vl"):
            fam = get_family(fam_name)
            for side in (112, 224, 448):
                w, h = smart_size(224, 224, fam.factor, side * side, side * side)
                frame = Frame.for_family(fam.coord_frame, 224, 224, w, h, fam.factor)
                grid, poly, iou = stats(masks, frame)
                line = (f"  {fam_name:10s} view {w}x{h} grid {frame.grid_w}x{frame.grid_h}: seg_grid "
                        f"{np.mean(grid):6.1f} [{max(grid)}]   seg_polygon {np.mean(poly):6.1f} [{max(poly)}] "
                        f"(IoU {iou:.3f})")
                if masks[0][0] is not None:
                    box = [len(split.findall(",".join(map(str, box_values(p, frame, "poly"))))) for p, _ in masks]
                    line += f"   4-vertex line {np.mean(box):5.1f} [{max(box)}]"
                print(line)


if __name__ == "__main__":
    main()
