"""refGeo (GeoGround) grounding JSONL.

Layout::

    <root>/metainfo_v2/<ds>_train_v2.jsonl     (set `annotations:` to a file or glob under root)
    <image_root>/<image_id>[.<ext>]            (default image_root = root)

One JSON object per line: ``image_id, dataset, question, bbox [x1,y1,x2,y2], poly (4 points), question_id,
image_width, image_height, mask_exists``. The image is looked up as ``<image_root>/<image_id>``, then with the usual
extensions, then under ``<image_root>/<dataset>/``. Split = a ``train``/``val``/``test`` token of the file name,
else null. Expression = `question` verbatim.

Target: ``{"expression", "box", ["poly"]}`` (poly flattened to 8 numbers when present).

With ``task: referring_segmentation`` in the recipe the rows also carry ``"mask"`` (COCO RLE of the original image)
read from ``<root>/masks/<dataset>/<image stem>_<question_id>.png`` where the record has ``mask_exists`` (see
`read_refgeo_mask`; docs/dataset-layouts.md §4); records without a usable mask are counted skips naming the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_engine.adapters.base import (
    Skip,
    SourceSpec,
    check_box,
    check_poly,
    isolated,
    json_line,
    make_row,
    outside_image,
    poly_skip,
    read_lines,
    read_size,
    split_from_name,
)
from data_engine.images import ImageTooLarge, find_image, open_image
from data_engine.masks import encode_mask


def _image(spec: SourceSpec, rec: dict) -> Path | None:
    name = str(rec.get("image_id", ""))
    for folder in (spec.images, spec.images / str(rec.get("dataset", ""))):
        if (folder / name).is_file():
            return folder / name
        found = find_image(folder, name)
        if found is not None:
            return found
    return None


def iter_refgeo(spec: SourceSpec) -> Iterator[dict | Skip]:
    for file in spec.annotation_files("metainfo_v2/*.jsonl"):
        split = split_from_name(file.name)
        if not spec.wants(split):
            continue
        for item in read_lines(file):
            if isinstance(item, Skip):
                yield item
            else:
                yield from isolated(file, item[0], _record, spec, file, *item, split)


def _record(spec: SourceSpec, file: Path, lineno: int, line: str, split: str | None):
    try:
        rec = json_line(line)
        expression = rec["question"]
        box = check_box(rec["bbox"])
    except (KeyError, TypeError, ValueError) as e:
        yield Skip("malformed line", str(file), lineno, f"{type(e).__name__}: {e}")
        return
    if not isinstance(expression, str) or not expression.strip():
        yield Skip("malformed line", str(file), lineno, f"question must be text, got {expression!r}")
        return
    if isinstance(box, str):
        yield Skip("degenerate polygon" if box.startswith("degenerate") else "malformed line", str(file), lineno,
                   f"bbox: {box}")
        return
    image = _image(spec, rec)
    if image is None:
        yield Skip("missing image", str(file), lineno, f"image {rec.get('image_id')!r} not under {spec.images}")
        return
    size = read_size(image, file, lineno)
    if isinstance(size, Skip):
        yield size
        return
    out = outside_image(box, *size)
    if out:
        yield Skip("outside image", str(file), lineno, out)
        return
    target = {"expression": expression, "box": box}
    if rec.get("poly") is not None:
        try:
            poly = check_poly(np.asarray(rec["poly"], dtype=object).reshape(-1).tolist())
        except ValueError as e:  # a ragged nesting numpy cannot shape
            poly = f"non-numeric coordinates ({e})"
        if isinstance(poly, str):
            yield poly_skip(poly, "malformed line", file, lineno, "poly")
            return
        target["poly"] = poly.tolist()
    native = str(rec.get("question_id", f"{file.stem}:{lineno}"))
    if spec.task == "referring_segmentation":  # the record's mask (docs/dataset-layouts.md §4)
        mask = read_refgeo_mask(spec, rec, image, size, file, lineno)
        if isinstance(mask, Skip):
            yield mask
            return
        target["mask"] = mask
    yield make_row(spec, native, "grounding", split, [image], *size, target)


def read_refgeo_mask(spec: SourceSpec, rec: dict, image: Path, size: tuple[int, int], file: Path,
                     lineno: int) -> dict | Skip:
    """The record's mask as COCO RLE, or the Skip saying why it is unusable.

    ``<root>/masks/<dataset>/<image stem>_<question_id>.png``, used when ``mask_exists`` is true or, when the key
    is absent, when the file exists (RSCoVLM's rule); read as 8-bit grey, foreground = values > 1; its size must
    equal the image's, and an empty mask is skipped (a referring expression names something).
    """
    path = spec.root / "masks" / str(rec.get("dataset", "")) / f"{Path(str(rec.get('image_id', ''))).stem}_" \
        f"{rec.get('question_id')}.png"
    flag = rec.get("mask_exists")
    if flag is False or (flag is None and not path.is_file()):
        return Skip("no mask", str(file), lineno, f"mask_exists is {flag!r} ({path})")
    try:
        with open_image(path) as im:
            grey = np.asarray(im.convert("L"))
    except FileNotFoundError:
        return Skip("missing mask", str(file), lineno, f"{path} does not exist")
    except ImageTooLarge as e:
        return Skip("image over pixel limit", str(file), lineno, str(e))
    except (OSError, ValueError) as e:
        return Skip("unreadable mask", str(file), lineno, f"{path}: {e}")
    if (grey.shape[1], grey.shape[0]) != tuple(size):
        return Skip("mask size differs", str(file), lineno,
                    f"{path} is {grey.shape[1]}x{grey.shape[0]}, the image {size[0]}x{size[1]}")
    on = grey > 1
    if not on.any():
        return Skip("empty mask", str(file), lineno, str(path))
    return encode_mask(on)
