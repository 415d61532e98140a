"""RRSIS-D (RMSIN's refer layout): refs file + COCO-style instances + images, one row per referring sentence.

Layout (docs/dataset-layouts.md §6)::

    <root>/refs(unc).p            the refs: a Python pickle (set `annotations:` for another name; ``.json`` is read
                                  as JSON with the same content)
    <root>/instances.json         COCO: images [{id, file_name, height, width}], annotations [{id, image_id,
                                  category_id, bbox [x, y, w, h], segmentation}], categories
    <image_root>/<file_name>      default image_root = root; RMSIN's is ../images/rrsisd/JPEGImages

A ref is ``{ref_id, ann_id, image_id, category_id, split, sentences: [{raw, sent, sent_id, ...}]}``; every sentence
becomes a ``referring_segmentation`` row ``{"expression": raw (else sent), "mask", "box"}`` with id
``<ref_id>/<sent_id>`` and the ref's split. ``segmentation`` is a polygon list, a COCO RLE (compressed or not) or a
list of RLEs (``[{"size": [h, w], "counts": "..."}]``, as RMSIN's loader takes it); all occur, and each is
rasterised / decoded by pycocotools at the image's size (compressed counts checked by `masks.rle_problem` first).

The pickle is downloaded data, so it is never given to plain ``pickle.load``: `load_refs_pickle` accepts only
builtin containers and scalars (dict, list, tuple, set, str, bytes, numbers, bool, None) and refuses any other
global, which is how a pickle runs code, and a refs list that declares more sentences than its file's bytes can hold
(memo references reused; `expansion_problem`) is refused before any row is made. Counted skips: unreadable, unsafe
or over-expanding refs file (the whole file), malformed refs, missing annotation / image record / image file, bad segmentation, mask size different from the image, empty
mask, sentence without text.
"""

from __future__ import annotations

import codecs
import io
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, read_json, read_size
from data_engine.masks import encode_mask, mask_area, rle_problem
from data_engine.numbers import parse_int, parse_numbers

