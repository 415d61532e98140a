"""MME-RealWorld, remote-sensing subset (multiple choice; docs/benchmarks.md).

Layout (as released)::

    MME-RealWorld/MME_RealWorld.json           (or a pre-filtered MME_RealWorld_RS.json /
    MME-RealWorld/remote_sensing/<name>.png     MME_RealWorld_remote_sensing.json)

`annotations:` picks the JSON (default: the first of ``MME_RealWorld.json``, ``MME_RealWorld_RS.json``,
``MME_RealWorld_remote_sensing.json`` under root); image paths are relative to `image_root`, else the JSON's folder.
The file is a JSON list of records ``{Question_id, Image, Text, Question Type, Answer choices ["(A) ...", ...],
Ground truth (a letter), Task, Subtask, Category}``. Only ``Subtask == "Remote Sensing"`` records are read; the other
subsets are filtered out, not skips (their number is not a data problem). Split: none.

Target (task vqa): ``{"question", "choices", "answer" (the letter), "qtype" (Category), "task" (Perception |
Reasoning)}``; scored with the suite's ``answer_rule: mme_realworld`` (the official extraction).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, non_utf8_skip, read_json, read_size
from data_engine.errors import UserError

SUBTASK = "Remote Sensing"
_DEFAULTS = ("MME_RealWorld.json", "MME_RealWorld_RS.json", "MME_RealWorld_remote_sensing.json")


def iter_mme_realworld(spec: SourceSpec) -> Iterator[dict | Skip]:
    if spec.annotations:
        file = spec.annotation_files()[0]
    else:
        file = next((spec.root / n for n in _DEFAULTS if (spec.root / n).is_file()), None)
        if file is None:
            raise UserError(f"{spec.root}: none of {', '.join(_DEFAULTS)} (MME-RealWorld layout); set 'annotations:'")
    data = read_json(file, records=len)
    if isinstance(data, Skip):
        yield data
        return
    if not isinstance(data, list):
        yield Skip("malformed JSON", str(file), None, "expected a JSON list of records")
        return
    image_dir = spec.image_root or file.parent
    for k, rec in enumerate(data):
        if isinstance(rec, dict) and rec.get("Subtask") not in (SUBTASK, None):
            continue  # another subset of the benchmark: filtered, not a skip
        yield from isolated(file, k, _record, spec, file, k, rec, image_dir)


def _record(spec: SourceSpec, file: Path, k: int, rec, image_dir: Path) -> Iterator[dict | Skip]:
    if not isinstance(rec, dict):
        yield Skip("malformed record", str(file), k, f"expected an object, got {type(rec).__name__}")
        return
    if rec.get("Subtask") is None:
        yield Skip("malformed record", str(file), k, "no 'Subtask' (cannot tell the remote-sensing subset)")
        return
    fields = {n: rec.get(n) for n in ("Question_id", "Image", "Text", "Ground truth", "Category")}
    choices = rec.get("Answer choices")
    bad = next((f"{n} {v!r}"[:120] for n, v in fields.items() if not isinstance(v, str) or not v.strip()), None)
    if bad is None and (not isinstance(choices, list) or not 2 <= len(choices) <= 5
                        or not all(isinstance(c, str) for c in choices)):
        bad = f"Answer choices {choices!r}"[:120]
    if bad is None and fields["Ground truth"].strip().upper() not in tuple("ABCDE"[: len(choices)]):
        bad = f"Ground truth {fields['Ground truth']!r} is not one of the choice letters"
    if bad:
        yield Skip("malformed record", str(file), k, f"bad {bad}")
        return
    bad_byte = non_utf8_skip(rec, file, k)
    if bad_byte:
        yield bad_byte
        return
    image = image_dir / fields["Image"]
    size = read_size(image, file, k)
    if isinstance(size, Skip):
        yield size
        return
    target = {"question": fields["Text"], "choices": choices, "answer": fields["Ground truth"].strip().upper(),
              "qtype": fields["Category"], "task": rec.get("Task")}
    yield make_row(spec, fields["Question_id"], "vqa", None, [image], *size, target)
