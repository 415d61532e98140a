"""Synthetic BigEarthNet-style multi-label patches, written in the real BigEarthNet v1 layout.

`data_engine.adapters.bigearthnet` (docs/dataset-layouts.md §7): one folder per 120-px patch with single-band
GeoTIFF bands B02, B03, B04 (the three the adapter reads; the other ten real bands are not written), scaled so the
adapter's ``clip(x / 2000, 0, 1)`` gives back the drawn colours, a ``<patch>_labels_metadata.json`` with CORINE
names, and ``train.csv`` / ``val.csv``. Labels follow what the scene shows: its ground (sandy -> "Beaches, dunes,
sands", grey -> "Continuous urban fabric", brown -> "Non-irrigated arable land"), water -> "Water bodies", a road
-> "Road and rail networks and associated land", planes -> "Airports", ships -> "Port areas", storage tanks ->
"Industrial or commercial units", vehicles -> "Discontinuous urban fabric" (1-5 labels per patch).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.synth.draw import CLASSES, scene

TASK_CODE = 17
MAX_TRAIN, MAX_VAL = 300, 200
SIDE = 120
GROUND_LABELS = {"sandy": "Beaches, dunes, sands", "grey": "Continuous urban fabric",
                 "brown": "Non-irrigated arable land"}
OBJECT_LABELS = {"plane": "Airports", "ship": "Port areas", "storage-tank": "Industrial or commercial units",
                 "vehicle": "Discontinuous urban fabric"}


def multilabel_scene(rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """(120 x 120 x 3 uint8 image, sorted CORINE labels) of one patch."""
    kinds = [str(c) for c in rng.choice(CLASSES, size=int(rng.integers(0, 3)), replace=False)]
    labels_of_objects = [k for k in kinds for _ in range(int(rng.integers(1, 3)))]
    img, objs, ctx = scene(rng, labels_of_objects, SIDE, SIDE, scale=0.5)
    labels = {GROUND_LABELS[ctx["ground"]]} | {OBJECT_LABELS[o.label] for o in objs}
    if ctx["water"]:
        labels.add("Water bodies")
    if ctx["road"]:
        labels.add("Road and rail networks and associated land")
    return np.asarray(img), sorted(labels)


def write_bigearthnet(out: Path, seed: int, size: Any) -> dict:
    """BigEarthNet v1 patch folders + split CSVs; returns the recipe source (format ``bigearthnet``)."""
    import tifffile

    out.mkdir(parents=True, exist_ok=True)
    for split, code, n in (("train", 0, min(size.train, MAX_TRAIN)), ("val", 1, min(size.val, MAX_VAL))):
        names = []
        for i in range(n):
            rng = np.random.default_rng([seed, TASK_CODE, code, i])
            rgb, labels = multilabel_scene(rng)
            name = f"S2A_MSIL2A_SYNTH_{split}_{i:05d}"
            folder = out / name
            folder.mkdir(exist_ok=True)
            # reflectance whose clip(x / 2000, 0, 1) * 255 rounds back to the drawn value
            refl = np.rint(rgb.astype(np.float64) * 2000.0 / 255.0).astype(np.uint16)
            for band, k in (("B04", 0), ("B03", 1), ("B02", 2)):
                tifffile.imwrite(folder / f"{name}_{band}.tif", refl[..., k])
            (folder / f"{name}_labels_metadata.json").write_text(json.dumps(
                {"labels": labels, "acquisition_date": "2017-06-13 10:10:31", "tile_source": "synthetic"}))
            names.append(name)
        (out / f"{split}.csv").write_text("\n".join(names) + "\n")
    classes = sorted({*GROUND_LABELS.values(), *OBJECT_LABELS.values(), "Water bodies",
                      "Road and rail networks and associated land"})
    return {"name": "synth_bigearthnet", "format": "bigearthnet", "root": out.name, "classes": classes}
