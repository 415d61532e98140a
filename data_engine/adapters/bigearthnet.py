"""BigEarthNet v1.0 Sentinel-2 patches: multi-label land-cover classification (docs/dataset-layouts.md §7).

Layout (as distributed)::

    <root>/<patch>/<patch>_B01.tif … _B12.tif      single-band GeoTIFFs (no B10), 120 x 120 px at 10 m
    <root>/<patch>/<patch>_labels_metadata.json    {"labels": [CLC names], "coordinates", "projection", ...}
    <root>/{train,val,test}.csv                     optional split lists: one patch name per line (``s2,s1``
                                                    in the multi-modal version: the first field is used)

Formats: ``bigearthnet`` keeps the 43 CORINE labels (`LABELS_43`, as written in the metadata); ``bigearthnet19``
maps them to the 19-class nomenclature (`LABELS_19`, `MAP_43_TO_19`), the recipe option for BigEarthNet-19; a patch
whose labels all fall outside it is skipped ("no label in the 19-class set").

The model sees RGB: bands B04, B03, B02 (read with `tifffile` through `data_engine.images.read_tiff`, which refuses a
band whose header declares more pixels than ``max_image_pixels`` before decoding it: "image over pixel limit") scaled as torchgeo does, ``clip(x / 2000, 0, 1)``,
times 255, rounded to uint8, written once as ``<image_root>/<patch>.png`` (default ``<root>/rgb/``; an existing PNG
is reused). Without split CSVs every patch folder is read, split null. A missing or unreadable band, bands of
different sizes, a missing or malformed label file or an unknown label skip the patch, counted with the file; a
split-file line that is not UTF-8 is a counted "non-UTF-8" skip of that line.

A recipe ``classes:`` list (43-label format only) narrows the class list shown in the prompt (the 43 names cost ~500
prompt tokens); a patch with a label outside it is skipped ("unknown class").

Target: ``{"labels": [...], "classes": [the 43 or 19 names, or the recipe's classes]}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, read_json, read_lines
from data_engine.errors import UserError
from data_engine.images import ImageTooLarge, read_tiff

RGB_BANDS = ("B04", "B03", "B02")
SCALE = 2000.0  # reflectance value shown as full white (torchgeo's RGB plot)

# CORINE Land Cover names in BigEarthNet's index order (torchgeo `class_sets[43]`).
LABELS_43 = (
    "Continuous urban fabric", "Discontinuous urban fabric", "Industrial or commercial units",
    "Road and rail networks and associated land", "Port areas", "Airports", "Mineral extraction sites", "Dump sites",
    "Construction sites", "Green urban areas", "Sport and leisure facilities", "Non-irrigated arable land",
    "Permanently irrigated land", "Rice fields", "Vineyards", "Fruit trees and berry plantations", "Olive groves",
    "Pastures", "Annual crops associated with permanent crops", "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation", "Agro-forestry areas",
    "Broad-leaved forest", "Coniferous forest", "Mixed forest", "Natural grassland", "Moors and heathland",
    "Sclerophyllous vegetation", "Transitional woodland/shrub", "Beaches, dunes, sands", "Bare rock",
    "Sparsely vegetated areas", "Burnt areas", "Inland marshes", "Peatbogs", "Salt marshes", "Salines",
    "Intertidal flats", "Water courses", "Water bodies", "Coastal lagoons", "Estuaries", "Sea and ocean",
)
LABELS_19 = (
    "Urban fabric", "Industrial or commercial units", "Arable land", "Permanent crops", "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation", "Agro-forestry areas",
    "Broad-leaved forest", "Coniferous forest", "Mixed forest", "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation", "Transitional woodland, shrub", "Beaches, dunes, sands",
    "Inland wetlands", "Coastal wetlands", "Inland waters", "Marine waters",
)
# 43 -> 19 by index (BigEarthNet-19 `label_converter`); 3-10, 30, 32 and 37 have no 19-class label.
_GROUPS = ((0, 1), (2,), (11, 12, 13), (14, 15, 16, 18), (17,), (19,), (20,), (21,), (22,), (23,), (24,), (25, 31),
           (26, 27), (28,), (29,), (33, 34), (35, 36), (38, 39), (40, 41, 42))
MAP_43_TO_19 = {LABELS_43[i]: LABELS_19[k] for k, group in enumerate(_GROUPS) for i in group}


def rgb_of(bands: list[np.ndarray]) -> np.ndarray:
    """(H, W, 3) uint8 RGB of B04, B03, B02 arrays: ``round(clip(x / 2000, 0, 1) * 255)``."""
    x = np.stack([np.asarray(b, dtype=np.float64) for b in bands], axis=-1)
    return np.rint(np.clip(x / SCALE, 0.0, 1.0) * 255.0).astype(np.uint8)


def _patches(spec: SourceSpec) -> Iterator[tuple[str, str | None, Path | None, int | None] | Skip]:
    """(patch, split, split file, line) in split-file order, or every patch folder (split None); a split-file line
    that is not UTF-8 is a counted Skip of that line."""
    lists = [(s, spec.root / f"{s}.csv") for s in ("train", "val", "test") if (spec.root / f"{s}.csv").is_file()]
    if not lists:
        yield from ((p.name, None, None, None) for p in sorted(spec.root.iterdir()) if p.is_dir() and p.name != "rgb")
        return
    for split, f in lists:
        for item in read_lines(f):
            if isinstance(item, Skip):
                yield item if spec.wants(split) else None
                continue
            k, line = item
            yield line.split(",")[0].strip(), split, f, k


def _read_patch(spec: SourceSpec, patch: str, out_dir: Path, where: str, line: int | None,
                nineteen: bool) -> tuple[Path, int, int, list[str]] | Skip:
    folder = spec.root / patch
    meta = folder / f"{patch}_labels_metadata.json"
    if not meta.is_file():
        return Skip("missing label file", where, line, f"{meta} does not exist")
    doc = read_json(meta)
    if isinstance(doc, Skip):
        return Skip("malformed label file", str(meta), None, f"{doc.reason}: {doc.detail} (line {doc.line})")
    labels = doc.get("labels") if isinstance(doc, dict) else None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        return Skip("malformed label file", str(meta), None, "'labels' is not a list of names")
    unknown = [x for x in labels if x not in LABELS_43]
    if unknown:
        return Skip("unknown class", str(meta), None, f"{unknown} are not BigEarthNet-43 labels")
    if spec.classes is not None and not nineteen:
        outside = [x for x in labels if x not in spec.classes]
        if outside:
            return Skip("unknown class", str(meta), None, f"{outside} not in the recipe's classes {spec.classes}")
    if nineteen:
        labels = sorted({MAP_43_TO_19[x] for x in labels if x in MAP_43_TO_19}, key=LABELS_19.index)
        if not labels:
            return Skip("no label in the 19-class set", str(meta), None, "every label is one BigEarthNet-19 drops")
    png = out_dir / f"{patch}.png"
    bands = []
    for b in RGB_BANDS:
        tif = folder / f"{patch}_{b}.tif"
        try:
            bands.append(read_tiff(tif))  # the header's pixel count is checked before any decoding
        except FileNotFoundError:
            return Skip("missing image", where, line, f"{tif} does not exist")
        except ImageTooLarge as e:
            return Skip("image over pixel limit", str(tif), None, str(e))
        except UserError as e:
            return Skip("unreadable image", str(tif), None, str(e))
    shapes = {np.shape(a) for a in bands}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        return Skip("band size mismatch", where, line, f"{patch}: B04/B03/B02 shapes {[np.shape(a) for a in bands]}")
    h, w = bands[0].shape
    if not png.is_file():
        from PIL import Image

        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = png.with_name(f".{png.name}.tmp.png")
        Image.fromarray(rgb_of(bands)).save(tmp)
        tmp.replace(png)
    return png, w, h, labels


def _iter(spec: SourceSpec, nineteen: bool) -> Iterator[dict | Skip]:
    out_dir = spec.image_root if spec.image_root is not None else spec.root / "rgb"
    classes = list(LABELS_19 if nineteen else spec.classes or LABELS_43)
    for item in _patches(spec):
        if item is None or isinstance(item, Skip):
            if item is not None:
                yield item
            continue
        patch, split, f, line = item
        if spec.wants(split):
            yield from isolated(f or spec.root / patch, line, _patch_row, spec, patch, split, f, line, out_dir,
                                nineteen, classes)


def _patch_row(spec: SourceSpec, patch: str, split: str | None, f: Path | None, line: int | None, out_dir: Path,
               nineteen: bool, classes: list[str]) -> Iterator[dict | Skip]:
    got = _read_patch(spec, patch, out_dir, str(f or spec.root / patch), line, nineteen)
    if isinstance(got, Skip):
        yield got
        return
    png, w, h, labels = got
    yield make_row(spec, patch, "multilabel_classification", split, [png], w, h,
                   {"labels": labels, "classes": classes})


def iter_bigearthnet(spec: SourceSpec) -> Iterator[dict | Skip]:
    """BigEarthNet with its 43 labels."""
    yield from _iter(spec, nineteen=False)


def iter_bigearthnet19(spec: SourceSpec) -> Iterator[dict | Skip]:
    """BigEarthNet-19: the labels mapped by `MAP_43_TO_19`."""
    yield from _iter(spec, nineteen=True)
