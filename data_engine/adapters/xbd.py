"""xBD / xView2 building damage (docs/multi-image.md §5).

Layout (as distributed): a split folder (``train``, ``tier3``, ``hold``, ``test``) with ``images/`` and ``labels/``
(``targets/`` is not read); root is one split folder, or a folder holding several. Names:
``<disaster>_<8 digits>_{pre,post}_disaster.{png,json}``. The POST label JSON is read: ``features.xy[]`` holds
``{"properties": {"feature_type", "uid", "subtype"}, "wkt": "POLYGON ((x y, ...))"}`` in pixels, ``metadata``
has ``disaster``, ``disaster_type``, ``width``, ``height``.

Rows per pair (images ``[pre, post]``, co-registered; a pair with a missing or differently sized image is a counted
skip, so is a label with malformed JSON or WKT, a non-finite WKT coordinate included; a classified building that
does not overlap the image by a positive area is a counted "outside image" skip, with no damage label and no
question about it):

- ``change_detection``: every classified building as ``{"label": <subtype>, "poly": <minimum rotated rectangle of
  the polygon>, "shape": <the polygon's exterior ring, flat>}``, classes = the four damage levels in ordinal order;
  ``un-classified`` buildings are left out of the damage labels and counted in the target's ``n_unclassified``;
  ``disaster_type`` kept.
- ``damage``: one disaster-type question (classes: the disaster types of the source, filled by the build) and, for
  up to ``max_buildings`` classified buildings of the pair (default 3; the ones with the smallest ``uid``), the
  damage level of the building given by its box (``box``, original pixels; ordinal classes).

A recipe ``task:`` keeps only the rows of that task (``change_detection`` or ``damage``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, outside_image, read_frames, read_json
from data_engine.change_text import DAMAGE_LEVEL_QUESTION, DAMAGE_LEVELS, DISASTER_TYPE_QUESTION
from data_engine.errors import UserError

SPLITS = ("train", "tier3", "hold", "test")
UNCLASSIFIED = "un-classified"


def _split_dirs(root: Path) -> list[tuple[str | None, Path]]:
    if (root / "labels").is_dir():
        return [(root.name if root.name in SPLITS else None, root)]
    dirs = [(d.name, d) for d in sorted(root.iterdir()) if d.is_dir() and (d / "labels").is_dir()]
    if not dirs:
        raise UserError(f"{root}: no labels/ folder and no <split>/labels/ folders (xBD layout)")
    return dirs


def _buildings(doc: dict, file: Path, width: int, height: int) -> tuple[list[dict], int, list[Skip]] | Skip:
    """(classified buildings, number unclassified, skips of buildings outside the image) of a post label, or the
    Skip of the whole pair (a feature whose WKT is malformed, non-finite or not a polygon with area)."""
    import warnings

    from shapely import wkt
    from shapely.errors import ShapelyError

    out, n_uncl, outside = [], 0, []
    try:
        feats = doc["features"]["xy"]
    except (KeyError, TypeError):
        return Skip("malformed JSON", str(file), None, "no features.xy list")
    for k, f in enumerate(feats if isinstance(feats, list) else []):
        try:
            props = f.get("properties") or {}
            with warnings.catch_warnings():  # shapely warns on nan before we refuse it
                warnings.simplefilter("ignore", RuntimeWarning)
                geom = wkt.loads(f["wkt"])
            coords = np.asarray(geom.exterior.coords, dtype=np.float64) if geom.geom_type == "Polygon" else None
        except (KeyError, TypeError, AttributeError, ShapelyError) as e:
            return Skip("malformed WKT", str(file), k, f"feature {k}: {e}")
        if coords is None or geom.is_empty:
            return Skip("malformed WKT", str(file), k, f"feature {k}: not a polygon with area ({geom.geom_type})")
        if not np.all(np.isfinite(coords)):  # nan / inf: shapely's area and rectangle would fail or lie
            return Skip("malformed WKT", str(file), k, f"feature {k}: non-finite coordinate")
        if geom.area <= 0:
            return Skip("malformed WKT", str(file), k, f"feature {k}: not a polygon with area ({geom.geom_type})")
        subtype = props.get("subtype")
        if subtype == UNCLASSIFIED or subtype is None:
            n_uncl += 1
            continue
        if subtype not in DAMAGE_LEVELS:
            return Skip("unknown class", str(file), k, f"feature {k}: subtype {subtype!r} not in {DAMAGE_LEVELS}")
        ring = coords[:-1]
        problem = outside_image(ring.reshape(-1), width, height)
        if problem:  # not in the image: no damage label and no question about it
            outside.append(Skip("outside image", str(file), k, f"feature {k}: {problem}"))
            continue
        rect = np.asarray(geom.minimum_rotated_rectangle.exterior.coords, dtype=np.float64)[:4]
        x1, y1, x2, y2 = geom.bounds
        out.append({"label": subtype, "poly": [round(v, 2) for v in rect.reshape(-1).tolist()],
                    "shape": [round(v, 2) for v in ring.reshape(-1).tolist()], "uid": str(props.get("uid", k)),
                    "box": [x1, y1, x2, y2]})
    return out, n_uncl, outside


def iter_xbd(spec: SourceSpec) -> Iterator[dict | Skip]:
    if spec.task not in (None, "change_detection", "damage"):
        raise UserError(f"source {spec.name!r}: xbd makes change_detection and damage rows, not {spec.task!r}")
    for split, folder in _split_dirs(spec.images if spec.image_root is not None else spec.root):
        if not spec.wants(split):
            continue
        for label in sorted((folder / "labels").glob("*_post_disaster.json")):
            yield from isolated(label, None, _pair, spec, split, folder, label)


def _pair(spec: SourceSpec, split: str | None, folder: Path, label: Path) -> Iterator[dict | Skip]:
    max_buildings = int(spec.extra.get("max_buildings", 3))
    stem = label.name[: -len("_post_disaster.json")]
    images = [folder / "images" / f"{stem}_pre_disaster.png", folder / "images" / f"{stem}_post_disaster.png"]
    sizes = read_frames(images, label, None, coregistered=True)
    if isinstance(sizes, Skip):
        yield sizes
        return
    doc = read_json(label)
    if isinstance(doc, Skip):
        yield doc
        return
    got = _buildings(doc, label, *sizes[0]) if isinstance(doc, dict) else Skip("malformed JSON", str(label), None,
                                                                                "expected an object")
    if isinstance(got, Skip):
        yield got
        return
    buildings, n_uncl, outside = got
    yield from outside
    meta = doc.get("metadata") or {}
    disaster_type = meta.get("disaster_type")
    native = f"{split}/{stem}" if split else stem
    if spec.task in (None, "change_detection"):
        objs = [{"label": b["label"], "poly": b["poly"], "shape": b["shape"]} for b in buildings]
        yield make_row(spec, native, "change_detection", split, images, *sizes[0],
                       {"objects": objs, "classes": list(DAMAGE_LEVELS), "n_unclassified": n_uncl,
                        "disaster_type": disaster_type})
    if spec.task in (None, "damage"):
        if isinstance(disaster_type, str) and disaster_type:
            yield make_row(spec, f"{native}/type", "damage", split, images, *sizes[0],
                           {"question": DISASTER_TYPE_QUESTION, "answer": disaster_type,
                            "classes": None, "qtype": "disaster_type"})  # the build fills the classes
        for b in sorted(buildings, key=lambda b: b["uid"])[:max_buildings]:
            yield make_row(spec, f"{native}/{b['uid']}", "damage", split, images, *sizes[0],
                           {"question": DAMAGE_LEVEL_QUESTION, "answer": b["label"], "box": b["box"],
                            "classes": list(DAMAGE_LEVELS), "qtype": "damage_level"})
