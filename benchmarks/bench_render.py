"""Online rendering throughput and a 10k-sample build's time and peak memory.

Run: `python benchmarks/bench_render.py [--samples 10000] [--images 200] [--renders 300]`

1. Writes `--images` 1000x1000 JPEG aerial scenes (synthetic world drawing) and a COCO-style detection JSON of
   `--samples` image records over them (each with 1-4 quad objects), then runs `data_engine.build.build` on it and
   reports build time and the process's peak RSS growth.
2. Renders `--renders` detection rows with `render_sft` (image decode + smart resize + conversation, one core) at
   two pixel budgets, against a reference path that decodes the full image with PIL and resizes it to the same size
   (no DCT-scaled decode): equality of the shown size and of the answer text, and the speed ratio.
3. Multi-image rows (`--frames`): 1, 2 and 4 co-registered 1024x1024 PNG frames (LEVIR-CD's format) per sample at
   RSCoVLM's budget, which the frames share (docs/multi-image.md §1): samples/s, frames/s and image tokens per sample.
4. Checks our smart resize against transformers' `smart_resize` on 2,000 random sizes (equality).

Target: >= 100 samples/s per core on 1000x1000 images.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_source(root: Path, n_images: int, n_samples: int, seed: int = 0) -> Path:
    from data_engine.synth.draw import CLASSES, scene

    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n_images):
        img, _, _ = scene(rng, [], 1000, 1000)
        img.save(root / "images" / f"{i}.jpg", quality=90)
    images, anns = [], []
    for k in range(n_samples):
        images.append({"id": k, "file_name": f"{k % n_images}.jpg", "width": 1000, "height": 1000})
        for _ in range(int(rng.integers(1, 5))):
            x, y, w, h = rng.uniform(0, 900), rng.uniform(0, 900), rng.uniform(10, 100), rng.uniform(10, 100)
            anns.append({"id": len(anns), "image_id": k, "category_id": int(rng.integers(len(CLASSES))),
                         "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]], "bbox": [x, y, w, h]})
    cats = [{"id": i, "name": c} for i, c in enumerate(CLASSES)]
    (root / "train.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    recipe = root / "recipe.yaml"
    recipe.write_text("sources:\n  - {name: bench, format: coco, root: ., annotations: train.json, "
                      "image_root: images}\n")
    return recipe


def reference_render(row: dict, size: tuple[int, int]) -> Image.Image:
    """Full decode, then the same bicubic resize (what a renderer without draft decoding does)."""
    return Image.open(row["images"][0]).convert("RGB").resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def bench_render(rows: list[dict], family: str, min_pixels: int, max_pixels: int) -> dict:
    from data_engine.render import render_sft

    t0 = time.perf_counter()
    ours = [render_sft(r, family, min_pixels=min_pixels, max_pixels=max_pixels) for r in rows]
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    refs = [reference_render(r, o["images"][0].size) for r, o in zip(rows, ours, strict=True)]
    t_ref = time.perf_counter() - t0
    same_size = all(o["images"][0].size == ref.size for o, ref in zip(ours, refs, strict=True))
    diff = max(float(np.abs(np.asarray(o["images"][0], np.int16) - np.asarray(ref, np.int16)).mean())
               for o, ref in zip(ours[:20], refs[:20], strict=True))
    return {"size": ours[0]["images"][0].size, "ours_sps": len(rows) / t_ours, "ref_sps": len(rows) / t_ref,
            "same_size": same_size, "mean_abs_pixel_diff": diff}


def bench_frames(root: Path, renders: int) -> list[dict]:
    """Render throughput of 1-, 2- and 4-frame samples of 1024x1024 PNG frames at RSCoVLM's budget (one core)."""
    from data_engine.render import render_sft
    from data_engine.resize import image_tokens
    from data_engine.synth.draw import scene

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(8):
        p = root / f"f{i}.png"
        scene(rng, [], 1024, 1024)[0].save(p, compress_level=1)
        paths.append(str(p))
    out = []
    for n in (1, 2, 4):
        rows = [{"id": str(k), "source": "b", "task": "change_caption", "split": None,
                 "images": [paths[(k + j) % len(paths)] for j in range(n)], "width": 1024, "height": 1024,
                 "target": {"references": ["two buildings are built ."], "changed": True}} for k in range(renders)]
        t0 = time.perf_counter()
        shown = [render_sft(r, "qwen2_5_vl", min_pixels=64 * 784, max_pixels=1296 * 784)["images"] for r in rows]
        dt = time.perf_counter() - t0
        out.append({"frames": n, "sps": renders / dt, "fps": renders * n / dt, "size": shown[0][0].size,
                    "tokens": sum(image_tokens(im.height, im.width, 28) for im in shown[0])})
    return out


