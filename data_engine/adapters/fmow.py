"""fMoW-rgb temporal scene classification (docs/multi-image.md §6).

Layout (as distributed): ``{train,val}/<category>/<category>_<loc>/<category>_<loc>_<n>_rgb.{jpg,json}`` (the
``_msrgb`` files are ignored, as the fMoW baseline does); root holds the split folders (or is one). One row per
site (``<category>_<loc>`` folder): its frames sorted by the JSON ``timestamp`` (``<n>`` is not in time order),
``max_frames`` of them (recipe key, default 4; evenly spaced over the sorted frames, first and last kept), label =
the category folder (one of the 62 fMoW categories, `change_text.FMOW_CATEGORIES`; another name is an "unknown
class" skip). A site with fewer than 2 frames is a "too few frames" skip; a frame whose JSON is malformed or has
no ISO ``timestamp`` (one without a zone is read as UTC), or whose image is missing, makes the site a counted skip. A recipe ``classes:`` list
replaces the 62 categories (a subset study; other sites are "unknown class" skips). Frames may differ in size; the row's
``width``/``height`` are the oldest frame's.

Target (task ``temporal_classification``): ``{"label", "classes": the 62 categories, "timestamps": [...]}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, read_frames, read_json
from data_engine.change_text import FMOW_CATEGORIES
from data_engine.errors import UserError

SPLITS = ("train", "val")


def _split_dirs(root: Path) -> list[tuple[str | None, Path]]:
    if root.name in SPLITS:
        return [(root.name, root)]
    dirs = [(d.name, d) for d in sorted(root.iterdir()) if d.is_dir() and d.name in SPLITS]
    if not dirs:
        raise UserError(f"{root}: no train/ or val/ folder (fMoW layout)")
    return dirs


def _pick(n: int, k: int) -> list[int]:
    """``k`` indices evenly spaced over ``range(n)``, first and last included (all when n <= k)."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, k)})


def _timestamp(doc, file: Path) -> tuple[str, datetime] | Skip:
    """The frame's ISO ``timestamp`` as written and as an aware datetime (a naive one is read as UTC, so a site
    mixing ``2014-01-15`` with ``…Z`` stamps still sorts), or a Skip."""
    ts = doc.get("timestamp") if isinstance(doc, dict) else None
    try:
        when = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return Skip("malformed JSON", str(file), None, f"timestamp {str(ts)[:60]!r} is not an ISO date")
    return str(ts), when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def iter_fmow(spec: SourceSpec) -> Iterator[dict | Skip]:
    for split, folder in _split_dirs(spec.images if spec.image_root is not None else spec.root):
        if not spec.wants(split):
            continue
        for cat_dir in sorted(d for d in folder.iterdir() if d.is_dir()):
            for site in sorted(d for d in cat_dir.iterdir() if d.is_dir()):
                yield from isolated(site, None, _site, spec, split, cat_dir, site)


def _site(spec: SourceSpec, split: str | None, cat_dir: Path, site: Path) -> Iterator[dict | Skip]:
    max_frames = int(spec.extra.get("max_frames", 4))
    jsons = sorted(site.glob("*_rgb.json"))
    if cat_dir.name not in (spec.classes or FMOW_CATEGORIES):
        yield Skip("unknown class", str(site), None,
                   f"{cat_dir.name!r} is not one of the {'recipe' if spec.classes else 'fMoW'} classes")
        return
    frames = []
    for j in jsons:
        doc = read_json(j)
        ts = doc if isinstance(doc, Skip) else _timestamp(doc, j)
        if isinstance(ts, Skip):
            yield ts
            return
        frames.append((ts[1], ts[0], j.with_suffix(".jpg")))
    if len(frames) < 2:
        yield Skip("too few frames", str(site), None, f"{len(frames)} _rgb.json frame(s); need 2")
        return
    frames.sort(key=lambda f: f[0])
    frames = [frames[i] for i in _pick(len(frames), max_frames)]
    images = [p for _, _, p in frames]
    sizes = read_frames(images, site / f"{site.name}_rgb.json", None)
    if isinstance(sizes, Skip):
        yield sizes
        return
    target = {"label": cat_dir.name, "classes": list(spec.classes or FMOW_CATEGORIES),
              "timestamps": [t for _, t, _ in frames]}
    native = f"{split}/{site.name}" if split else site.name
    yield make_row(spec, native, "temporal_classification", split, images, *sizes[0], target)
