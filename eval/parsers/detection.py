"""Detection answers -> objects as 4-point polygons in original-image pixels.

Accepted forms (both answer modes of `data_engine.answers`):

- text lines ``x1,y1,x2,y2 label`` (HBB), ``cx,cy,w,h,angle label`` (OBB, angle in degrees) and
  ``x1,y1,...,x4,y4 label`` (polygon). The number of values decides the box type, so a mixed answer still
  parses; ``box_type`` only affects ``format_ok``. Tolerated: prose lines (ignored, counted as ``n_prose``), list
  markers (``- ``, ``3. ``), brackets/parentheses/spaces as separators, decimals, the label before the numbers
  (``plane: 1,2,3,4``), code fences, ``<answer>`` tags.
- JSON: every flat ``{...}`` object with a box key (``bbox_2d``, ``oriented bbox``, ``quadrant bbox``, also
  ``bbox``/``box``/``poly``/``polygon``) and a label key (``label``, also ``category``/``class``/``name``); trailing
  commas, single quotes and a truncated list are tolerated.
- ``There are none.`` and variants (``There is no ...``, ``None``, ``No objects ...``, ``[]``) -> ``empty=True``.

Policies:

- a box with any value that is not a finite number within +-1e6 model units is dropped (``n_nonfinite``);
- an HBB with x2 < x1 or y2 < y1 is re-ordered (its extent is what was meant); zero-size boxes are kept (they
  score IoU 0);
- **a coordinate group of any length other than 4, 5 or 8 is rejected** (``n_bad_arity``): a polygon with more
  vertices is not a detection answer format, and taking "the first 8 numbers" would invent a box the model did
  not write;
- labels go through `eval.parsers.labels.match_label`; boxes with unknown labels are kept with ``label=None`` so a
  reward can count them as false positives (``n_unknown_label``);
- at most ``MAX_OBJECTS`` boxes are read; further lines are counted in ``n_failed`` (``n_truncated``), unread.

``format_ok`` is True only for the exact shape `data_engine.answers.format_detection` writes: ``There are none.``,
or every non-blank line a canonical integer line of one arity (``box_type``'s when given) with a known label; in
JSON mode, one JSON list whose items all use the box type's key, a matching arity and a known label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from data_engine.frames import Frame, from_model
from eval.parsers.common import (
    MAX_ABS_COORD,
    NUMBER_RE,
    finite_values,
    json_objects,
    load_json_strict,
    strip_wrappers,
    to_float,
    unfence,
)
from eval.parsers.labels import match_label

MAX_OBJECTS = 2000
ARITY_TYPE = {4: "hbb", 5: "obb", 8: "poly"}
JSON_KEYS = {"bbox_2d": "hbb", "oriented bbox": "obb", "quadrant bbox": "poly"}
_ALT_BOX_KEYS = ("bbox", "box", "poly", "polygon", "bbox_2d_rotated", "rbox")
_LABEL_KEYS = ("label", "category", "class", "name")

_CANON_RE = re.compile(r"^(-?\d+(?:,-?\d+){3,7}) ([^\s,][^\n]*?)[ \t]*$", re.MULTILINE)
_LIST_MARKER_RE = re.compile(r"^\s*(?:[-*\u2022]|\d{1,3}[.)])\s+")
_SEP_RE = re.compile(r"^[\s,;()\[\]]*$")
_LABEL_STRIP = " \t,;:.()[]{}\"'`*-"
NONE_RE = re.compile(
    r"^\W*(?:there\s+(?:are|is)\s+(?:none|nothing|no)\b|none\b|no\s+(?:objects?|targets?|instances?|items?)\b|nothing\b"
    r"|\[\s*\]\W*$)",
    re.IGNORECASE,
)


def _counts() -> dict[str, int]:
    return {
        "n_parsed": 0,
        "n_failed": 0,
        "n_unknown_label": 0,
        "n_nonfinite": 0,
        "n_bad_arity": 0,
        "n_truncated": 0,
        "n_prose": 0,
    }


def parse_detection(
    text: str,
    frame: Frame | None = None,
    classes: Sequence[str] | None = None,
    box_type: str | None = None,
    **_: Any,
) -> dict:
    """Parse a detection answer.

    Args:
        text: the model's answer (any string).
        frame: the model's coordinate frame; None means the answer is in original pixels.
        classes: the dataset's class names; labels are matched to them (None: any label, normalised).
        box_type: the expected box type ("hbb", "obb", "poly"), only used for ``format_ok``.

    Returns:
        ``{"objects": [{"label": str | None, "raw_label": str, "poly": [8 floats, original px], "box_type": str}],
        "empty": bool, "mode": "text" | "json", "format_ok": bool, "n_parsed", "n_failed", "n_unknown_label",
        "n_nonfinite", "n_bad_arity", "n_truncated", "n_prose"}``. ``n_failed`` counts coordinate groups or JSON
        items that did not become a box (non-finite, bad arity, undecodable, over the cap).
    """
    text = text if isinstance(text, str) else ""
    body = strip_wrappers(text)
    counts = _counts()
    raw: list[tuple[list[float], str]] = []
    mode = "text"
    strict = False
    if "{" in body:
        mode = "json"
        strict = _parse_json(body, raw, counts, box_type)
    if mode == "text" or (not raw and counts["n_failed"] == 0 and not _is_empty_json(body)):
        mode = "text"
        strict = _parse_text(body, raw, counts)
    objects = _to_objects(raw, frame, classes, counts)
    stripped = body.strip()
    empty = not objects and counts["n_failed"] == 0 and _says_none(stripped)
    types = {o["box_type"] for o in objects}
    one_type = len(types) == 1 and (box_type is None or types == {box_type})
    format_ok = (empty and stripped in ("There are none.",)) or (
        bool(objects) and strict and one_type and counts["n_failed"] == 0 and counts["n_unknown_label"] == 0
    )
    if empty and _is_empty_json(body):
        format_ok = True
    return {"objects": objects, "empty": empty, "mode": mode, "format_ok": bool(format_ok), **counts}


def _says_none(stripped: str) -> bool:
    first = unfence(stripped).strip().split("\n", 1)[0]
    return bool(NONE_RE.match(first))


def _is_empty_json(body: str) -> bool:
    ok, val = load_json_strict(body)
    return ok and val == []


# ------------------------------------------------------------------------------------------------------------ text
def _parse_text(body: str, raw: list, counts: dict) -> bool:
    """Fill ``raw`` with (values, label) from text lines; returns True when every line is canonical."""
    lines = [ln for ln in unfence(body).split("\n") if ln.strip()]
    canon = _CANON_RE.findall("\n".join(ln.strip() for ln in lines)) if lines else []
    if lines and len(canon) == len(lines):
        # Canonical integers: numpy converts the strings per arity group (`_to_objects`); overlong ones become
        # inf or > MAX_ABS_COORD and are dropped there.
        raw.extend((nums.split(","), label) for nums, label in canon[:MAX_OBJECTS])
        _truncate(len(canon), counts)
        return True
    for ln in lines:
        if len(raw) >= MAX_OBJECTS:
            counts["n_truncated"] += 1
            counts["n_failed"] += 1
            continue
        found = _parse_line(ln)
        if found is None:
            if not NONE_RE.match(ln):
                counts["n_prose"] += 1
            continue
        raw.append(found)
    return False


def _truncate(n: int, counts: dict) -> None:
    if n > MAX_OBJECTS:
        counts["n_truncated"] += n - MAX_OBJECTS
        counts["n_failed"] += n - MAX_OBJECTS


def _parse_line(line: str) -> tuple[list[float], str] | None:
    """The first run of >= 4 numbers joined by separators on a line, and the label beside it."""
    line = _LIST_MARKER_RE.sub("", line, count=1)
    run: list[re.Match] = []
    best: list[re.Match] = []
    for m in NUMBER_RE.finditer(line):
        if run and not _SEP_RE.match(line[run[-1].end() : m.start()]):
            if len(run) >= 4:
                best = run
                break
            run = []
        run.append(m)
    if not best and len(run) >= 4:
        best = run
    if not best:
        return None
    label = line[best[-1].end() :].strip(_LABEL_STRIP)
    if not label:
        label = line[: best[0].start()].strip(_LABEL_STRIP)
    return [to_float(m.group(0)) for m in best], label


# ------------------------------------------------------------------------------------------------------------ json
def _parse_json(body: str, raw: list, counts: dict, box_type: str | None) -> bool:
    """Fill ``raw`` from JSON objects; returns True when the body is one strict JSON list in the expected keys."""
    objs, n_bad = json_objects(body)
    counts["n_failed"] += n_bad
    for obj in objs:
        key = next((k for k in (*JSON_KEYS, *_ALT_BOX_KEYS) if k in obj), None)
        label = next((obj[k] for k in _LABEL_KEYS if isinstance(obj.get(k), str)), "")
        if key is None:
            counts["n_failed"] += 1
            continue
        if len(raw) >= MAX_OBJECTS:
            counts["n_truncated"] += 1
            counts["n_failed"] += 1
            continue
        vals = finite_values(obj[key])
        if vals is None:
            # A list with a non-number inside: mark as non-finite so it is dropped and counted below.
            vals = [float("nan")] * (len(obj[key]) if isinstance(obj[key], list) else 4)
        raw.append((vals, label))
    ok, val = load_json_strict(body)
    if not ok or not isinstance(val, list) or not val:
        return False
    want = {k for k, t in JSON_KEYS.items() if box_type in (None, t)}
    return all(isinstance(it, dict) and len(want & it.keys()) == 1 for it in val)


# ------------------------------------------------------------------------------------------------------- geometry
def _to_objects(raw: list, frame: Frame | None, classes: Sequence[str] | None, counts: dict) -> list[dict]:
    """Validate values, convert each box type to a model-frame polygon, map to original pixels, match labels.

    Vectorised per arity group (a detection answer is usually one group of ~100 rows), then re-assembled in the
    order the boxes were written.
    """
    groups: dict[int, list[int]] = {}
    for i, (vals, _) in enumerate(raw):
        groups.setdefault(len(vals), []).append(i)
    polys = np.full((len(raw), 8), np.nan)
    btypes: list[str | None] = [None] * len(raw)
    for arity, idx in groups.items():
        btype = ARITY_TYPE.get(arity)
        if btype is None:
            counts["n_bad_arity"] += len(idx)
            counts["n_failed"] += len(idx)
            continue
        try:
            vals = np.asarray([raw[i][0] for i in idx], dtype=np.float64).reshape(len(idx), arity)
        except (ValueError, OverflowError):  # a string numpy cannot read: fall back row by row
            vals = np.asarray([[to_float(str(v)) for v in raw[i][0]] for i in idx], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(vals).all(axis=1) & (np.abs(vals) <= MAX_ABS_COORD).all(axis=1)
        bad = int(np.count_nonzero(~ok))
        counts["n_nonfinite"] += bad
        counts["n_failed"] += bad
        idx_ok = np.asarray(idx)[ok]
        v = vals[ok]
        if btype == "hbb":
            x1, x2 = np.minimum(v[:, 0], v[:, 2]), np.maximum(v[:, 0], v[:, 2])
            y1, y2 = np.minimum(v[:, 1], v[:, 3]), np.maximum(v[:, 1], v[:, 3])
            p = np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=1)
        elif btype == "poly":
            p = v
        else:
            from data_engine.boxes import obb_to_poly

            p = np.asarray(obb_to_poly(v), dtype=np.float64).reshape(-1, 8) if len(v) else np.zeros((0, 8))
        polys[idx_ok] = p
        for i in idx_ok:
            btypes[i] = btype
    if frame is not None:
        polys = from_model(polys, frame)
    finite = np.isfinite(polys).all(axis=1)
    out = []
    rows = polys.tolist()
    for i, (_, label) in enumerate(raw):
        if btypes[i] is None:
            continue
        if not finite[i]:
            counts["n_nonfinite"] += 1
            counts["n_failed"] += 1
            continue
        cls = match_label(label, classes)
        if cls is None:
            counts["n_unknown_label"] += 1
        out.append({"label": cls, "raw_label": label, "poly": rows[i], "box_type": btypes[i]})
    counts["n_parsed"] = len(out)
    return out
