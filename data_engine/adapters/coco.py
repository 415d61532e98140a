"""COCO-style detection JSON with quadrilateral polygons in `segmentation` (RSCoVLM's mmrotate-split form).

Layout::

    <root>/<annotations>.json      {"images": [{id, file_name, width, height}], "annotations": [{image_id,
                                    category_id, segmentation: [[x1,y1,...,x4,y4]], bbox: [x,y,w,h], ...}],
                                    "categories": [{id, name}]}
    <image_root>/<file_name>       (default root)

Read with pycocotools. Polygon = the first `segmentation` ring when it has exactly 8 numbers, else the `bbox` as
an axis-aligned quadrilateral (a ring of another length is reported as "malformed annotation"). Label = the
category name, verbatim; ``difficult`` = the annotation's `difficult` flag (== 1) when present, else false; crowd
regions are kept as objects. Images without annotations are valid negatives. Split = a train/val/test/trainval token
of the file name, else null.

Target: ``{"objects": [{"label", "poly", "difficult"}], "classes"}``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import (
    Skip,
    SourceSpec,
    box_to_poly,
    check_poly,
    isolated,
    make_row,
    outside_image,
    poly_skip,
    read_json,
    read_size,
    split_from_name,
    unknown_class,
)
from data_engine.numbers import parse_numbers


def _coco(file: Path):
    from pycocotools.coco import COCO

    data = read_json(file)
    if isinstance(data, Skip):
        return data
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "categories")):
        return Skip("malformed JSON", str(file), None, "a COCO file needs 'images' and 'categories' lists")
    data.setdefault("annotations", [])
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress
        coco.createIndex()
    return coco


def _poly(ann: dict) -> list | str:
    seg = ann.get("segmentation")
    if isinstance(seg, list) and seg and isinstance(seg[0], list):
        if len(seg[0]) != 8:
            return f"segmentation ring with {len(seg[0])} numbers (need 8)"
        return check_poly(seg[0])
    try:
        x, y, w, h = parse_numbers(ann["bbox"])
    except (KeyError, TypeError, ValueError):
        return "no quad segmentation and no valid bbox"
    return check_poly(box_to_poly(x, y, x + w, y + h))


def iter_coco(spec: SourceSpec) -> Iterator[dict | Skip]:
    for file in spec.annotation_files():
        split = split_from_name(file.name)
        if not spec.wants(split):
            continue
        yield from isolated(file, None, _file, spec, file, split)


def _file(spec: SourceSpec, file: Path, split: str | None) -> Iterator[dict | Skip]:
    coco = _coco(file)
    if isinstance(coco, Skip):
        yield coco
        return
    cats = {c["id"]: c["name"] for c in coco.dataset["categories"]}
    for img_id in sorted(coco.imgs):
        yield from isolated(file, None, _image, spec, file, split, coco, cats, img_id)


def _image(spec: SourceSpec, file: Path, split: str | None, coco, cats: dict, img_id) -> Iterator[dict | Skip]:
    info = coco.imgs[img_id]
    image = spec.images / info.get("file_name", "")
    size = read_size(image, file, None)
    if isinstance(size, Skip):
        yield size
        return
    objects = []
    for ann in coco.imgToAnns.get(img_id, []):
        where = f"annotation id {ann.get('id')}"
        label = cats.get(ann.get("category_id"))
        if label is None:
            yield Skip("unknown class", str(file), None, f"{where}: category_id {ann.get('category_id')}")
            continue
        poly = _poly(ann)
        if isinstance(poly, str):
            yield poly_skip(poly, "malformed annotation", file, None, where)
            continue
        out = outside_image(poly, *size)
        if out:
            yield Skip("outside image", str(file), None, f"{where}: {out}")
            continue
        bad = unknown_class(spec, label, file, None)
        if bad:
            yield bad
            continue
        objects.append({"label": label, "poly": poly.tolist(), "difficult": ann.get("difficult", 0) == 1})
    classes = spec.classes or sorted(set(cats.values()))
    native = Path(info.get("file_name", str(img_id))).stem
    yield make_row(spec, native, "detection", split, [image], *size, {"objects": objects, "classes": classes})
