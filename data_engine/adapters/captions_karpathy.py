"""Karpathy-style caption JSON: RSICD, UCM-Captions, Sydney-Captions (captioning).

Layout (as distributed)::

    RSICD/dataset_rsicd.json            RSICD/RSICD_images/<name>.jpg
    UCM_captions/dataset.json           UCM_captions/imgs/<n>.tif
    Sydney_captions/dataset.json        Sydney_captions/imgs/<n>.tif

`annotations:` overrides the JSON (default: the first of ``dataset*.json``, ``annotations_rsicd/dataset*.json``
under root). Image folder = `image_root`, else the first of `RSICD_images/`, `imgs/`, `images/` under root that
exists, else root. File: ``{"images": [{"filename", "imgid", "split", "sentences": [{"raw", "tokens", ...}]}]}``.
Split = the entry's `split`. References = every `raw` string, verbatim and in order (RSICD's repeats kept).

Target: ``{"references": [...]}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, non_utf8_skip, read_json, read_size
from data_engine.errors import UserError


def _annotation_file(spec: SourceSpec) -> Path:
    if spec.annotations:
        return spec.annotation_files()[0]
    for pattern in ("dataset*.json", "annotations_rsicd/dataset*.json"):
        found = sorted(spec.root.glob(pattern))
        if found:
            return found[0]
    raise UserError(f"{spec.root}: no dataset*.json (Karpathy caption layout); set 'annotations:'")


def _image_dir(spec: SourceSpec) -> Path:
    if spec.image_root is not None:
        return spec.image_root
    for name in ("RSICD_images", "imgs", "images"):
        if (spec.root / name).is_dir():
            return spec.root / name
    return spec.root


def iter_captions_karpathy(spec: SourceSpec) -> Iterator[dict | Skip]:
    file = _annotation_file(spec)
    data = read_json(file, records=True)
    if isinstance(data, Skip):
        yield data
        return
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        yield Skip("malformed JSON", str(file), None, 'expected {"images": [...]}')
        return
    image_dir = _image_dir(spec)
    for k, entry in enumerate(data["images"]):
        yield from isolated(file, k, _entry, spec, file, k, entry, image_dir)


def _entry(spec: SourceSpec, file: Path, k: int, entry, image_dir: Path) -> Iterator[dict | Skip]:
    try:
        filename, split = entry["filename"], entry.get("split")
        refs = [s["raw"] for s in entry["sentences"]]
    except (KeyError, TypeError, AttributeError) as e:
        yield Skip("malformed JSON", str(file), k, f"image entry {k}: missing {e}")
        return
    bad_byte = non_utf8_skip(entry, file, k)  # before the split test: a bad byte there is no reason to drop it
    if bad_byte:
        yield bad_byte
        return
    bad = next((f"{n} {v!r}" for n, v, ok in (
        ("filename", filename, isinstance(filename, str) and filename),
        ("split", split, split is None or isinstance(split, str)),
        ("sentence", refs, all(isinstance(r, str) for r in refs))) if not ok), None)
    if bad:
        yield Skip("malformed JSON", str(file), k, f"image entry {k}: bad {bad}")
        return
    if not spec.wants(split):
        return
    if not refs:
        yield Skip("no references", str(file), k, f"{filename}: empty 'sentences'")
        return
    image = image_dir / filename
    size = read_size(image, file, k)
    if isinstance(size, Skip):
        yield size
        return
    native = str(entry.get("imgid", Path(filename).stem))
    yield make_row(spec, native, "caption", split, [image], *size, {"references": refs})
