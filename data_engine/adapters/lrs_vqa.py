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

import json
from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import Skip, SourceSpec, make_row, read_json, read_size, read_text, split_from_name


def _boxes(value) -> list[list[float]] | None:
    try:
        boxes = [[float(v) for v in b] for b in value]
    except (TypeError, ValueError):
        return None
    ok = all(len(b) == 4 and b[2] > b[0] and b[3] > b[1] for b in boxes)
    return boxes if ok else None


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
    data = read_json(file)
    if isinstance(data, Skip):
        yield data
        return
    if not isinstance(data, list):
        yield Skip("malformed JSON", str(file), None, "expected a JSON list of LRS-VQA-Zoom records")
        return
    for k, rec in enumerate(data):
        try:
            question, answer, rel = rec["question"], rec["answer"], rec["image"]
            info = rec["bbox_info"]
            evidence = _boxes(info["crop_hbox"])
        except (KeyError, TypeError) as e:
            yield Skip("malformed JSON", str(file), k, f"record {k}: missing {e}")
            continue
        if not evidence:
            yield Skip("degenerate polygon", str(file), k, f"record {k}: bad crop_hbox {info.get('crop_hbox')!r}")
            continue
        image = spec.images / rel
        size = read_size(image, file, k)
        if isinstance(size, Skip):
            yield size
            continue
        target = {"question": question, "answer": answer, "evidence": evidence}
        if info.get("rbox") is not None:
            target["evidence_poly"] = info["rbox"]
        native = str(rec.get("id", f"{file.stem}:{k}"))
        yield make_row(spec, native, "zoom_vqa", split, [image], *size, target)


def _benchmark(spec: SourceSpec, file: Path, split: str | None):
    text = read_text(file)
    if isinstance(text, Skip):
        yield text
        return
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            question, answer, rel = rec["text"], rec["ground_truth"], rec["image"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            yield Skip("malformed line", str(file), lineno, f"{type(e).__name__}: {e}")
            continue
        image = spec.images / rel
        size = read_size(image, file, lineno)
        if isinstance(size, Skip):
            yield size
            continue
        target = {"question": question, "answer": answer, "qtype": rec.get("category")}
        ev = _boxes([rec["hbox"]]) if rec.get("hbox") is not None else None
        if ev:
            target["evidence"] = ev
        native = str(rec.get("question_id", f"{file.stem}:{lineno}"))
        yield make_row(spec, native, "vqa", split, [image], *size, target)