# The only globals a pickle of builtin containers and scalars names: the set types (protocols < 4) and
# `_codecs.encode`, which protocols < 3 use to rebuild a `bytes` value from text (a pure function).
SAFE_GLOBALS = {("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("__builtin__", "set"): set,
                ("__builtin__", "frozenset"): frozenset, ("_codecs", "encode"): codecs.encode}


# A real sentence is a dict with raw, sent, tokens and sent_id, each its own text: far more than 16 bytes pickled.
MIN_BYTES_PER_SENTENCE = 16


class _BuiltinsOnly(pickle.Unpickler):
    """An unpickler that resolves no global but `SAFE_GLOBALS` (containers and scalars need no other)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        raise pickle.UnpicklingError(f"refusing global {module}.{name}: only builtin containers and scalars")


def load_refs_pickle(data: bytes) -> Any:
    """Unpickle ``data`` allowing builtin containers and scalars only (Python 2 ``str`` read as UTF-8).

    Raises:
        pickle.UnpicklingError: the pickle names any other global (a class, a function such as ``os.system``).
        Other exceptions of a corrupt pickle (EOFError, ValueError, ...).
    """
    return _BuiltinsOnly(io.BytesIO(data), encoding="utf-8").load()


def _read_refs(path: Path) -> list | Skip:
    if path.suffix == ".json":
        refs = read_json(path)
    else:
        try:
            refs = load_refs_pickle(path.read_bytes())
        except pickle.UnpicklingError as e:
            return Skip("unsafe or malformed pickle", str(path), None, str(e))
        except Exception as e:  # noqa: BLE001 - any corrupt pickle is a counted skip of the file, never a crash
            return Skip("unsafe or malformed pickle", str(path), None, f"{type(e).__name__}: {e}")
    if isinstance(refs, Skip):
        return refs
    if not isinstance(refs, list):
        return Skip("malformed refs", str(path), None, f"expected a list of refs, got {type(refs).__name__}")
    problem = expansion_problem(refs, path.stat().st_size)
    if problem:
        return Skip("refs expand past the limit", str(path), None, problem)
    return refs


def expansion_problem(refs: list, nbytes: int) -> str | None:
    """Why a refs list is refused as bigger than its file can honestly hold, or None.

    A pickle can refer to one object many times (memo references cost 2-5 bytes), so 44 kB can declare 40 M
    sentences that the build would then expand into rows for minutes. Every sentence of a real refs file is its own
    dict with its own text, so it costs at least `MIN_BYTES_PER_SENTENCE` bytes of the file, and its texts together
    are no longer than the file. Beyond either bound the file is refused (one counted skip) before any row is made.
    The outer lists are walked only: their length is bounded by the file's size.
    """
    allowed = max(1000, nbytes // MIN_BYTES_PER_SENTENCE)
    total = 0
    for ref in refs:
        sentences = ref.get("sentences") if isinstance(ref, dict) else None
        total += max(1, len(sentences)) if isinstance(sentences, list) else 1
        if total > allowed:
            return (f"the refs declare more than {allowed:,} sentences in a {nbytes:,}-byte file (objects reused "
                    f"by reference); at most one per {MIN_BYTES_PER_SENTENCE} bytes is read")
    text = 0
    for ref in refs:
        for s in ref.get("sentences") or [] if isinstance(ref, dict) else []:
            t = (s.get("raw") or s.get("sent")) if isinstance(s, dict) else None
            text += len(t) if isinstance(t, str) else 0
        if text > 2 * nbytes + 100_000:
            return f"the refs' sentences hold more than {text:,} characters in a {nbytes:,}-byte file (text reused)"
    return None


def _mask(seg: Any, h: int, w: int) -> dict | str:
    """COCO RLE (our JSON form) of a segmentation at (h, w), or the reason it is unusable.

    Three forms occur (docs/dataset-layouts.md §6): a polygon list ``[[x1, y1, ...], ...]``, one RLE
    ``{"size": [h, w], "counts": ...}`` (compressed text or uncompressed run list) and a list of such RLEs (RMSIN's
    loader takes ``[{"size", "counts": "..."}]``; several are merged).
    """
    try:
        if isinstance(seg, list) and seg and all(isinstance(p, dict) for p in seg):
            rles = [_rle(p, h, w) for p in seg]
            bad = next((r for r in rles if isinstance(r, str)), None)
            if bad:
                return bad
            m = mask_utils.decode(mask_utils.merge(rles) if len(rles) > 1 else rles[0])
        elif isinstance(seg, list):
            polys = [parse_numbers(p) for p in seg]
            if not polys or any(len(p) < 6 or len(p) % 2 for p in polys):
                return f"polygon with fewer than 3 points or an odd coordinate count: {str(seg)[:80]}"
            m = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w)))
        elif isinstance(seg, dict):
            rle = _rle(seg, h, w)
            if isinstance(rle, str):
                return rle
            m = mask_utils.decode(rle)
        else:
            return f"segmentation must be polygons or RLE, got {type(seg).__name__}"
    except (KeyError, TypeError, ValueError, UnicodeError) as e:
        return f"{type(e).__name__}: {e}"
    return encode_mask(np.asarray(m) > 0)


def _rle(seg: dict, h: int, w: int) -> dict | str:
    """One COCO RLE as pycocotools takes it (compressed counts as bytes), or why it is unusable. Its size must be
    the image's; uncompressed run lists are checked not to run past h x w before pycocotools reads them."""
    size = [parse_int(v) for v in seg["size"]]
    if size != [h, w]:
        return f"mask size {size[1]}x{size[0]} differs from the image {w}x{h}"
    counts = seg["counts"]
    if isinstance(counts, list):
        runs = [parse_int(v) for v in counts]
        if any(r < 0 for r in runs) or sum(runs) != h * w:
            return f"uncompressed RLE runs must be >= 0 and add up to {h}x{w}"
        return mask_utils.frPyObjects({"size": size, "counts": runs}, h, w)
    if not isinstance(counts, str | bytes):
        return f"RLE counts must be text or a list, got {type(counts).__name__}"
    text = counts if isinstance(counts, str) else counts.decode("ascii")
    problem = rle_problem(text, h, w)
    if problem:
        return f"RLE: {problem}"
    return {"size": size, "counts": text.encode("ascii")}


def iter_rrsisd(spec: SourceSpec) -> Iterator[dict | Skip]:
    for refs_file in spec.annotation_files("refs(unc).p"):
        inst_file = refs_file.parent / "instances.json"
        inst = read_json(inst_file)
        if isinstance(inst, Skip):
            yield inst
            continue
        refs = _read_refs(refs_file)
        if isinstance(refs, Skip):
            yield refs
            continue
        try:
            images = {im["id"]: im for im in inst["images"]}
            anns = {a["id"]: a for a in inst["annotations"]}
        except (KeyError, TypeError) as e:
            yield Skip("malformed JSON", str(inst_file), None, f"COCO images/annotations: {type(e).__name__}: {e}")
            continue
        for k, ref in enumerate(refs):
            yield from isolated(refs_file, k, _ref, spec, refs_file, k, ref, images, anns)


def _ref(spec: SourceSpec, file: Path, k: int, ref: Any, images: dict, anns: dict) -> Iterator[dict | Skip]:
    try:
        split, ref_id, sentences = ref["split"], ref["ref_id"], list(ref["sentences"])
        ann, image_id = anns.get(ref["ann_id"]), ref["image_id"]
    except (KeyError, TypeError) as e:
        yield Skip("malformed refs", str(file), k, f"ref {k}: {type(e).__name__}: {e}")
        return
    if not spec.wants(str(split)):
        return
    n = max(1, len(sentences))  # every sentence of a ref that cannot be used is a skip of its own
    if ann is None:
        yield from (Skip("missing annotation", str(file), k, f"ref {ref_id}: ann_id {ref['ann_id']}") for _ in range(n))
        return
    im = images.get(image_id)
    if im is None:
        yield from (Skip("missing image", str(file), k, f"ref {ref_id}: image_id {image_id} not in instances.json")
                    for _ in range(n))
        return
    path = spec.images / str(im.get("file_name", ""))
    size = read_size(path, file, k)
    if isinstance(size, Skip):
        yield from (size for _ in range(n))
        return
    w, h = size
    mask = _mask(ann.get("segmentation"), h, w)
    if isinstance(mask, str):
        reason = "mask size differs" if "differs" in mask else "bad segmentation"
        yield from (Skip(reason, str(file), k, f"ref {ref_id}: {mask}") for _ in range(n))
        return
    if mask_area(mask) == 0:
        yield from (Skip("empty mask", str(file), k, f"ref {ref_id}") for _ in range(n))
        return
    try:
        x, y, bw, bh = parse_numbers(ann["bbox"])
        box = [x, y, x + bw, y + bh]
    except (KeyError, TypeError, ValueError):
        box = None
    for j, s in enumerate(sentences):
        text = (s.get("raw") or s.get("sent")) if isinstance(s, dict) else None
        if not isinstance(text, str) or not text.strip():
            yield Skip("malformed refs", str(file), k, f"ref {ref_id}: sentence without text: {str(s)[:80]}")
            continue
        target = {"expression": text.strip(), "mask": mask, **({"box": box} if box else {})}
        yield make_row(spec, f"{ref_id}/{s.get('sent_id', j)}", "referring_segmentation", str(split),
                       [path], w, h, target)
