"""ISPRS Potsdam / Vaihingen as distributed: colour-coded label TIFFs, cut into square windows like DOTA patches.

Layout (docs/dataset-layouts.md §5)::

    <annotations glob>        label TIFFs (default ``**/*_label*.tif`` under root, recursive: Potsdam's
                              ``5_Labels_all/top_potsdam_{i}_{j}_label.tif`` or ``5_Labels_all_noBoundary/…_label_noBoundary.tif``
                              as the official archives unzip; a tile labelled by both is read from its noBoundary
                              label, the other a counted "duplicate label"; Vaihingen: set e.g. ``annotations: "gts/*.tif"``)
    <image_root>/<image>      the tile: the label's own name (Vaihingen ``top_mosaic_09cm_area{N}.tif``), else with
                              ``_label[_noBoundary]`` replaced by ``_RGB``, ``_IRRG`` or ``_RGBIR`` (Potsdam); without
                              ``image_root`` it is also looked up by name anywhere under root (``2_Ortho_RGB/``)

Colours (RGB) -> classes `ISPRS_CLASSES` (0..5): white impervious surface, blue building, cyan low vegetation,
green tree, yellow car, red clutter; black (the eroded boundary of the ``noBoundary`` labels) is ``ignore_index``
(recipe key, default 255). A label with any other colour is a counted skip (``unknown colour``). Split: the tile's
id in the official split lists (`SPLITS`; the mmseg converters' train / val), else null. With ``patches: {size,
gap}`` each tile is cut into windows as DOTA images are (`data_engine.patches.windows`; windows past the border are
padded with ignored pixels), and every window gives one ``semantic_segmentation`` row per class, id
``<tile>__<size>__<x>___<y>/<class>``, its target recording the window (``patch``); without ``patches`` the whole
tile is one window.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_engine.adapters.base import Skip, SourceSpec, isolated, read_size
from data_engine.adapters.label_maps import class_rows
from data_engine.images import ImageTooLarge, open_image
from data_engine.patches import patch_id, windows

ISPRS_CLASSES = ("impervious_surface", "building", "low_vegetation", "tree", "car", "clutter")
COLOURS = {(255, 255, 255): 0, (0, 0, 255): 1, (0, 255, 255): 2, (0, 255, 0): 3, (255, 255, 0): 4, (255, 0, 0): 5}
BOUNDARY = (0, 0, 0)
_POTSDAM_TRAIN = ["2_10", "2_11", "2_12", "3_10", "3_11", "3_12", "4_10", "4_11", "4_12", "5_10", "5_11", "5_12",
                  *(f"{i}_{j}" for i in (6, 7) for j in range(7, 13))]
_POTSDAM_VAL = ["2_13", "2_14", "3_13", "3_14", "4_13", "4_14", "4_15", "5_13", "5_14", "5_15", "6_13", "6_14",
                "6_15", "7_13"]
SPLITS = {**{f"potsdam_{t}": "train" for t in _POTSDAM_TRAIN}, **{f"potsdam_{t}": "val" for t in _POTSDAM_VAL},
          **{f"area{n}": "train" for n in (1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34, 37)},
          **{f"area{n}": "val" for n in (2, 4, 6, 8, 10, 12, 14, 16, 20, 22, 24, 27, 29, 31, 33, 35, 38)}}
_TILE_RE = re.compile(r"(potsdam_\d+_\d+|area\d+)")


def tile_split(name: str) -> str | None:
    """train / val of a tile by the official lists, from its file name; None for a tile in neither."""
    m = _TILE_RE.search(name)
    return SPLITS.get(m.group(1)) if m else None


def colours_to_ids(rgb: np.ndarray, ignore_index: int) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """(h, w) class ids of an (h, w, 3) colour label, and the colours outside the table (empty when none)."""
    code = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    ids = np.full(code.shape, -1, dtype=np.int64)
    for (r, g, b), k in COLOURS.items():
        ids[code == (r << 16 | g << 8 | b)] = k
    ids[code == 0] = ignore_index
    unknown = np.unique(code[ids == -1])
    return ids, [(int(c) >> 16, (int(c) >> 8) & 255, int(c) & 255) for c in unknown[:5]]


def _image_for(spec: SourceSpec, label: Path, tiles: dict[str, Path]) -> Path | None:
    """The tile of a label: under image_root by name, else (no image_root set) anywhere under root by name."""
    names = [label.name] + [label.name.replace(tag, rep) for tag in ("_label_noBoundary", "_label")
                            for rep in ("_RGB", "_IRRG", "_RGBIR") if tag in label.name]
    for n in names:
        for p in (spec.images / n, tiles.get(n)):
            if p is not None and p.is_file() and p.resolve() != label.resolve():
                return p
    return None


def _tile_index(spec: SourceSpec) -> dict[str, Path]:
    """Every ``.tif`` under root by file name (first in sorted order), for the official archives' layout where tiles
    (``2_Ortho_RGB/``) and labels (``5_Labels_all/``) are sibling folders. Empty when image_root is set."""
    if spec.image_root is not None:
        return {}
    index: dict[str, Path] = {}
    for p in sorted(spec.root.rglob("*.tif")):
        index.setdefault(p.name, p)
    return index


def _label_files(spec: SourceSpec) -> tuple[list[Path], list[Skip]]:
    """The label TIFFs: the recipe's glob, else ``**/*_label*.tif`` (recursive: the official archives unzip into
    ``5_Labels_all/`` and ``5_Labels_all_noBoundary/``). With the default glob, a tile labelled twice (both archives
    unzipped) is read once, from its ``_noBoundary`` label (the one the ISPRS benchmark and mmseg's converter use);
    the other is a counted "duplicate label" skip."""
    files = spec.annotation_files("**/*_label*.tif")
    if spec.annotations:
        return files, []
    by_tile: dict[str, list[Path]] = {}
    for f in files:
        by_tile.setdefault(f.name.replace("_label_noBoundary", "").replace("_label", ""), []).append(f)
    keep, skips = [], []
    for group in by_tile.values():
        group.sort(key=lambda f: ("_noBoundary" not in f.name, str(f)))
        keep.append(group[0])
        skips += [Skip("duplicate label", str(f), None, f"the tile is read from {group[0]}") for f in group[1:]]
    return sorted(keep), skips


def iter_isprs(spec: SourceSpec) -> Iterator[dict | Skip]:
    label_files, skips = _label_files(spec)
    yield from skips
    tiles = _tile_index(spec)
    for label_file in label_files:
        split = tile_split(label_file.name)
        if spec.wants(split):
            yield from isolated(label_file, None, _tile, spec, label_file, split, tiles)


def _tile(spec: SourceSpec, label_file: Path, split: str | None, tiles: dict[str, Path]) -> Iterator[dict | Skip]:
    ignore = int(spec.extra.get("ignore_index", 255))
    classes = list(spec.classes or ISPRS_CLASSES)
    size_opt = (spec.patches or {}).get("size")
    gap = int((spec.patches or {}).get("gap", 0))
    image = _image_for(spec, label_file, tiles)
    if image is None:
        yield Skip("missing image", str(label_file), None, f"no tile for this label under {spec.images}")
        return
    size = read_size(image, label_file)
    if isinstance(size, Skip):
        yield size
        return
    try:
        with open_image(label_file) as im:
            rgb = np.asarray(im.convert("RGB"))
    except ImageTooLarge as e:
        yield Skip("image over pixel limit", str(label_file), None, str(e))
        return
    except (OSError, ValueError) as e:
        yield Skip("unreadable label map", str(label_file), None, str(e))
        return
    if (rgb.shape[1], rgb.shape[0]) != tuple(size):
        yield Skip("label map size differs", str(label_file), None,
                   f"label {rgb.shape[1]}x{rgb.shape[0]}, image {size[0]}x{size[1]}")
        return
    ids, unknown = colours_to_ids(rgb, ignore)
    if unknown:
        yield Skip("unknown colour", str(label_file), None, f"colours {unknown} are not in the ISPRS table")
        return
    tile = image.stem
    w, h = size
    side = int(size_opt) if size_opt else None
    wins = windows(w, h, side, gap) if side else np.array([[0, 0, w, h]])
    for x1, y1, x2, y2 in wins.tolist():
        window = np.full((y2 - y1, x2 - x1), ignore, dtype=np.int64)  # past the border: ignored padding
        crop = ids[y1:y2, x1:x2]
        window[: crop.shape[0], : crop.shape[1]] = crop
        patch = {"parent": f"{spec.name}/{tile}", "x": x1, "y": y1, "size": side} if side else None
        native = patch_id(tile, side, x1, y1) if side else tile
        rows = class_rows(spec, native, split, image, (x2 - x1, y2 - y1), window, classes, ignore, label_file,
                          patch=patch)
        if isinstance(rows, Skip):
            yield rows
        else:
            yield from rows
