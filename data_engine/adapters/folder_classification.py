"""Folder-per-class scene classification: AID, NWPU-RESISC45, UC Merced.

Layout (as distributed)::

    AID/<ClassName>/<classname>_<n>.jpg
    NWPU-RESISC45/<class_name>/<class_name>_<nnn>.jpg
    UCMerced_LandUse/Images/<class>/<class><nn>.tif

Label = the parent folder name, verbatim. The releases declare no split (split null). A root whose sub-folders are
split names (``train``, ``val``, ``test``, ...) each holding class folders is read with that split, and a root with
a single `Images/` folder (UC Merced) is entered. Classes = the recipe's `classes`, else every class folder found.

Target: ``{"label", "classes"}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import SPLIT_NAMES, Skip, SourceSpec, isolated, make_row, read_size, unknown_class
from data_engine.errors import UserError
from data_engine.images import IMAGE_EXTENSIONS


def _subdirs(p: Path) -> list[Path]:
    return sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))


def _layout(root: Path) -> list[tuple[str | None, Path]]:
    if not root.is_dir():
        raise UserError(f"{root}: not a folder (folder-per-class layout)")
    dirs = _subdirs(root)
    if len(dirs) == 1 and dirs[0].name == "Images":
        return [(None, dirs[0])]
    if dirs and all(d.name in SPLIT_NAMES for d in dirs):
        return [("val" if d.name == "validation" else d.name, d) for d in dirs]
    return [(None, root)]


def iter_folder_classification(spec: SourceSpec) -> Iterator[dict | Skip]:
    for split, folder in _layout(spec.root):
        if not spec.wants(split):
            continue
        for class_dir in _subdirs(folder):
            label = class_dir.name
            for image in sorted(class_dir.iterdir()):
                if image.suffix.lower() in IMAGE_EXTENSIONS:
                    yield from isolated(image, None, _image, spec, split, label, image)


def _image(spec: SourceSpec, split: str | None, label: str, image: Path) -> Iterator[dict | Skip]:
    if not image.is_file():
        if image.is_symlink():  # dangling: the image it names is gone
            yield Skip("missing image", str(image), None, f"dangling symlink to {image.readlink()}")
        return
    bad = unknown_class(spec, label, image, None)
    if bad:
        yield bad
        return
    size = read_size(image, image)
    if isinstance(size, Skip):
        yield size
        return
    native = f"{split + '/' if split else ''}{label}/{image.name}"
    yield make_row(spec, native, "classification", split, [image], *size, {"label": label, "classes": spec.classes})
