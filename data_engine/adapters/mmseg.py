"""mmsegmentation's folder layout (ISPRS Potsdam / Vaihingen, LoveDA and others as mmseg's converters write them).

Layout (docs/dataset-layouts.md §5)::

    <root>/img_dir/<split>/<stem>.<png|jpg|tif>
    <root>/ann_dir/<split>/<stem>.png           single-channel class ids

Recipe keys: ``classes`` (required: the class names in id order AFTER ``reduce_zero_label``), ``reduce_zero_label``
(default false: id 0 becomes ``ignore_index`` and the others move down by one, as mmseg's Potsdam, Vaihingen and
LoveDA configs set it) and ``ignore_index`` (default 255). Split = the ``img_dir`` sub-folder's name. Each image
gives one ``semantic_segmentation`` row per class (`data_engine.adapters.label_maps`). Counted skips: missing,
unreadable, multi-channel or wrongly sized label maps, ids outside the class list, missing or unreadable images.
"""

from __future__ import annotations

from collections.abc import Iterator

from data_engine.adapters.base import Skip, SourceSpec, isolated
from data_engine.adapters.label_maps import image_label_rows
from data_engine.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def iter_mmseg(spec: SourceSpec) -> Iterator[dict | Skip]:
    if not spec.classes:
        raise UserError(f"source {spec.name!r} (mmseg): set 'classes:' to the class names in id order")
    img_dir, ann_dir = spec.root / "img_dir", spec.root / "ann_dir"
    if not img_dir.is_dir():
        raise UserError(f"source {spec.name!r} (mmseg): {img_dir} does not exist")
    ignore = int(spec.extra.get("ignore_index", 255))
    reduce = bool(spec.extra.get("reduce_zero_label", False))
    for split_dir in sorted(p for p in img_dir.iterdir() if p.is_dir()):
        split = split_dir.name
        if not spec.wants(split):
            continue
        for image in sorted(p for p in split_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            yield from isolated(image, None, image_label_rows, spec, f"{split}/{image.stem}", split, image,
                                ann_dir / split / f"{image.stem}.png", list(spec.classes), ignore, reduce)
