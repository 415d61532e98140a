"""GeoChat-Bench ``region_captioning.jsonl`` and the scene files ``UCmerced.jsonl`` / ``aid.jsonl``
(docs/benchmarks.md; ``referring.jsonl`` is format ``geochat_referring``).

Layout, format ``geochat_bench_region``::

    <root>/region_captioning.jsonl   {"question_id", "image_id", "question": "{<x1><y1><x2><y2>|<θ>}",
                                      "ground_truth": caption, "type", "dataset", "obj_ids", "size_group"}
    <image_root>/<image_id>.png      (``.png`` appended unless image_id has an extension)

The region is one box on the 0-100 grid (converted to original pixels as ``geochat``); a question with no box, a
value outside 0-100 or an empty extent is a "malformed box" skip. Rows: ``region_caption`` ``{"box",
"references": [ground_truth], "angle", "size_group", "obj_ids"}``.

Layout, format ``geochat_bench_scene``::

    <root>/UCmerced.jsonl | aid.jsonl   {"question_id", "image", "text": "... Classes: a, b, c\\n...", "ground_truth"}
    <image_root>/<image>

Rows: ``classification`` ``{"label", "classes"}``: the label is ``ground_truth`` lower-cased (RSCoVLM; its one stray
value ``MediumResidentialgt`` is read as ``medium residential``), the classes the comma list after "Classes:" up to
the newline. A label that is not among its classes is kept (the metric counts it wrong). Split: none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import Skip, SourceSpec, isolated, json_line, make_row, read_lines, read_size
from data_engine.adapters.geochat import grid_boxes

_CLASSES = re.compile(r"Classes:\s*([^\n]*)")


def _lines(spec: SourceSpec, default: str, convert) -> Iterator[dict | Skip]:
    for file in spec.annotation_files(default):
        for item in read_lines(file):
            if isinstance(item, Skip):
                yield item
                continue
            yield from isolated(file, item[0], convert, spec, file, *item)


def iter_geochat_bench_region(spec: SourceSpec) -> Iterator[dict | Skip]:
    yield from _lines(spec, "region_captioning.jsonl", _region)


def iter_geochat_bench_scene(spec: SourceSpec) -> Iterator[dict | Skip]:
    yield from _lines(spec, "*.jsonl", _scene)


def _record(file: Path, lineno: int, line: str, keys: tuple[str, ...]) -> dict | Skip:
    try:
        rec = json_line(line)
    except ValueError as e:
        return Skip("malformed line", str(file), lineno, str(e)[:200])
    if not isinstance(rec, dict):
        return Skip("malformed line", str(file), lineno, "expected a JSON object")
    bad = next((k for k in keys if not isinstance(rec.get(k), str) or not rec[k].strip()), None)
    if bad:
        return Skip("malformed line", str(file), lineno, f"no {bad!r} string")
    return rec


def _region(spec: SourceSpec, file: Path, lineno: int, line: str) -> Iterator[dict | Skip]:
    rec = _record(file, lineno, line, ("image_id", "question", "ground_truth"))
    if isinstance(rec, Skip):
        yield rec
        return
    name = rec["image_id"] if Path(rec["image_id"]).suffix else f"{rec['image_id']}.png"
    image = spec.images / name
    size = read_size(image, file, lineno)
    if isinstance(size, Skip):
        yield size
        return
    found = grid_boxes(rec["question"], *size)
    if isinstance(found, str) or len(found[0]) != 1:
        yield Skip("malformed box", str(file), lineno, found if isinstance(found, str) else "more than one box")
        return
    target = {"box": found[0][0], "references": [rec["ground_truth"]], "angle": found[1][0],
              "size_group": rec.get("size_group"), "obj_ids": rec.get("obj_ids")}
    native = str(rec.get("question_id", f"{file.stem}:{lineno}"))
    yield make_row(spec, native, "region_caption", None, [image], *size, target)


def _scene(spec: SourceSpec, file: Path, lineno: int, line: str) -> Iterator[dict | Skip]:
    rec = _record(file, lineno, line, ("image", "text", "ground_truth"))
    if isinstance(rec, Skip):
        yield rec
        return
    m = _CLASSES.search(rec["text"])
    classes = [c.strip().lower() for c in m.group(1).split(",") if c.strip()] if m else []
    if not classes:
        yield Skip("malformed line", str(file), lineno, "no 'Classes:' list in text")
        return
    label = rec["ground_truth"].strip().lower()
    label = "medium residential" if label == "mediumresidentialgt" else label
    image = spec.images / rec["image"]
    size = read_size(image, file, lineno)
    if isinstance(size, Skip):
        yield size
        return
    native = str(rec.get("question_id", f"{file.stem}:{lineno}"))
    yield make_row(spec, native, "classification", None, [image], *size, {"label": label, "classes": classes})
