"""FAIR1M-1.0 XML (oriented detection).

Layout (as distributed)::

    <root>/train/part{1,2}/{images,labelXml}/<n>.{tif,xml}
    <root>/validation/{images,labelXml}/<n>.{tif,xml}

`labelXmls` is accepted as well as `labelXml`. Split = the top folder under root (``validation`` -> ``val``; null
when the label folder sits directly in root). Image = `images/<source/filename>` next to the label folder.
`<object>`: `<possibleresult><name>` (label, verbatim with spaces) and `<points>` with five ``<point>x,y</point>``
(the fifth closes the ring; the first four are the polygon). ``difficult`` is always false.

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
    read_xml,
    unknown_class,
)
from data_engine.errors import UserError
from data_engine.images import find_image
from data_engine.numbers import BadNumber, parse_numbers


def _label_dirs(root: Path) -> list[Path]:
    return sorted(p for name in ("labelXml", "labelXmls") for p in root.rglob(name) if p.is_dir())


def _split_of(root: Path, label_dir: Path) -> str | None:
    rel = label_dir.relative_to(root).parts
    if len(rel) < 2:
        return None
    return "val" if rel[0] == "validation" else rel[0]


def iter_fair1m(spec: SourceSpec) -> Iterator[dict | Skip]:
    dirs = _label_dirs(spec.root)
    if not dirs:
        raise UserError(f"{spec.root}: no labelXml/ folder below it (FAIR1M layout)")
    for label_dir in dirs:
        split = _split_of(spec.root, label_dir)
        if not spec.wants(split):
            continue
        part = label_dir.parent.relative_to(spec.root).as_posix()
        for xml_file in sorted(label_dir.glob("*.xml")):
            yield from isolated(xml_file, None, _one, spec, xml_file, split, part)


def _one(spec: SourceSpec, xml_file: Path, split: str | None, part: str):
    root = read_xml(xml_file)
    if isinstance(root, Skip):
        yield root
        return
    filename = child_text(root.find("source"), "filename") if root.find("source") is not None else None
    images_dir = xml_file.parent.parent / "images"
    image = images_dir / filename if filename else find_image(images_dir, xml_file.stem)
    if image is None or not image.is_file():
        yield Skip("missing image", str(xml_file), None, f"no image {filename or xml_file.stem} in {images_dir}")
        return
    size = read_size(image, xml_file)
    if isinstance(size, Skip):
        yield size
        return
    objects = []
    for k, obj in enumerate(root.iter("object")):
        pr = obj.find("possibleresult")
        label = child_text(pr, "name") if pr is not None else None
        points = obj.find("points")
        if not label or points is None:
            yield Skip("malformed XML", str(xml_file), None, f"object {k}: needs <possibleresult><name> and <points>")
            continue
        try:
            pts = parse_numbers(v for p in points.findall("point")[:4] for v in (p.text or "").split(","))
        except BadNumber as e:
            yield Skip("malformed XML", str(xml_file), None, f"object {k}: bad <point>: {e}")
            continue
        poly = check_poly(pts)
        if isinstance(poly, str):
            yield poly_skip(poly, "malformed XML", xml_file, None, f"object {k}")
            continue
        out = outside_image(poly, *size)
        if out:
            yield Skip("outside image", str(xml_file), None, f"object {k}: {out}")
            continue
        bad = unknown_class(spec, label, xml_file, None)
        if bad:
            yield bad
            continue
        objects.append({"label": label, "poly": poly.tolist(), "difficult": False})
    native = f"{part}/{xml_file.stem}"
    yield make_row(spec, native, "detection", split, [image], *size, {"objects": objects, "classes": spec.classes})