def check_smart_resize(n: int = 2000) -> tuple[int, int]:
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as hf_smart_resize

    from data_engine.resize import smart_resize

    rng = np.random.default_rng(0)
    equal = compared = 0
    while compared < n:
        h, w = (int(v) for v in rng.integers(20, 8000, 2))
        if max(h, w) / min(h, w) > 200:
            continue
        compared += 1
        factor = int(rng.choice([28, 32]))
        lo = int(rng.integers(4, 256)) * factor * factor
        hi = lo + int(rng.integers(0, 4096)) * factor * factor
        equal += smart_resize(h, w, factor, lo, hi) == tuple(hf_smart_resize(h, w, factor, lo, hi))
    return equal, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--renders", type=int, default=300)
    ap.add_argument("--frames", action="store_true", help="only the multi-image rows (section 3)")
    args = ap.parse_args()
    if args.frames:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"{'render (1 core, 1024x1024 PNG frames), RSCoVLM budget':<56} {'shown/frame':>11} {'tokens':>7} "
                  f"{'samples/s':>9} {'frames/s':>9}")
            for r in bench_frames(Path(tmp), min(args.renders, 60)):
                print(f"{'qwen2_5_vl, %d frame(s) sharing <=1296 tokens' % r['frames']:<56} {'%dx%d' % r['size']:>11} "
                      f"{r['tokens']:>7} {r['sps']:>9.1f} {r['fps']:>9.1f}")
        return 0
    from data_engine.build import build, load_built

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        recipe = write_source(tmp / "src", args.images, args.samples)
        t_write = time.perf_counter() - t0
        rss0 = _rss_mb()
        t0 = time.perf_counter()
        summary = build(recipe, tmp / "built", progress=False)
        t_build = time.perf_counter() - t0
        rss1 = _rss_mb()
        ds = load_built(tmp / "built")
        rows = [ds[i] for i in range(min(args.renders, len(ds)))]
        print(f"source: {args.images} JPEG images 1000x1000, {args.samples} COCO records (written in {t_write:.1f} s)")
        print(f"build:  {summary['num_samples']} samples, {summary['num_skipped']} skipped, {t_build:.2f} s "
              f"({summary['num_samples'] / t_build:,.0f} samples/s), peak RSS {rss1:.0f} MB "
              f"(+{rss1 - rss0:.0f} MB during the build)")
        print()
        print(f"{'render (1 core, 1000x1000 JPEG)':<44} {'shown':>10} {'ours/s':>8} {'ref/s':>8} {'ratio':>6} "
              f"{'same size':>9} {'|Δpx|':>6}")
        for label, fam, lo, hi in (("qwen2_5_vl, RSCoVLM budget (<=1296 tok)", "qwen2_5_vl", 64 * 784, 1296 * 784),
                                   ("qwen2_5_vl, demo budget (<=256 tok)", "qwen2_5_vl", 4 * 784, 256 * 784),
                                   ("qwen3_vl, demo budget (<=256 tok)", "qwen3_vl", 4 * 1024, 256 * 1024)):
            r = bench_render(rows, fam, lo, hi)
            print(f"{label:<44} {'%dx%d' % r['size']:>10} {r['ours_sps']:>8.0f} {r['ref_sps']:>8.0f} "
                  f"{r['ours_sps'] / r['ref_sps']:>5.2f}x {str(r['same_size']):>9} {r['mean_abs_pixel_diff']:>6.2f}")
        eq, n = check_smart_resize()
        print()
        print(f"smart_resize vs transformers.smart_resize: {eq}/{n} equal")
        print("target: >= 100 samples/s per core on 1000x1000 images (render includes decode + resize + answer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
