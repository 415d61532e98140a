"""VRSBench evaluation files: captioning, VQA and referring (docs/benchmarks.md).

Layout (as released)::

    VRSBench/VRSBench_EVAL_Cap.json          (older copies: RSBench_EVAL_Cap.json)
    VRSBench/VRSBench_EVAL_vqa.json
    VRSBench/VRSBench_EVAL_referring.json
    VRSBench/Images_val/<image_id>           (Images_val.zip unpacked; 512x512 PNG patches)

`annotations:` picks the files (default: every ``*EVAL_*.json`` under root); `image_root` overrides the image
folder (default ``Images_val/`` under root when it exists, else root). Each file is a JSON list; the kind of a
record is its ``type``: ``caption`` (``ground_truth`` is the one reference caption), ``ref`` (referring: ``question``
is the referring sentence, ``ground_truth`` ``"{<x1><y1><x2><y2>}"`` on the 0-100 grid of the image), anything else
is a VQA question type (``object existence``, ``scene type``, ...). Common keys: ``image_id`` (file name with
extension), ``question``, ``ground_truth``, ``question_id``, ``dataset``. Split = "val" (the EVAL files are val).

Grid boxes become pixels as ``v * size / 100`` (width for x, height for y), as the benchmark defines them; a box
that is not 4 grid integers, empty, or outside the image is a "malformed record" skip. Referring keeps ``unique``
(the Unique / Non-unique split of Acc@0.5 / Acc@0.7), ``obj_cls``, ``size_group`` and ``obj_ids``.

Targets: caption ``{"references": [gt]}``; vqa ``{"question", "answer", "qtype"}``; grounding ``{"expression",
"box", "grid_box", "unique", "obj_cls", "size_group", "obj_ids"}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import (
    Skip,
    SourceSpec,
    check_box,
    isolated,
    make_row,
    non_utf8_skip,
    outside_image,
    read_json,
    read_size,
)
from data_engine.errors import UserError
from data_engine.numbers import BadNumber, parse_int

_GRID = re.compile(r"<\s*(-?\d{1,6})\s*>")


def _files(spec: SourceSpec) -> list[Path]:
    if spec.annotations:
        return spec.annotation_files()
    found = sorted(p for p in spec.root.glob("*EVAL_*.json") if p.is_file())
    if not found:
        raise UserError(f"{spec.root}: no VRSBench_EVAL_*.json (VRSBench layout); set 'annotations:'")
    return found


def iter_vrsbench(spec: SourceSpec) -> Iterator[dict | Skip]:
    image_dir = spec.image_root or (spec.root / "Images_val" if (spec.root / "Images_val").is_dir() else spec.root)
    if not spec.wants("val"):
        return
    for file in _files(spec):
        data = read_json(file, records=len)
        if isinstance(data, Skip):
            yield data
            continue
        if not isinstance(data, list):
            yield Skip("malformed JSON", str(file), None, "expected a JSON list of records")
            continue
        for k, rec in enumerate(data):
            yield from isolated(file, k, _record, spec, file, k, rec, image_dir)


def grid_box(text) -> list[int] | None:
    """The first 4 grid integers of ``"{<x1><y1><x2><y2>}"``, or None."""
    vals = _GRID.findall(str(text))
    if len(vals) < 4:
        return None
    try:
        return [parse_int(v) for v in vals[:4]]
    except BadNumber:
        return None


def _record(spec: SourceSpec, file: Path, k: int, rec, image_dir: Path) -> Iterator[dict | Skip]:
    if not isinstance(rec, dict):
        yield Skip("malformed record", str(file), k, f"expected an object, got {type(rec).__name__}")
        return
    image_id, gt, kind = rec.get("image_id"), rec.get("ground_truth"), rec.get("type")
    question = rec.get("question")
    bad = next((f"{n} {v!r}"[:120] for n, v in (("image_id", image_id), ("ground_truth", gt), ("type", kind))
                if not isinstance(v, str) or not v.strip()), None)
    if bad is None and kind != "caption" and (not isinstance(question, str) or not question.strip()):
        bad = f"question {question!r}"[:120]
    if bad:
        yield Skip("malformed record", str(file), k, f"bad {bad}")
        return
    bad_byte = non_utf8_skip(rec, file, k)
    if bad_byte:
        yield bad_byte
        return
    image = image_dir / image_id
    size = read_size(image, file, k)
    if isinstance(size, Skip):
        yield size
        return
    w, h = size
    native = str(rec.get("question_id", f"{file.stem}:{k}"))
    if kind == "caption":
        yield make_row(spec, native, "caption", "val", [image], w, h, {"references": [gt]})
        return
    if kind != "ref":
        yield make_row(spec, native, "vqa", "val", [image], w, h,
                       {"question": question, "answer": gt, "qtype": kind})
        return
    grid = grid_box(gt)
    box = check_box([grid[0] * w / 100, grid[1] * h / 100, grid[2] * w / 100, grid[3] * h / 100]) if grid else \
        f"ground_truth {gt[:60]!r} is not 4 grid integers"
    problem = box if isinstance(box, str) else outside_image(box, w, h)
    if problem:
        yield Skip("malformed record", str(file), k, problem)
        return
    unique = rec.get("unique", rec.get("is_unique"))
    target = {"expression": question, "box": box, "grid_box": grid,
              "unique": unique if isinstance(unique, bool) else None,
              "obj_cls": rec.get("obj_cls"), "size_group": rec.get("size_group"), "obj_ids": rec.get("obj_ids")}
    yield make_row(spec, native, "grounding", "val", [image], w, h, target)
