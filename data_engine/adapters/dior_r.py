"""DIOR-R oriented-box XML (oriented detection).

Layout (as distributed)::

    <root>/JPEGImages-trainval/<id>.jpg          (train and val images)
    <root>/JPEGImages-test/<id>.jpg
    <root>/Annotations/Oriented Bounding Boxes/<id>.xml
    <root>/ImageSets/Main/{train,val,test}.txt   (one 5-digit id per line)

Split = the ImageSets file listing the id (ids listed in none are not part of the release's splits and are not
read). Each VOC-style `<object>` has `<name>`, `<difficult>` and `<robndbox>` with
``{x,y}_{left_top,right_top,right_bottom,left_bottom}`` (+ `<angle>`, ignored). Polygon order LT, RT, RB, LB; the
label is `<name>` lower-cased (real files mix cases, as mmrotate does); children are found by tag name.

Target: ``{"objects": [{"label", "poly", "difficult"}], "classes"}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import (
    Skip,
    SourceSpec,
    check_poly,
    child_text,
    isolated,
    make_row,
    outside_image,
    poly_skip,
    read_size,
    read_text,
    read_xml,
    unknown_class,
)
from data_engine.errors import UserError
from data_engine.images import find_image

CORNERS = ("left_top", "right_top", "right_bottom", "left_bottom")
SPLITS = ("train", "val", "test")


def _image_dirs(root: Path, split: str) -> list[Path]:
    first = "JPEGImages-test" if split == "test" else "JPEGImages-trainval"
    return [root / first, root / "JPEGImages-trainval", root / "JPEGImages-test", root / "JPEGImages"]


def iter_dior_r(spec: SourceSpec) -> Iterator[dict | Skip]:
    ann_dir = spec.root / "Annotations" / "Oriented Bounding Boxes"
    sets = spec.root / "ImageSets" / "Main"
    if not ann_dir.is_dir():
        raise UserError(f"{spec.root}: no 'Annotations/Oriented Bounding Boxes' folder (DIOR-R layout)")
    split_files = [(s, sets / f"{s}.txt") for s in SPLITS if (sets / f"{s}.txt").is_file()]
    if not split_files:
        raise UserError(f"{sets}: no train/val/test.txt split lists (DIOR-R layout)")
    for split, list_file in split_files:
        if not spec.wants(split):
            continue
        text = read_text(list_file)
        if isinstance(text, Skip):
            yield text
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            image_id = line.strip()
            if not image_id:
                continue
            yield from isolated(list_file, lineno, _one, spec, image_id, split, ann_dir / f"{image_id}.xml", list_file,
                                lineno)


def _one(spec: SourceSpec, image_id: str, split: str, xml_file: Path, list_file: Path, lineno: int):
    if not xml_file.is_file():
        yield Skip("missing annotation", str(list_file), lineno, f"{xml_file} does not exist")
        return
    root = read_xml(xml_file)
    if isinstance(root, Skip):
        yield root
        return
    image = None
    for folder in _image_dirs(spec.root, split):
        image = find_image(folder, image_id, (".jpg", ".jpeg", ".png", ".tif"))
        if image is not None:
            break
    if image is None:
        yield Skip("missing image", str(xml_file), None, f"no image {image_id}.jpg in JPEGImages-*")
        return
    size = read_size(image, xml_file)
    if isinstance(size, Skip):
        yield size
        return
    objects = []
    for k, obj in enumerate(root.iter("object")):
        name = child_text(obj, "name")
        box = obj.find("robndbox")
        if not name or box is None:
            yield Skip("malformed XML", str(xml_file), None, f"object {k}: needs <name> and <robndbox>")
            continue
        values = [child_text(box, f"{axis}_{corner}") for corner in CORNERS for axis in ("x", "y")]
        poly = check_poly(values)
        if isinstance(poly, str):
            yield poly_skip(poly, "malformed XML", xml_file, None, f"object {k}")
            continue
        out = outside_image(poly, *size)
        if out:
            yield Skip("outside image", str(xml_file), None, f"object {k}: {out}")
            continue
        label = name.lower()
        bad = unknown_class(spec, label, xml_file, None)
        if bad:
            yield bad
            continue
        objects.append({"label": label, "poly": poly.tolist(), "difficult": (child_text(obj, "difficult") or "0") == "1"})
    yield make_row(spec, image_id, "detection", split, [image], *size, {"objects": objects, "classes": spec.classes})
