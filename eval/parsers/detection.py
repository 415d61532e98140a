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
from data_engine.options import BOX_TYPES
from eval.parsers.ascii_numbers import ascii_ints
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

# Applied to stripped lines (no trailing blanks), so the label runs greedily to the end of its line: a lazy label
# with an optional trailing-blank group matched the same text at twice the cost.
_CANON_RE = re.compile(r"^(-?\d+(?:,-?\d+){3,7}) ([^\s,][^\n]*)$", re.MULTILINE)
# The same pattern for ASCII text, ~2x faster: \d is [0-9] there, str's whitespace adds \x1c-\x1f to re.ASCII's
# \s, and possessive quantifiers (Python >= 3.11) skip backtracking that can never produce a match (a digit run
# is followed by "," or " ", the label by the line end).
try:
    _CANON_ASCII_RE = re.compile(
        r"^(-?[0-9]++(?:,-?[0-9]++){3,7}) ([^\s\x1c-\x1f,][^\n]*+)$", re.MULTILINE | re.ASCII
    )
except re.error:  # Python 3.10
    _CANON_ASCII_RE = re.compile(r"^(-?[0-9]+(?:,-?[0-9]+){3,7}) ([^\s\x1c-\x1f,][^\n]*)$", re.MULTILINE | re.ASCII)
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
    out = parse_detection_arrays(text, frame, classes, box_type)
    objects = [
        {"label": cls, "raw_label": raw, "poly": poly, "box_type": bt}
        for cls, raw, poly, bt in zip(out.pop("labels"), out.pop("raw_labels"), out.pop("polys").tolist(),
                                      out.pop("box_types"), strict=True)
    ]
    return {"objects": objects, **out}


def parse_detection_arrays(
    text: str,
    frame: Frame | None = None,
    classes: Sequence[str] | None = None,
    box_type: str | None = None,
) -> dict:
    """`parse_detection` with the objects as parallel arrays/lists (no per-object dicts, for rewards).

    Args:
        text, frame, classes, box_type: as in `parse_detection`.

    Returns:
        ``{"polys": (K, 8) float64 original px, "labels": K class names or None, "raw_labels": K str,
        "box_types": K str, "empty", "mode", "format_ok", <counts>}`` with the same values as `parse_detection`.
    """
    text = text if isinstance(text, str) else ""
    body = strip_wrappers(text)
    counts = _counts()
    raw: list[tuple[Any, str]] = []
    values = None
    mode = "text"
    strict = False
    if "{" in body:
        mode = "json"
        strict = _parse_json(body, raw, counts, box_type)
    if mode == "text" or (not raw and counts["n_failed"] == 0 and not _is_empty_json(body)):
        mode = "text"
        strict, values = _parse_text(body, raw, counts)
    polys, labels, raw_labels, btypes = _to_arrays(raw, frame, classes, counts, values)
    stripped = body.strip()
    empty = not labels and counts["n_failed"] == 0 and _says_none(stripped)
    types = set(btypes)
    one_type = len(types) == 1 and (box_type is None or types == {box_type})
    format_ok = (empty and stripped in ("There are none.",)) or (
        bool(labels) and strict and one_type and counts["n_failed"] == 0 and counts["n_unknown_label"] == 0
    )
    if empty and _is_empty_json(body):
        format_ok = True
    return {"polys": polys, "labels": labels, "raw_labels": raw_labels, "box_types": btypes, "empty": empty,
            "mode": mode, "format_ok": bool(format_ok), **counts}


def _says_none(stripped: str) -> bool:
    first = unfence(stripped).strip().split("\n", 1)[0]
    return bool(NONE_RE.match(first))


def _is_empty_json(body: str) -> bool:
    ok, val = load_json_strict(body)
    return ok and val == []


# ------------------------------------------------------------------------------------------------------------ text
def _parse_text(body: str, raw: list, counts: dict) -> tuple[bool, np.ndarray | None]:
    """Fill ``raw`` with (values, label) from text lines.

    Returns:
        (strict, values): strict is True when every line is canonical; values is the (n, arity) float array of
        all canonical rows when they could be converted at once (then ``raw`` holds (number string, label) pairs
        whose strings are not used again), else None.
    """
    lines = list(filter(str.strip, unfence(body).split("\n")))  # non-blank lines
    joined = "\n".join(map(str.strip, lines))
    canon = (_CANON_ASCII_RE if joined.isascii() else _CANON_RE).findall(joined) if lines else []
    if lines and len(canon) == len(lines):
        rows = canon[:MAX_OBJECTS]
        _truncate(len(canon), counts)
        # The answer format's integers are ASCII (docs/formats.md §3); other scripts' digits are read (they still
        # score) but the answer is not in the format.
        ascii_digits = joined.isascii() or all(nums.isascii() for nums, _ in canon)
        values = _canonical_values(rows)
        if values is not None:
            raw.extend(rows)
            return ascii_digits, values
        # Canonical integers: numpy converts the strings per arity group (`_to_arrays`); overlong ones become
        # inf or > MAX_ABS_COORD and are dropped there.
        raw.extend((nums.split(","), label) for nums, label in rows)
        return ascii_digits, None
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
    return False, None


