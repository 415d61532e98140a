"""Synthetic land-cover scenes with label maps, written in the mmseg and LoveDA layouts (docs/dataset-layouts.md §5).

Each 224-px scene is bare ground with vegetation blobs, sometimes water, one or two roads and a few (rotated)
buildings, painted in that order; the label map is the painted class of every pixel, and the RGB image the class
colours with per-pixel noise. Two writers share the scenes' generator:

| folder | layout (adapter) | ids |
|---|---|---|
| `landcover_mmseg/` | `img_dir/{train,val}`, `ann_dir/{train,val}` (`mmseg`, ``reduce_zero_label: true``) | 0 building outline (ignored, like ISPRS' noBoundary labels), 1 bare_ground, 2 building, 3 road, 4 water, 5 vegetation |
| `landcover_loveda/` | `{Train,Val}/{Urban,Rural}/{images_png,masks_png}` (`loveda`) | LoveDA's: 2 building, 3 road, 4 water, 5 barren, 6 forest (0, 1 and 7 unused) |
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from data_engine.synth.world import WorldSize

SPLIT_CODES = {"train": 0, "val": 1}  # as the world's (`data_engine.synth.world.SPLIT_CODES`)

CLASSES = ("bare_ground", "building", "road", "water", "vegetation")  # ids 1..5 in the mmseg label maps
COLOURS = np.array([(0, 0, 0), (172, 156, 118), (196, 92, 72), (92, 92, 96), (38, 78, 140), (64, 128, 60)],
                   dtype=np.float64)
LOVEDA_IDS = np.array([0, 5, 2, 3, 4, 6], dtype=np.uint8)  # mmseg id -> LoveDA id (outline -> no-data)
SIDE = 224
TASK_CODE = 16
MMSEG_MAX = {"train": 150, "val": 40}  # 5 rows per image: 750 / 200 rows
LOVEDA_MAX = {"train": 20, "val": 20}


def landcover_scene(rng: np.random.Generator, side: int = SIDE) -> tuple[Image.Image, np.ndarray]:
    """(RGB image, (side, side) uint8 label map with ids 0..5 as in `CLASSES`, 0 = building outline)."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    label = np.ones((side, side), dtype=np.uint8)
    for _ in range(int(rng.integers(1, 4))):  # vegetation blobs
        cx, cy, a, b = *rng.uniform(0, side, 2), *rng.uniform(20, 70, 2)
        label[((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 <= 1] = 5
    if rng.random() < 0.5:  # water body
        cx, cy, a, b = *rng.uniform(0, side, 2), *rng.uniform(40, 110, 2)
        label[((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 <= 1] = 4
    for _ in range(int(rng.integers(1, 3))):  # roads: straight bands through the scene
        t = rng.uniform(0, np.pi)
        c = rng.uniform(0.2, 0.8) * side
        d = np.abs((xx - side / 2) * np.sin(t) - (yy - side / 2) * np.cos(t) - (c - side / 2))
        label[d <= rng.uniform(5, 9)] = 3
    for _ in range(int(rng.integers(2, 7))):  # buildings: rotated rectangles with a 1-px outline
        cx, cy = rng.uniform(20, side - 20, 2)
        w, h, t = *rng.uniform(14, 40, 2), rng.uniform(0, np.pi / 2)
        u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
        v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
        inside = (np.abs(u) <= w / 2) & (np.abs(v) <= h / 2)
        core = (np.abs(u) <= w / 2 - 1) & (np.abs(v) <= h / 2 - 1)
        label[inside] = 0
        label[core] = 2
    rgb = COLOURS[label] + rng.normal(0, 8, (side, side, 3))
    rgb[label == 0] = COLOURS[2] * 0.6  # the outline is a darker roof edge
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)), label


def _scenes(seed: int, split: str, n: int):
    for i in range(n):
        yield i, landcover_scene(np.random.default_rng([seed, TASK_CODE, SPLIT_CODES[split], i]))


def write_landcover_mmseg(out: Path, seed: int, size: WorldSize) -> dict:
    """mmseg layout (`img_dir`, `ann_dir`); the recipe source sets the classes and ``reduce_zero_label``."""
    for split in ("train", "val"):
        (out / "img_dir" / split).mkdir(parents=True, exist_ok=True)
        (out / "ann_dir" / split).mkdir(parents=True, exist_ok=True)
        n = min(MMSEG_MAX[split], size.train if split == "train" else size.val)
        for i, (img, label) in _scenes(seed, split, n):
            img.save(out / "img_dir" / split / f"lc_{i:05d}.png", compress_level=1)
            Image.fromarray(label).save(out / "ann_dir" / split / f"lc_{i:05d}.png", compress_level=1)
    return {"name": "synth_landcover", "format": "mmseg", "root": out.name, "classes": list(CLASSES),
            "reduce_zero_label": True, "ignore_index": 255}


def write_landcover_loveda(out: Path, seed: int, size: WorldSize) -> dict:
    """LoveDA layout; scenes alternate between the Urban and Rural folders (ids are LoveDA's)."""
    for split, folder in (("train", "Train"), ("val", "Val")):
        for domain in ("Urban", "Rural"):
            for sub in ("images_png", "masks_png"):
                (out / folder / domain / sub).mkdir(parents=True, exist_ok=True)
        n = min(LOVEDA_MAX[split], size.train if split == "train" else size.val)
        for i, (img, label) in _scenes(seed + 1, split, n):
            d = out / folder / ("Urban" if i % 2 == 0 else "Rural")
            img.save(d / "images_png" / f"{i}.png", compress_level=1)
            Image.fromarray(LOVEDA_IDS[label]).save(d / "masks_png" / f"{i}.png", compress_level=1)
    return {"name": "synth_loveda", "format": "loveda", "root": out.name}
