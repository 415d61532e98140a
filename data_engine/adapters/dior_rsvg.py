"""DIOR-RSVG grounding XML (visual grounding).

Layout (as distributed)::

    <root>/Annotations/<id>.xml
    <root>/JPEGImages/<id>.jpg
    <root>/{train,val,test}.txt      (GLOBAL OBJECT indices, one per line)

VOC-style; every `<object>` has `<name>`, `<bndbox>` (integer xmin..ymax) and `<description>` (the referring
expression). One row per object. The split files list global object indices: objects are numbered from 0 across
the annotation files in sorted file-name order, document order within a file, so one image may span several
splits. An object listed in no split file is reported ("not in any split file"). Expression = `<description>`
stripped of surrounding whitespace, case kept.

Target: ``{"expression", "box": [x1, y1, x2, y2], "label"}``.
"""

from __future__ import annotations

from collections.abc import Iterator

from data_engine.adapters.base import (
    Skip,
    SourceSpec,
    check_box,
    child_text,
    isolated,
    make_row,
    outside_image,
    read_size,
    read_text,
    read_xml,
)
from data_engine.errors import UserError
from data_engine.numbers import BadNumber, parse_int

SPLITS = ("train", "val", "test")


def _split_index(spec: SourceSpec) -> tuple[dict[int, str], list[Skip]]:
    index, skips = {}, []
    for split in SPLITS:
        f = spec.root / f"{split}.txt"
        if not f.is_file():
            continue
        text = read_text(f)
        if isinstance(text, Skip):
            skips.append(text)
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            s = line.strip()
            if not s:
                continue
            try:
                index[parse_int(s)] = split
            except BadNumber:
                skips.append(Skip("malformed line", str(f), lineno, f"object index {s[:40]!r} is not an integer"))
    return index, skips


def iter_dior_rsvg(spec: SourceSpec) -> Iterator[dict | Skip]:
    ann_dir = spec.root / "Annotations"
    if not ann_dir.is_dir():
        raise UserError(f"{spec.root}: no Annotations/ folder (DIOR-RSVG layout)")
    split_of, skips = _split_index(spec)
    if not split_of and not skips:
        raise UserError(f"{spec.root}: no train/val/test.txt object-index lists (DIOR-RSVG layout)")
    yield from skips
    counter = 0
    for xml_file in sorted(ann_dir.glob("*.xml")):
        root = read_xml(xml_file)
        if isinstance(root, Skip):
            # Its objects cannot be counted, so every later global index would shift: this is fatal for the
            # split assignment, not a skippable record.
            raise UserError(f"{xml_file}: {root.reason} ({root.detail}); DIOR-RSVG split indices need every file")
        objects = list(root.iter("object"))
        first, counter = counter, counter + len(objects)
        wanted = [(first + k, o) for k, o in enumerate(objects) if spec.wants(split_of.get(first + k))]
        if not wanted:
            continue
        filename = child_text(root, "filename") or f"{xml_file.stem}.jpg"
        image = spec.images / "JPEGImages" / filename
        size = read_size(image, xml_file)
        if isinstance(size, Skip):
            yield size
            continue
        for gidx, obj in wanted:
            split = split_of.get(gidx)
            if split is None:
                yield Skip("not in any split file", str(xml_file), None, f"object index {gidx}")
                continue
            yield from isolated(xml_file, None, _object, spec, obj, gidx, split, image, size, xml_file)


def _object(spec, obj, gidx, split, image, size, xml_file):
    box_el = obj.find("bndbox")
    desc = obj.find("description")
    expression = (desc.text or "").strip() if desc is not None else ""
    if box_el is None or not expression:
        yield Skip("malformed XML", str(xml_file), None, f"object {gidx}: needs <bndbox> and a <description>")
        return
    box = check_box([child_text(box_el, k) for k in ("xmin", "ymin", "xmax", "ymax")])
    if isinstance(box, str):
        reason = "degenerate polygon" if box.startswith("degenerate") else "malformed XML"
        yield Skip(reason, str(xml_file), None, f"object {gidx}: <bndbox>: {box}")
        return
    out = outside_image(box, *size)
    if out:
        yield Skip("outside image", str(xml_file), None, f"object {gidx}: {out}")
        return
    target = {"expression": expression, "box": box, "label": child_text(obj, "name")}
    yield make_row(spec, str(gidx), "grounding", split, [image], *size, target)
