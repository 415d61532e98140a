"""Synthetic referring-segmentation data in the refGeo layout (docs/dataset-layouts.md §4).

Scenes of 2 large objects (planes and storage tanks at up to 2.4x the detection scale, so even the CPU demo's
112-px view, a 4 x 4 grid, resolves them), each with the grounding world's unique expression ("the left plane"); the
mask of an expression is the object's rotated rectangle rasterised at the original size (8-bit PNG, 255 inside).
Written as ``metainfo_v2/synth_train_v2.jsonl``, ``metainfo/synth_val.jsonl``, ``images/synth/<id>.jpg`` and
``masks/synth/<stem>_<question_id>.png``, one record per object, ``mask_exists: true``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from data_engine.synth.draw import scene

if TYPE_CHECKING:
    from data_engine.synth.world import WorldSize

TASK_CODE = 15  # distinct from world.TASK_CODES, so these scenes are not copies of another task's
LABELS = ("plane", "storage-tank")  # compact shapes: a thin ship covers no half of a coarse grid's cell
MAX_TRAIN, MAX_VAL = 200, 100  # images (2 expressions each): 400 / 200 rows, ~3 s to write
DATASET = "synth"


def object_mask(poly: list[float], width: int, height: int) -> Image.Image:
    """The rotated polygon rasterised at the original size: mode L, 255 inside, 0 outside (PIL's fill rule)."""
    im = Image.new("L", (width, height), 0)
    ImageDraw.Draw(im).polygon([(poly[k], poly[k + 1]) for k in range(0, 8, 2)], fill=255)
    return im


def write_referring_segmentation(out: Path, seed: int, size: WorldSize) -> dict:
    """refGeo-layout records with masks; returns the recipe source (task referring_segmentation)."""
    from data_engine.synth.world import SPLIT_CODES, expressions  # world lists this writer in its WRITERS

    for sub in ("metainfo_v2", "metainfo", f"images/{DATASET}", f"masks/{DATASET}"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    qid = 0
    for split, n in (("train", min(size.train, MAX_TRAIN)), ("val", min(size.val, MAX_VAL))):
        lines = []
        for i in range(n):
            rng = np.random.default_rng([seed, TASK_CODE, SPLIT_CODES[split], i])
            labels = [str(c) for c in rng.choice(LABELS, size=2)]  # a pair of one class gets "the left ..."
            img, objs, _ = scene(rng, labels, scale=2.4)
            stem = f"{split}_{i:05d}"
            img.save(out / "images" / DATASET / f"{stem}.jpg", quality=92)
            w, h = img.size
            for o, expr in zip(objs, expressions(objs), strict=True):
                qid += 1
                object_mask(o.poly, w, h).save(out / "masks" / DATASET / f"{stem}_{qid}.png", optimize=False)
                x1, y1, x2, y2 = o.hbb
                box = [max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)]
                lines.append(json.dumps({
                    "dataset": DATASET, "image_id": f"{stem}.jpg", "question_id": qid, "question": expr,
                    "bbox": [round(v, 1) for v in box], "poly": np.asarray(o.poly).reshape(4, 2).tolist(),
                    "image_width": w, "image_height": h, "mask_exists": True}))
        name = "metainfo_v2/synth_train_v2.jsonl" if split == "train" else "metainfo/synth_val.jsonl"
        (out / name).write_text("\n".join(lines) + "\n")
    return {"name": "synth_refseg", "format": "refgeo", "root": out.name, "annotations": "metainfo*/*.jsonl",
            "image_root": "images", "task": "referring_segmentation"}
