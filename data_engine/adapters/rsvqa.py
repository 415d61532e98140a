"""RSVQA-LR / RSVQA-HR JSON triplets (VQA).

Layout (as distributed)::

    RSVQA_LR/Images_LR/<id>.tif
    RSVQA_LR/LR_split_{train,val,test}_{images,questions,answers}.json
    RSVQA_HR/Data/<id>.tif
    RSVQA_HR/USGS_split_{train,val,test,test_phili}_{images,questions,answers}.json

Each file is ``{"images"|"questions"|"answers": [...]}``, a positional list whose entries carry `id`. Every split
file lists all image ids; other splits' images are ``{"id": k, "active": false}``. Reading follows the loaders:
active images -> `questions_ids` -> each question's `answers_ids[0]` -> `answer`. `active` is honoured at every
level (an inactive image or a referenced-but-inactive question is not a sample; the latter is reported, since
loaders that ignore the flag would read it). Image = ``<image folder>/<id>.tif`` where the folder is `image_root`,
else the first of `Images_LR/`, `Data/`, `dataUSGS/` under root that exists, else root. Split = the file-name part
(`test_phili` is its own split). Question and answer verbatim; `qtype` = the question's `type`.

Target: ``{"question", "answer", "qtype"}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, non_utf8_skip, read_json, read_size
from data_engine.errors import UserError
from data_engine.images import find_image

_NAME = re.compile(r"^(?P<prefix>.+)_split_(?P<split>.+)_images\.json$")


def _image_dir(spec: SourceSpec) -> Path:
    if spec.image_root is not None:
        return spec.image_root
    for name in ("Images_LR", "Data", "dataUSGS"):
        if (spec.root / name).is_dir():
            return spec.root / name
    return spec.root


def _by_id(entries, key: str, file: Path) -> dict | Skip:
    if not isinstance(entries, dict) or not isinstance(entries.get(key), list):
        return Skip("malformed JSON", str(file), None, f"expected an object with a {key!r} list")
    # Ids are compared as text: a number where the other files hold a string still matches, and an unhashable id
    # (a list) cannot crash the lookup. Entries without a usable id are counted by `_split` when referenced.
    return {str(e["id"]): e for e in entries[key] if isinstance(e, dict) and isinstance(e.get("id"), (str, int))}


def iter_rsvqa(spec: SourceSpec) -> Iterator[dict | Skip]:
    triplets = sorted(p for p in spec.root.glob("*_split_*_images.json"))
    if not triplets:
        raise UserError(f"{spec.root}: no *_split_<split>_images.json files (RSVQA layout)")
    image_dir = _image_dir(spec)
    for images_file in triplets:
        m = _NAME.match(images_file.name)
        split = m.group("split")
        if not spec.wants(split):
            continue
        prefix = f"{m.group('prefix')}_split_{split}"
        files = {k: spec.root / f"{prefix}_{k}.json" for k in ("images", "questions", "answers")}
        tables = {}
        for key, f in files.items():
            data = (read_json(f, records=True) if f.is_file()
                    else Skip("missing annotation", str(f), None, "file does not exist"))
            table = data if isinstance(data, Skip) else _by_id(data, key, f)
            if isinstance(table, Skip):
                yield table
                break
            tables[key] = table
        else:
            yield from _split(spec, split, tables, files, image_dir)


def _split(spec, split, tables, files, image_dir):
    for img_id, img in tables["images"].items():
        yield from isolated(files["images"], None, _image, spec, split, tables, files, image_dir, img_id, img)


def _image(spec, split, tables, files, image_dir, img_id, img):
    qfile = files["questions"]
    if not img.get("active", False):
        return
    bad = non_utf8_skip(img, files["images"], None)
    if bad:  # its questions are the records lost
        qids = img.get("questions_ids")
        bad.records = max(1, len(qids)) if isinstance(qids, list) else 1
        yield bad
        return
    image = find_image(image_dir, str(img_id), (".tif", ".tiff", ".png", ".jpg"))
    if image is None:
        yield Skip("missing image", str(files["images"]), None, f"image id {img_id}: no {img_id}.tif in {image_dir}")
        return
    size = read_size(image, files["images"])
    if isinstance(size, Skip):
        yield size
        return
    qids = img.get("questions_ids", [])
    if not isinstance(qids, list):
        yield Skip("malformed JSON", str(files["images"]), None, f"image {img_id}: questions_ids {qids!r}")
        return
    for qid in qids:
        q = tables["questions"].get(str(qid)) if isinstance(qid, (str, int)) else None
        if q is None:
            yield Skip("missing question", str(qfile), None, f"image {img_id} references question id {qid!r}")
            continue
        if not q.get("active", True):
            yield Skip("inactive question", str(qfile), None, f"question id {qid} of active image {img_id}")
            continue
        ans_ids = q.get("answers_ids") or []
        first = ans_ids[0] if isinstance(ans_ids, list) and ans_ids else None
        a = tables["answers"].get(str(first)) if isinstance(first, (str, int)) else None
        if a is None or "answer" not in a or "question" not in q:
            yield Skip("missing answer", str(files["answers"]), None, f"question id {qid}: answers_ids {ans_ids!r}")
            continue
        bad = non_utf8_skip(q, qfile, None) or non_utf8_skip(a, files["answers"], None)
        if bad:
            yield bad
            continue
        if not isinstance(q["question"], str) or not isinstance(a["answer"], str):
            yield Skip("malformed JSON", str(qfile), None, f"question id {qid}: question and answer must be text, "
                       f"got {q['question']!r} / {a['answer']!r}")
            continue
        target = {"question": q["question"], "answer": a["answer"], "qtype": q.get("type")}
        yield make_row(spec, f"{split}/{qid}", "vqa", split, [image], *size, target)
