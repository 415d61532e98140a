"""NWPU-Captions (captioning, docs/benchmarks.md).

Layout (as released)::

    NWPU-Captions/dataset_nwpu.json
    NWPU-Captions/NWPU_images/<category>/<category>_<nnn>.jpg      (NWPU_images.tar.gz unpacked)

The JSON is an object keyed by category (not Karpathy's ``images`` list); each value is a list of entries with
``filename``, ``split`` (train | val | test), the five captions ``raw``, ``raw_1`` … ``raw_4`` and further ids
(``imgid``, ``sentids``, token lists: ignored). The image is ``<image folder>/<category>/<filename>``; the image
folder is `image_root`, else ``NWPU_images/`` under root when it exists, else root. `annotations:` overrides the
JSON (default ``dataset_nwpu.json``).

References: ``raw``, ``raw_1``, ``raw_2``, … in that numeric order (never dict order), each ``.strip()``-ed as
RSCoVLM does; an entry without any ``raw*`` string is a "no references" skip. Split = the entry's ``split``.

Target: ``{"references": [...], "category"}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, non_utf8_skip, read_json, read_size
from data_engine.errors import UserError
from data_engine.numbers import parse_int

_RAW_KEY = re.compile(r"^raw(?:_(\d{1,3}))?$")


def _count(doc) -> int:
    return sum(len(v) for v in doc.values() if isinstance(v, list))


def iter_nwpu_captions(spec: SourceSpec) -> Iterator[dict | Skip]:
    file = spec.annotation_files()[0] if spec.annotations else spec.root / "dataset_nwpu.json"
    if not file.is_file():
        raise UserError(f"{spec.root}: no dataset_nwpu.json (NWPU-Captions layout); set 'annotations:'")
    image_dir = spec.image_root or (spec.root / "NWPU_images" if (spec.root / "NWPU_images").is_dir() else spec.root)
    data = read_json(file, records=_count)
    if isinstance(data, Skip):
        yield data
        return
    if not isinstance(data, dict):
        yield Skip("malformed JSON", str(file), None, "expected an object keyed by category")
        return
    k = 0
    for category, entries in data.items():
        if not isinstance(entries, list):
            yield Skip("malformed JSON", str(file), None, f"category {str(category)[:60]!r}: not a list of entries")
            continue
        for entry in entries:
            yield from isolated(file, k, _entry, spec, file, k, category, entry, image_dir)
            k += 1


def _references(entry: dict) -> list[str]:
    keyed = []
    for key, value in entry.items():
        m = _RAW_KEY.match(str(key))
        if m and isinstance(value, str) and value.strip():
            keyed.append((parse_int(m.group(1) or "0"), value.strip()))
    return [v for _, v in sorted(keyed)]


def _entry(spec: SourceSpec, file: Path, k: int, category, entry, image_dir: Path) -> Iterator[dict | Skip]:
    if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str) or not entry["filename"]:
        yield Skip("malformed JSON", str(file), k, f"category {str(category)[:60]!r} entry: no 'filename' string")
        return
    split = entry.get("split")
    if split is not None and not isinstance(split, str):
        yield Skip("malformed JSON", str(file), k, f"{entry['filename']}: bad split {split!r}")
        return
    bad_byte = non_utf8_skip(entry, file, k)
    if bad_byte:
        yield bad_byte
        return
    if not spec.wants(split):
        return
    refs = _references(entry)
    if not refs:
        yield Skip("no references", str(file), k, f"{entry['filename']}: no non-empty raw* caption")
        return
    image = image_dir / str(category) / entry["filename"]
    size = read_size(image, file, k)
    if isinstance(size, Skip):
        yield size
        return
    native = f"{category}/{Path(entry['filename']).stem}"
    yield make_row(spec, native, "caption", split, [image], *size, {"references": refs, "category": str(category)})