def _canonical_values(rows: list[tuple[str, str]]) -> np.ndarray | None:
    """(n, arity) floats of canonical rows ("x,y,...", label) in one C-level conversion; None when the rows have
    different arities or a digit outside ASCII (the regex's ``\\d`` accepts other scripts' digits, which only the
    general path reads)."""
    if not rows:
        return None
    nums = next(zip(*rows, strict=True))  # the number strings, without a Python-level loop
    arity = nums[0].count(",") + 1
    joined = ",".join(nums)
    if joined.count(",") + 1 != arity * len(rows) or not joined.isascii():
        return None
    vals, starts, ok = ascii_ints(np.frombuffer(joined.encode("ascii"), dtype=np.uint8))
    if not ok:
        return None
    # Row r starts at offset sum(len(nums[q]) + 1 for q < r). The total count being right, every row holds `arity`
    # numbers exactly when number r * arity starts row r.
    lens = np.fromiter(map(len, nums), dtype=np.int64, count=len(nums))
    if not np.array_equal(starts[::arity], np.cumsum(lens) - lens + np.arange(len(nums))):
        return None
    return vals.reshape(len(rows), arity)


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
_BOX_TYPES = BOX_TYPES  # codes index into the one table (data_engine.options)


def _to_arrays(
    raw: list, frame: Frame | None, classes: Sequence[str] | None, counts: dict, values: np.ndarray | None = None
) -> tuple[np.ndarray, list[str | None], list[str], list[str]]:
    """Validate values, convert each box type to a model-frame polygon, map to original pixels, match labels.

    Vectorised per arity group (a detection answer is usually one group of ~100 rows), kept in the order the boxes
    were written.

    Args:
        raw: (values, label) per box attempt.
        frame: the model frame (None: original pixels).
        classes: class names for `match_label`.
        counts: failure counters, updated in place.
        values: (len(raw), arity) floats of every row, already converted (then ``raw``'s values are not read).

    Returns:
        (polys, labels, raw_labels, box_types) of the K kept boxes: (K, 8) float64 original px, matched class or
        None, label as written, box type name.
    """
    n = len(raw)
    groups: dict[int, Any] = {}
    if values is not None:
        groups[values.shape[1]] = np.arange(n)
    else:
        for i, (vals, _) in enumerate(raw):
            groups.setdefault(len(vals), []).append(i)
    polys = np.full((n, 8), np.nan)
    tcode = np.full(n, -1, dtype=np.int64)  # index into _BOX_TYPES, -1: not a box
    for arity, idx in groups.items():
        btype = ARITY_TYPE.get(arity)
        if btype is None:
            counts["n_bad_arity"] += len(idx)
            counts["n_failed"] += len(idx)
            continue
        if values is not None:
            vals = values
        else:
            try:
                vals = np.asarray([raw[i][0] for i in idx], dtype=np.float64).reshape(len(idx), arity)
            except (ValueError, OverflowError):  # a string numpy cannot read: fall back row by row
                vals = np.asarray([[to_float(str(v)) for v in raw[i][0]] for i in idx], dtype=np.float64)
        # NaN and inf propagate through the row maximum and fail the bound: finite and in range in one test
        ok = np.abs(vals).max(axis=1) <= MAX_ABS_COORD
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
        tcode[idx_ok] = _BOX_TYPES.index(btype)
    if frame is not None:
        polys = from_model(polys, frame)
    typed = tcode >= 0
    finite = np.isfinite(polys).all(axis=1)
    # finite model-frame values can still overflow in the frame mapping
    lost = int(np.count_nonzero(typed & ~finite))
    counts["n_nonfinite"] += lost
    counts["n_failed"] += lost
    keep = np.flatnonzero(typed & finite)
    raw_labels = [raw[i][1] for i in keep.tolist()]
    # an answer repeats a handful of labels: match each distinct one once
    matched = {lab: match_label(lab, classes) for lab in set(raw_labels)}
    labels = [matched[lab] for lab in raw_labels]
    counts["n_unknown_label"] += labels.count(None)
    counts["n_parsed"] = len(labels)
    return polys[keep], labels, raw_labels, [_BOX_TYPES[c] for c in tcode[keep].tolist()]
