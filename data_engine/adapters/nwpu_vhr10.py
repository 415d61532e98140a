"""NWPU VHR-10 positive images: horizontal-box detection, or referring detection by class (docs/dataset-layouts.md §3).

Layout (as distributed)::

    <root>/positive image set/001.jpg … 650.jpg
    <root>/ground truth/001.txt …           one object per line: ``(x1,y1),(x2,y2),c``
    <root>/negative image set/…             no ground truth; not read

``c`` is the class id 1-10: airplane, ship, storage tank, baseball diamond, tennis court, basketball court, ground
track field, harbor, bridge, vehicle (`CLASSES`). Blank lines are ignored; a line that does not match, a class id
outside 1-10 or a box without area skips its image (a partial ground truth would turn the missing objects into false
alarms), counted with file and line (numbers are read by `data_engine.numbers`: ``1.2.3`` or ``.`` is a malformed
line); so does a ground-truth file without its image and, for referring rows, an empty one. A box that does not
overlap the image by a positive area is one counted "outside image" skip of its line (the image keeps its other
objects: a box the image does not show is no missing object).

Rows (``task:`` in the recipe chooses):

- ``detection`` (default): ``{"objects": [{"label", "poly", "difficult": false}], "classes": CLASSES}``, one per
  image, boxes as 4-point polygons;
- ``referring_detection``: one row per image and class present, ``{"expression": "all <class plural>", "boxes":
  [...]}`` — every object of that class, the multi-object referring rows GeoVLM-R1 builds on this dataset.

Split: none declared (null).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import (
    Skip,
    SourceSpec,
    box_to_poly,
    isolated,
    make_row,
    outside_image,
    read_size,
    read_text,
)
from data_engine.numbers import BadNumber, parse_int, parse_numbers

CLASSES = ("airplane", "ship", "storage tank", "baseball diamond", "tennis court", "basketball court",
           "ground track field", "harbor", "bridge", "vehicle")
_LINE_RE = re.compile(r"^\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)\s*,\s*\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)\s*,\s*(\S+)\s*$")


def plural(label: str) -> str:
    """English plural of a class name ("harbor" -> "harbors", "tennis court" -> "tennis courts")."""
    return label + ("es" if label.endswith(("s", "sh", "ch", "x")) else "s")


def iter_nwpu_vhr10(spec: SourceSpec) -> Iterator[dict | Skip]:
    gt_dir, img_dir = spec.root / "ground truth", spec.images / "positive image set"
    if not spec.wants(None):
        return
    referring = (spec.task or "detection") == "referring_detection"
    for file in sorted(gt_dir.glob("*.txt")):
        yield from isolated(file, None, _image, spec, file, img_dir, referring)


def _image(spec: SourceSpec, file: Path, img_dir: Path, referring: bool) -> Iterator[dict | Skip]:
    image = next((p for p in (img_dir / f"{file.stem}{ext}" for ext in (".jpg", ".png", ".JPG")) if p.is_file()),
                 img_dir / f"{file.stem}.jpg")
    size = read_size(image, file)
    if isinstance(size, Skip):
        yield size
        return
    text = read_text(file)
    if isinstance(text, Skip):
        yield text
        return
    objects, outside, bad = [], [], None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        m = _LINE_RE.match(line.strip())
        if not m:
            bad = Skip("malformed line", str(file), lineno, f"expected (x1,y1),(x2,y2),c, got {line.strip()[:60]!r}")
            break
        try:
            x1, y1, x2, y2 = parse_numbers(m.groups()[:4])
            c = parse_int(m.group(5))
        except BadNumber as e:
            bad = Skip("malformed line", str(file), lineno, f"{e} in {line.strip()[:60]!r}")
            break
        if not 1 <= c <= len(CLASSES):
            bad = Skip("unknown class", str(file), lineno, f"class id {c} is not 1-{len(CLASSES)}")
            break
        if x2 <= x1 or y2 <= y1:
            bad = Skip("degenerate box", str(file), lineno, f"({x1},{y1}),({x2},{y2}) has no area")
            break
        problem = outside_image([x1, y1, x2, y2], *size)
        if problem:  # not in the image: not a missing object either, so the image's other objects stay whole
            outside.append(Skip("outside image", str(file), lineno, problem))
            continue
        objects.append((CLASSES[c - 1], [x1, y1, x2, y2]))
    if bad is not None:
        yield bad
        return
    yield from outside
    if not referring:
        target = {"objects": [{"label": lab, "poly": box_to_poly(*b), "difficult": False} for lab, b in objects],
                  "classes": list(CLASSES)}
        yield make_row(spec, file.stem, "detection", None, [image], *size, target)
        return
    if not objects:
        yield Skip("no objects", str(file), None, "an image without objects has no referring expression")
        return
    for label in sorted({lab for lab, _ in objects}):
        target = {"expression": f"all {plural(label)}", "boxes": [b for lab, b in objects if lab == label]}
        yield make_row(spec, f"{file.stem}:{label.replace(' ', '_')}", "referring_detection", None, [image],
                       *size, target)
