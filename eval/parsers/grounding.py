"""Grounding answers -> one box ``[x1, y1, x2, y2]`` in original-image pixels.

The FIRST box the answer contains is the prediction (as VLM-R1 and RSCoVLM evaluate): in JSON mode the first item
with a box key, in text mode the first run of >= 4 numbers. A 4-value group is ``x1,y1,x2,y2`` (re-ordered when
x2 < x1 or y2 < y1); an 8-value group (a polygon) and a 5-value group (an OBB) become their axis-aligned extent;
other lengths fail. ``n_boxes`` reports how many boxes the answer held (more than one is not the trained format).
``format_ok``: exactly one box, written as `data_engine.answers.format_grounding` writes it (integer text line
``x1,y1,x2,y2 expression`` or a one-item JSON list with ``bbox_2d``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from data_engine.frames import Frame
from eval.parsers.common import load_json_strict, strip_wrappers
from eval.parsers.detection import parse_detection

_CANON_RE = re.compile(r"^\s*-?[0-9]+,-?[0-9]+,-?[0-9]+,-?[0-9]+ \S[^\n]*$")  # ASCII digits (docs/formats.md §3)


def parse_grounding(text: str, frame: Frame | None = None, **_: Any) -> dict:
    """Parse a grounding answer.

    Args:
        text: the model's answer (any string).
        frame: the model's coordinate frame; None means original pixels.

    Returns:
        ``{"box": [x1, y1, x2, y2] | None, "label": str, "n_boxes": int, "n_parsed": 0 | 1, "n_failed": int,
        "format_ok": bool}``; ``box`` in original pixels with x1 <= x2, y1 <= y2.
    """
    det = parse_detection(text, frame=frame, classes=None)
    objs = det["objects"]
    box = None
    label = ""
    if objs:
        p = np.asarray(objs[0]["poly"], dtype=np.float64)
        box = [float(p[0::2].min()), float(p[1::2].min()), float(p[0::2].max()), float(p[1::2].max())]
        label = objs[0]["raw_label"]
    n_boxes = len(objs) + det["n_failed"]
    body = strip_wrappers(text if isinstance(text, str) else "").strip()
    if det["mode"] == "json":
        ok, val = load_json_strict(body)
        shape_ok = ok and isinstance(val, list) and len(val) == 1 and isinstance(val[0], dict) and "bbox_2d" in val[0]
    else:
        shape_ok = _CANON_RE.match(body) is not None
    format_ok = bool(box is not None and n_boxes == 1 and objs[0]["box_type"] == "hbb" and shape_ok)
    return {
        "box": box,
        "label": label,
        "n_boxes": n_boxes,
        "n_parsed": int(box is not None),
        "n_failed": det["n_failed"],
        "format_ok": format_ok,
    }
