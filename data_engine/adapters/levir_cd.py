"""LEVIR-CD change detection (docs/multi-image.md §4).

Layout: the official zips unpack into ``A/``, ``B/`` and ``label/`` with ``{train,val,test}_<n>.png`` names (the
split is the name's prefix), or the common re-arrangement ``{train,val,test}/{A,B,label}/<name>.png``; either under
root. A is the image before, B after; ``label`` is a single-channel PNG, 0 = no change, 255 = change (any value > 0
is change, as torchgeo clamps it).

Each label's connected components become one object ``{"label": "change", "poly"}`` (`data_engine.change_masks`;
the minimum component area in pixels is the source's ``min_area``, default 16, and the components below it are
counted in the target's ``n_small``). A pair without change has no objects (answer ``There are none.``). The target
keeps the label's path as ``mask`` so evaluation scores pixels against the real mask. A record missing A, B or the
label is a "missing image" skip; frames or label of different sizes are a "frames differ in size" skip.

Target (task ``change_detection``, images ``[A, B]``): ``{"objects": [...], "classes": ["change"], "mask": path,
"n_small": int}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, read_frames, split_from_name
from data_engine.change_masks import mask_to_polys
from data_engine.errors import UserError
from data_engine.images import IMAGE_EXTENSIONS, ImageTooLarge, open_image

CLASSES = ["change"]


def _records(spec: SourceSpec) -> Iterator[tuple[str | None, Path, Path]]:
    """(split, A folder, image file in A) for both layouts."""
    root = spec.images
    if (root / "A").is_dir():
        for p in sorted((root / "A").iterdir()):
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                yield split_from_name(p.name), root, p
        return
    found = False
    for split_dir in sorted(d for d in root.iterdir() if d.is_dir() and (d / "A").is_dir()):
        found = True
        for p in sorted((split_dir / "A").iterdir()):
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                yield split_dir.name, split_dir, p
    if not found:
        raise UserError(f"{root}: no A/ folder and no <split>/A/ folders (LEVIR-CD layout)")


def iter_levir_cd(spec: SourceSpec) -> Iterator[dict | Skip]:
    min_area = int(spec.extra.get("min_area", 16))  # validated when the recipe loads (data_engine.build)
    for split, folder, a in _records(spec):
        if not spec.wants(split):
            continue
        yield from isolated(a, None, _pair, spec, split, folder, a, min_area)


def _pair(spec: SourceSpec, split: str | None, folder: Path, a: Path, min_area: int) -> Iterator[dict | Skip]:
    b, label = folder / "B" / a.name, folder / "label" / a.name
    sizes = read_frames([a, b, label], a, None, coregistered=True)
    if isinstance(sizes, Skip):
        yield sizes
        return
    try:
        with open_image(label) as im:
            mask = np.asarray(im.convert("L"))
    except ImageTooLarge as e:
        yield Skip("image over pixel limit", str(label), None, str(e))
        return
    except (OSError, ValueError) as e:
        yield Skip("unreadable image", str(label), None, str(e))
        return
    polys, n_small = mask_to_polys(mask, min_area)
    target = {"objects": [{"label": "change", "poly": p, "difficult": False} for p in polys],
              "classes": list(CLASSES), "mask": str(label.resolve()), "n_small": n_small}
    yield make_row(spec, f"{split}/{a.stem}" if split else a.stem, "change_detection", split, [a, b], *sizes[0],
                   target)
