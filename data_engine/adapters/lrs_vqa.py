"""LRS-VQA: the LRS-VQA-Zoom training records (zoom_vqa) and the LRS-VQA benchmark JSONL (vqa).

Layout (as distributed)::

    LRS_VQA/annotations/train/<name>_with_boxx_info_<n>k_imgpath-processed.json   (Zoom records, a JSON list)
    LRS_VQA/images/train/<dataset path>/<image_id>.png                             (their image root)
    LRS_VQA/LRS_VQA_merged.jsonl                                                    (benchmark, one per line)
    LRS_VQA/image/<image_id>.<ext>                                                  (paths start LRS_VQA/image/)

Set `annotations:` to the file(s) and `image_root:` to the folder the records' `image` values are relative to:
``LRS_VQA/images/train`` for Zoom records, the PARENT of ``LRS_VQA`` for the benchmark. The kind is decided per
file: a ``.jsonl`` is the benchmark, a ``.json`` list holds Zoom records.

- Zoom record ``{id, image, image_ori_width, image_ori_height, question, answer, bbox_info: {crop_hbox, rbox}}``:
  question (suffix included) and answer verbatim; `evidence` = `crop_hbox` as floats (several boxes = a
  count/compare record); `rbox` kept as `evidence_poly`.
- Benchmark line ``{question_id, image, category, text, ground_truth, [hbox, rbox, ...]}``: `text` -> question,
  `ground_truth` -> answer, `category` -> qtype, verbatim; a 4-number `hbox` becomes ``evidence: [hbox]``.

Split = a train/val/test token of the annotation FILE name (`zoom_val.json` -> val), else null: the released files
have none (their `train` folder is not a split). Targets: zoom_vqa ``{"question", "answer", "evidence",
["evidence_poly"]}``; vqa ``{"question", "answer", "qtype", ["evidence"]}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import (
    Skip,
    SourceSpec,
    check_box,
    isolated,
    json_line,
    make_row,
    non_utf8_skip,
    outside_image,
    read_json,
    read_lines,
    read_size,
    split_from_name,
)


def _boxes(value) -> list[list[float]] | str:
    """Finite, non-empty [x1, y1, x2, y2] boxes, or the reason the first unusable one is unusable."""
    try:
        boxes = [check_box(b) for b in value]
    except TypeError:
        return f"not a list of boxes: {value!r:.80}"
    if not boxes:
        return "no box"
    return next((b for b in boxes if isinstance(b, str)), boxes)


def _box_skip(problem: str, file: Path, line: int, where: str) -> Skip:
    reason = "degenerate polygon" if problem.startswith("degenerate") else "malformed JSON"
    return Skip(reason, str(file), line, f"{where}: {problem}")


def _bad_fields(question, answer, rel) -> str | None:
    if not isinstance(question, str) or not isinstance(answer, (str, int, float)) or isinstance(answer, bool):
        return f"question and answer must be text, got {question!r} / {answer!r}"
    if not isinstance(rel, str) or not rel:
        return f"image must be a relative path, got {rel!r}"
    return None


def iter_lrs_vqa(spec: SourceSpec) -> Iterator[dict | Skip]:
    for file in spec.annotation_files():
        split = split_from_name(file.name)
        if not spec.wants(split):
            continue
        if file.suffix == ".jsonl":
            yield from _benchmark(spec, file, split)
        else:
            yield from _zoom(spec, file, split)


def _zoom(spec: SourceSpec, file: Path, split: str | None):
    data = read_json(file, records=True)
    if isinstance(data, Skip):
        yield data
        return
    if not isinstance(data, list):
        yield Skip("malformed JSON", str(file), None, "expected a JSON list of LRS-VQA-Zoom records")
        return
    for k, rec in enumerate(data):
        yield from isolated(file, k, _zoom_record, spec, file, split, k, rec)


def _zoom_record(spec: SourceSpec, file: Path, split: str | None, k: int, rec) -> Iterator[dict | Skip]:
    try:
        question, answer, rel = rec["question"], rec["answer"], rec["image"]
        info = rec["bbox_info"]
        evidence = _boxes(info["crop_hbox"])
    except (KeyError, TypeError) as e:
        yield Skip("malformed JSON", str(file), k, f"record {k}: missing {e}")
        return
    bad = _bad_fields(question, answer, rel)
    if bad:
        yield Skip("malformed JSON", str(file), k, f"record {k}: {bad}")
        return
    bad_byte = non_utf8_skip(rec, file, k)
    if bad_byte:
        yield bad_byte
        return
    if isinstance(evidence, str):
        yield _box_skip(evidence, file, k, f"record {k}: crop_hbox")
        return
    image = spec.images / rel
    size = read_size(image, file, k)
    if isinstance(size, Skip):
        yield size
        return
    out = next((o for b in evidence if (o := outside_image(b, *size))), None)
    if out:
        yield Skip("outside image", str(file), k, f"record {k}: evidence {out}")
        return
    target = {"question": question, "answer": answer, "evidence": evidence}
    if info.get("rbox") is not None:
        target["evidence_poly"] = info["rbox"]
    native = str(rec.get("id", f"{file.stem}:{k}"))
    yield make_row(spec, native, "zoom_vqa", split, [image], *size, target)


def _benchmark(spec: SourceSpec, file: Path, split: str | None):
    for item in read_lines(file):
        if isinstance(item, Skip):
            yield item
            continue
        yield from isolated(file, item[0], _benchmark_line, spec, file, split, *item)


def _benchmark_line(spec: SourceSpec, file: Path, split: str | None, lineno: int, line: str) -> Iterator[dict | Skip]:
    try:
        rec = json_line(line)
        question, answer, rel = rec["text"], rec["ground_truth"], rec["image"]
    except (ValueError, KeyError, TypeError) as e:
        yield Skip("malformed line", str(file), lineno, f"{type(e).__name__}: {e}")
        return
    bad = _bad_fields(question, answer, rel)
    if bad:
        yield Skip("malformed line", str(file), lineno, bad)
        return
    image = spec.images / rel
    size = read_size(image, file, lineno)
    if isinstance(size, Skip):
        yield size
        return
    target = {"question": question, "answer": answer, "qtype": rec.get("category")}
    if rec.get("hbox") is not None:
        ev = _boxes([rec["hbox"]])
        problem = ev if isinstance(ev, str) else outside_image(ev[0], *size)
        if problem:
            yield Skip("malformed line", str(file), lineno, f"hbox {rec['hbox']!r}: {problem}")
            return
        target["evidence"] = ev
    native = str(rec.get("question_id", f"{file.stem}:{lineno}"))
    yield make_row(spec, native, "vqa", split, [image], *size, target)
