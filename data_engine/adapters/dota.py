"""DOTA `labelTxt` (oriented detection).

Layout (as distributed)::

    <root>/{train,val}/images/<image_id>.png
    <root>/{train,val}/labelTxt/<image_id>.txt

`root` may also hold `images/` and `labelTxt/` directly (split null). A label file may open with header lines
``imagesource:<src>`` and ``gsd:<float|null|None>``; then one object per line,
``x1 y1 x2 y2 x3 y3 x4 y4 <class> <difficult>`` (integers or floats; a missing 10th token means 0). A 0-byte file
is an image without objects (a valid negative). ``difficult = (flag == 1)``; the class is kept verbatim; the
header's gsd is kept in the target when numeric. Lines that are not a header, blank, or a valid object are
reported as "malformed line"; zero-area polygons as "degenerate polygon". Split = the top folder.

Target: ``{"objects": [{"label", "poly", "difficult"}], "classes", ["gsd"]}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import (
    SPLIT_NAMES,
    Skip,
    SourceSpec,
    check_poly,
    isolated,
    make_row,
    outside_image,
    poly_skip,
    read_size,
    read_text,
    unknown_class,
)
from data_engine.errors import UserError
from data_engine.images import IMAGE_EXTENSIONS, find_image
from data_engine.numbers import BadNumber, parse_int, parse_number


def _split_dirs(root: Path) -> list[tuple[str | None, Path]]:
    if (root / "labelTxt").is_dir():  # root is itself one split folder (or a split-less copy)
        return [(root.name if root.name in SPLIT_NAMES else None, root)]
    dirs = [(d.name, d) for d in sorted(root.iterdir()) if (d / "labelTxt").is_dir()] if root.is_dir() else []
    if not dirs:
        raise UserError(f"{root}: no labelTxt/ folder in it or in any of its split folders (DOTA layout)")
    return dirs


def parse_label_file(text: str, file: Path) -> tuple[list[dict], float | None, list[Skip]]:
    """Objects, gsd and per-line skips of one DOTA label file's text.

    Returns:
        (objects [{"label", "poly" (8 floats), "difficult", "line"}], gsd or None, skips).
    """
    objects, skips, gsd = [], [], None
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        if s.startswith("imagesource:"):
            continue
        if s.startswith("gsd:"):
            try:
                gsd = parse_number(s[4:])
            except BadNumber:
                gsd = None  # 'null' / 'None' in the originals
            continue
        tok = s.split()
        if len(tok) < 9:
            skips.append(Skip("malformed line", str(file), lineno, f"{len(tok)} tokens, need >= 9: {s!r}"))
            continue
        poly = check_poly(tok[:8])
        if isinstance(poly, str):
            skips.append(poly_skip(poly, "malformed line", file, lineno))
            continue
        flag = tok[9] if len(tok) > 9 else "0"
        try:
            difficult = parse_int(flag) == 1
        except BadNumber:
            skips.append(Skip("malformed line", str(file), lineno, f"difficult flag {flag[:40]!r} is not an integer"))
            continue
        objects.append({"label": tok[8], "poly": poly.tolist(), "difficult": difficult, "line": lineno})
    return objects, gsd, skips


def iter_dota(spec: SourceSpec) -> Iterator[dict | Skip]:
    for split, folder in _split_dirs(spec.root):
        if not spec.wants(split):
            continue
        for label_file in sorted((folder / "labelTxt").glob("*.txt")):
            yield from isolated(label_file, None, _label_file, spec, split, folder, label_file)


def _label_file(spec: SourceSpec, split: str | None, folder: Path, label_file: Path) -> Iterator[dict | Skip]:
    text = read_text(label_file)
    if isinstance(text, Skip):
        yield text
        return
    objects, gsd, skips = parse_label_file(text, label_file)
    yield from skips
    image = find_image(folder / "images", label_file.stem)
    if image is None:
        yield Skip("missing image", str(label_file), None, f"no image {label_file.stem}.* in {folder / 'images'}")
        return
    size = read_size(image, label_file)
    if isinstance(size, Skip):
        yield size
        return
    kept = []
    for o in objects:
        bad = unknown_class(spec, o["label"], label_file, o["line"])
        out = outside_image(o["poly"], *size)
        if out:
            bad = Skip("outside image", str(label_file), o["line"], out)
        if bad:
            yield bad
            continue
        kept.append({k: o[k] for k in ("label", "poly", "difficult")})
    target = {"objects": kept, "classes": spec.classes}
    if gsd is not None:
        target["gsd"] = gsd
    yield make_row(spec, label_file.stem, "detection", split, [image], *size, target)


# DOTA-v1.0's 15 classes as the devkit spells them (dota_utils.py wordname_15): the class list of unlabelled rows.
DOTA_V1_CLASSES = [
    "plane", "baseball-diamond", "bridge", "ground-track-field", "small-vehicle", "large-vehicle", "ship",
    "tennis-court", "basketball-court", "storage-tank", "soccer-ball-field", "roundabout", "harbor", "swimming-pool",
    "helicopter",
]


def iter_dota_test(spec: SourceSpec) -> Iterator[dict | Skip]:
    """DOTA test images without labels (the test-server split): ``<root>/test/images/<id>.png`` or
    ``<root>/images/<id>.png``. One detection row per image, target ``{"objects": [], "classes": <the recipe's
    classes or the 15 DOTA-v1.0 classes>, "unlabelled": true}``; its predictions are exported with the suite's
    ``submission: dota_task1`` (eval.submission). A file that is not an image (by extension) or cannot be decoded
    is a counted skip."""
    folder = next((f for f in (spec.root / "test" / "images", spec.root / "images") if f.is_dir()), None)
    if folder is None:
        raise UserError(f"{spec.root}: no test/images/ or images/ folder (DOTA test layout)")
    split = "test" if folder.parent.name == "test" else None
    if not spec.wants(split):
        return
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        yield from isolated(path, None, _test_image, spec, split, path)


def _test_image(spec: SourceSpec, split: str | None, path: Path) -> Iterator[dict | Skip]:
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        yield Skip("not an image", str(path), None, f"extension {path.suffix!r}")
        return
    size = read_size(path, path)
    if isinstance(size, Skip):
        yield size
        return
    target = {"objects": [], "classes": spec.classes or DOTA_V1_CLASSES, "unlabelled": True}
    yield make_row(spec, path.stem, "detection", split, [path], *size, target)
