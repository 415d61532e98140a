"""GeoChat-Instruct conversations and GeoChat-Bench ``referring.jsonl`` (docs/dataset-layouts.md §1 and §2).

Layouts. Format ``geochat`` (GeoChat-Instruct, LLaVA-style)::

    <root>/<annotations>.json    [{"id", "image": "<rel path>", "conversations": [{"from": "human"|"gpt", "value"}]}]
    <image_root>/<image>         (GeoChat's --image_folder, e.g. final_images_llava; default root)

Boxes are written ``{<x1><y1><x2><y2>|<θ>}``: four integers on a 0-100 grid (percent of the image width and height,
top-left then bottom-right) and an angle θ in degrees (optional, may be negative); several boxes follow each other
back to back (``}{``). They are converted to ORIGINAL pixels on read (``x * width / 100``). Each human turn tagged
``[refer]`` (``[refer] give me the location of <p>phrase</p>`` or ``[refer] <p>phrase</p>``) with the gpt answer
after it becomes a ``referring_detection`` row: ``{"expression": phrase, "boxes": [[x1, y1, x2, y2], ...],
"angles": [θ, ...]}`` (row id ``<id>:<turn>``). Each ``[identify] what is this {…}`` turn (exactly one box in the
question) becomes a ``region_caption`` row ``{"box", "references": [answer], "angle"}``, and each ``[grounding]``
turn (``<p>phrase</p> {…}{…}`` inside the answer text) a ``grounding_description`` row ``{"references": [the text
without tags and boxes], "objects": [{"phrase", "box"}, ...]}``. The rest of the record's turns (VQA,
descriptions) stay instruction data: one ``chat`` row per record holding them, ids ``<id>``. A ``[refer]`` answer
without a box, with a value outside 0-100 or not an ASCII integer (`data_engine.numbers`: at most 40 digits) or with
an empty extent is counted as a skip (``malformed box``).
θ is kept, the box is scored as the axis-aligned rectangle written (docs/geochat-tasks.md §1).

Format ``geochat_referring`` (GeoChat-Bench)::

    <root>/<annotations>.jsonl   {"question_id", "image_id", "question", "ground_truth": [[[x, y] x 4], ...],
                                  "type", "dataset", "obj_ids", "size_group"} one per line
    <image_root>/<image_id>.png  (``.png`` appended unless image_id has an extension)

``ground_truth`` holds 4-point polygons in pixels; each row keeps them as ``polys`` and scores their axis-aligned
extents as ``boxes``; ``size_group`` and ``type`` are kept (the metrics split by them). An empty or wrongly nested
``ground_truth`` (a flat ring is not two polygons) is a ``malformed box`` skip, a polygon that does not overlap the
image by a positive area an ``outside image`` skip of the record. Split: a train/val/test token of the file name,
else null.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, outside_image, read_size
from data_engine.adapters.llava import conversation_records, convert_turns
from data_engine.numbers import BadNumber, parse_int, parse_number, parse_numbers

BOX_RE = re.compile(r"\{<(-?\d+)><(-?\d+)><(-?\d+)><(-?\d+)>(?:\|<(-?\d+)>)?\}")
_PHRASE_RE = re.compile(r"<p>(.*?)</p>", re.DOTALL)
_REFER_PREFIX_RE = re.compile(r"^\s*\[refer\]\s*(?:give me the location of\s*)?", re.IGNORECASE)


def refer_expression(question: str) -> str:
    """The phrase of a ``[refer]`` question: inside ``<p>…</p>``, else the text after the tag and its stock prefix."""
    m = _PHRASE_RE.search(question)
    text = m.group(1) if m else _REFER_PREFIX_RE.sub("", question)
    return " ".join(text.split()).strip(" ?.")


def grid_boxes(text: str, width: int, height: int) -> tuple[list[list[float]], list[float]] | str:
    """``{<x1><y1><x2><y2>|<θ>}`` boxes of ``text`` in original pixels and their angles, or why they are unusable."""
    boxes, angles = [], []
    for m in BOX_RE.finditer(text):
        try:
            v = [parse_int(g) for g in m.groups()[:4]]
            angle = parse_number(m.group(5)) if m.group(5) is not None else 0.0
        except BadNumber as e:
            return f"grid value in {m.group(0)[:60]!r}: {e}"
        if min(v) < 0 or max(v) > 100:
            return f"grid value outside 0-100 in {m.group(0)!r}"
        if v[2] <= v[0] or v[3] <= v[1]:
            return f"empty box {m.group(0)!r}"
        boxes.append([v[0] * width / 100, v[1] * height / 100, v[2] * width / 100, v[3] * height / 100])
        angles.append(angle)
    if not boxes:
        return f"no {{<x1><y1><x2><y2>|<θ>}} box in {text[:80]!r}"
    return boxes, angles


_GROUNDED_RE = re.compile(r"<p>(.*?)</p>\s*((?:\{<-?\d+><-?\d+><-?\d+><-?\d+>(?:\|<-?\d+>)?\}\s*)+)", re.DOTALL)


def grounded_text(answer: str, width: int, height: int) -> tuple[str, list[dict]] | str:
    """A ``[grounding]`` answer (``<p>phrase</p> {…}{…}`` inside text) -> (plain text, [{"phrase", "box"}]) in
    pixels, or why it is unusable."""
    objects: list[dict] = []
    problem = None

    def repl(m: re.Match) -> str:
        nonlocal problem
        phrase = " ".join(m.group(1).split())
        got = grid_boxes(m.group(2), width, height)
        if isinstance(got, str):
            problem = problem or got
        else:
            objects.extend({"phrase": phrase, "box": b} for b in got[0])
        return phrase + " "

    text = " ".join(_GROUNDED_RE.sub(repl, answer).split())
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    if problem:
        return problem
    if not objects or BOX_RE.search(text):
        return "no <p>phrase</p> {<x1><y1><x2><y2>} pair" if not objects else "a box without a <p>phrase</p>"
    return text, objects


def iter_geochat(spec: SourceSpec) -> Iterator[dict | Skip]:
    for item in conversation_records(spec):
        if isinstance(item, Skip):
            yield item
        else:
            yield from isolated(item[0], item[2], _geochat_record, spec, *item)


def _geochat_record(spec: SourceSpec, file: Path, split: str | None, k: int | None, rec: dict
                    ) -> Iterator[dict | Skip]:
    if not rec.get("image") or isinstance(rec["image"], list):
        yield Skip("text-only record" if not rec.get("image") else "multi-image record", str(file), k,
                   f"id {rec.get('id')!r}: GeoChat records hold one image")
        return
    messages = convert_turns(rec.get("conversations"))
    if isinstance(messages, str):
        yield Skip("malformed conversation", str(file), k, messages)
        return
    image = spec.images / str(rec["image"])
    size = read_size(image, file, k)
    if isinstance(size, Skip):
        yield size
        return
    native = str(rec.get("id", f"{file.stem}:{k}"))
    rest = []
    for t in range(0, len(messages), 2):
        q, a = messages[t]["content"], messages[t + 1]["content"]
        if "[identify]" in q.lower():
            got = grid_boxes(q, *size)
            if isinstance(got, str) or len(got[0]) != 1 or not a.strip():
                why = got if isinstance(got, str) else "needs exactly one box and an answer"
                yield Skip("malformed box", str(file), k, f"id {native!r} turn {t}: [identify] {why}")
                continue
            target = {"box": got[0][0], "references": [a.strip()], "angle": got[1][0]}
            yield make_row(spec, f"{native}:{t}", "region_caption", split, [image], *size, target)
            continue
        if "[grounding]" in q.lower():
            got = grounded_text(a, *size)
            if isinstance(got, str):
                yield Skip("malformed box", str(file), k, f"id {native!r} turn {t}: [grounding] {got}")
                continue
            text, objects = got
            yield make_row(spec, f"{native}:{t}", "grounding_description", split, [image], *size,
                           {"references": [text], "objects": objects})
            continue
        if "[refer]" not in q.lower():
            rest += messages[t:t + 2]
            continue
        got = grid_boxes(a, *size)
        if isinstance(got, str):
            yield Skip("malformed box", str(file), k, f"id {native!r} turn {t}: {got}")
            continue
        boxes, angles = got
        target = {"expression": refer_expression(q), "boxes": boxes, "angles": angles}
        yield make_row(spec, f"{native}:{t}", "referring_detection", split, [image], *size, target)
    if rest:
        yield make_row(spec, native, "chat", split, [image], *size, {"messages": rest})


def iter_geochat_referring(spec: SourceSpec) -> Iterator[dict | Skip]:
    for item in conversation_records(spec):
        if isinstance(item, Skip):
            yield item
        else:
            yield from isolated(item[0], item[2], _referring_record, spec, *item)


def ground_truth_polys(value) -> np.ndarray | str:
    """GeoChat-Bench ``ground_truth`` (a non-empty list of 4-point polygons ``[[x, y] x 4]``) as an (n, 8) float
    array, or why it is unusable. The nesting is checked, so a flat 16-number ring is not read as two polygons."""
    if not isinstance(value, list) or not value:
        return f"ground_truth must be a non-empty list of 4-point polygons, got {str(value)[:80]}"
    polys = []
    for i, p in enumerate(value):
        if not (isinstance(p, list) and len(p) == 4 and all(isinstance(q, list) and len(q) == 2 for q in p)):
            return f"ground_truth[{i}] is not a 4-point polygon [[x, y] x 4]: {str(p)[:80]}"
        try:
            polys.append(parse_numbers(v for q in p for v in q))
        except BadNumber as e:
            return f"ground_truth[{i}]: {e}"
    return np.asarray(polys, dtype=np.float64)


def _referring_record(spec: SourceSpec, file: Path, split: str | None, k: int | None, rec: dict
                      ) -> Iterator[dict | Skip]:
    if not all(key in rec for key in ("image_id", "question", "ground_truth")):
        yield Skip("malformed record", str(file), k, "needs image_id, question and ground_truth")
        return
    polys = ground_truth_polys(rec["ground_truth"])
    if isinstance(polys, str):
        yield Skip("malformed box", str(file), k, polys)
        return
    name = str(rec["image_id"])
    image = spec.images / (name if Path(name).suffix else f"{name}.png")
    size = read_size(image, file, k)
    if isinstance(size, Skip):
        yield size
        return
    boxes = np.stack([polys[:, 0::2].min(1), polys[:, 1::2].min(1), polys[:, 0::2].max(1),
                      polys[:, 1::2].max(1)], axis=1)
    if np.any((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])):
        yield Skip("malformed box", str(file), k, "a ground_truth polygon has no area")
        return
    out = next((o for p in polys if (o := outside_image(p, *size))), None)
    if out:  # a referent the image does not show cannot be found in it
        yield Skip("outside image", str(file), k, out)
        return
    target = {"expression": refer_expression(str(rec["question"])), "boxes": boxes.tolist(),
              "polys": polys.tolist()}
    for key in ("size_group", "type"):
        if rec.get(key) is not None:
            target[key] = str(rec[key])
    native = str(rec.get("question_id", f"{file.stem}:{k}"))
    yield make_row(spec, native, "referring_detection", split, [image], *size, target)
