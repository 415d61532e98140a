"""LoveDA (Wang et al., 2021) as distributed: Train / Val / Test, Urban / Rural, PNG images and masks.

Layout (docs/dataset-layouts.md §5)::

    <root>/{Train,Val,Test}/{Urban,Rural}/images_png/<n>.png
    <root>/{Train,Val,Test}/{Urban,Rural}/masks_png/<n>.png     8-bit ids: 0 no-data, 1 background … 7 agriculture

Ids move down by one as the official loader and mmseg do (``reduce_zero_label``): no-data becomes ``ignore_index``
(recipe key, default 255) and the classes are `LOVEDA_CLASSES` (0..6). Split = ``train``/``val``/``test`` from the
folder name. A domain folder without ``masks_png`` (the Test split) is unlabelled: one counted skip for the folder.
Rows: one ``semantic_segmentation`` row per class per image (`data_engine.adapters.label_maps`), ids
``<Split folder>/<Domain>/<n>/<class>``.
"""

from __future__ import annotations

from collections.abc import Iterator

from data_engine.adapters.base import Skip, SourceSpec, isolated
from data_engine.adapters.label_maps import image_label_rows
from data_engine.errors import UserError

LOVEDA_CLASSES = ("background", "building", "road", "water", "barren", "forest", "agriculture")
SPLITS = {"Train": "train", "Val": "val", "Test": "test"}


def iter_loveda(spec: SourceSpec) -> Iterator[dict | Skip]:
    ignore = int(spec.extra.get("ignore_index", 255))
    classes = list(spec.classes or LOVEDA_CLASSES)
    found = False
    for folder, split in SPLITS.items():
        for domain in ("Urban", "Rural"):
            d = spec.root / folder / domain
            if not (d / "images_png").is_dir():
                continue
            found = True
            if not spec.wants(split):
                continue
            if not (d / "masks_png").is_dir():
                yield Skip("unlabelled split", str(d), None, "no masks_png folder (LoveDA's Test has no masks)")
                continue
            for image in sorted((d / "images_png").glob("*.png")):
                yield from isolated(image, None, image_label_rows, spec, f"{folder}/{domain}/{image.stem}", split,
                                    image, d / "masks_png" / image.name, classes, ignore, True)
    if not found:
        raise UserError(f"source {spec.name!r} (loveda): no <Train|Val|Test>/<Urban|Rural>/images_png under {spec.root}")
