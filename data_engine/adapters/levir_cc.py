"""LEVIR-CC change captioning (docs/multi-image.md §3).

Layout (as distributed)::

    LevirCCcaptions.json
    images/{train,val,test}/A/<split>_<6 digits>.png     before
    images/{train,val,test}/B/<same name>                after

`annotations:` overrides the JSON (default ``LevirCCcaptions.json`` under root); `image_root` overrides
``<root>/images``. File: ``{"images": [{"filename", "split", "filepath"?, "changeflag"?, "sentences": [{"raw",
"tokens"}]}]}``; images are ``images/<split>/{A,B}/<filename>`` (``filepath`` is used when ``split`` is absent).
References = every ``raw`` (``tokens`` joined by spaces when ``raw`` is missing), verbatim, in order.
``changed`` = ``changeflag`` (0/1) where present (third-party converters write it), else whether no reference is a
"no change" sentence (`data_engine.change_text.is_no_change_caption`). A pair missing either image is a counted
"missing image" skip.

Target (task ``change_caption``, images ``[A, B]``): ``{"references": [...], "changed": bool}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, read_frames, read_json
from data_engine.change_text import is_no_change_caption


def _references(entry: dict) -> list[str]:
    refs = []
    for s in entry["sentences"]:
        raw = s.get("raw") if isinstance(s, dict) else None
        if not isinstance(raw, str) or not raw.strip():
            tokens = s.get("tokens") if isinstance(s, dict) else None
            raw = " ".join(str(t) for t in tokens) if isinstance(tokens, list) else ""
        if raw.strip():
            refs.append(raw)
    return refs


def iter_levir_cc(spec: SourceSpec) -> Iterator[dict | Skip]:
    file = spec.annotation_files()[0] if spec.annotations else spec.root / "LevirCCcaptions.json"
    if not file.is_file():
        yield Skip("missing annotations", str(file), None, "LEVIR-CC needs LevirCCcaptions.json (or 'annotations:')")
        return
    data = read_json(file)
    if isinstance(data, Skip):
        yield data
        return
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        yield Skip("malformed JSON", str(file), None, 'expected {"images": [...]}')
        return
    image_dir = spec.image_root if spec.image_root is not None else spec.root / "images"
    for k, entry in enumerate(data["images"]):
        yield from isolated(file, k, _entry, spec, file, k, entry, image_dir)


def _entry(spec: SourceSpec, file: Path, k: int, entry, image_dir: Path) -> Iterator[dict | Skip]:
    try:
        filename = str(entry["filename"])
        split = entry.get("split") or entry.get("filepath")
        refs = _references(entry)
    except (KeyError, TypeError, AttributeError) as e:
        yield Skip("malformed JSON", str(file), k, f"image entry {k}: missing or bad {e}")
        return
    if not spec.wants(split):
        return
    if not refs:
        yield Skip("no references", str(file), k, f"{filename}: no sentence with text")
        return
    flag = entry.get("changeflag")
    if flag is not None and flag not in (0, 1, "0", "1", True, False):
        yield Skip("malformed JSON", str(file), k, f"{filename}: changeflag {flag!r} is not 0 or 1")
        return
    changed = flag in (1, "1", True) if flag is not None else not any(is_no_change_caption(r) for r in refs)
    images = [image_dir / str(split) / sub / filename for sub in ("A", "B")]
    sizes = read_frames(images, file, k)
    if isinstance(sizes, Skip):
        yield sizes
        return
    native = f"{split}/{Path(filename).stem}"
    yield make_row(spec, native, "change_caption", split, images, *sizes[0],
                   {"references": refs, "changed": changed})
