"""Referring-detection answers -> zero or more boxes ``[x1, y1, x2, y2]`` in original-image pixels.

The answer is read like a detection answer (`eval.parsers.detection`: text lines ``x1,y1,x2,y2 expression`` or a
JSON list of ``bbox_2d`` items, ``There are none.`` for nothing, tolerated variants and policies as there), with any
label; every box becomes its axis-aligned extent. ``format_ok``: the exact shape
`data_engine.answers.format_referring` writes: ``There are none.`` or only canonical 4-integer lines / ``bbox_2d``
items.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_engine.frames import Frame
from eval.parsers.detection import parse_detection_arrays


def parse_referring(text: str, frame: Frame | None = None, **_: Any) -> dict:
    """Parse a referring-detection answer.

    Returns:
        ``{"boxes": [[x1, y1, x2, y2], ...] (original px), "empty": bool, "n_parsed", "n_failed", "format_ok"}``;
        ``empty`` is True only for an explicit "nothing" answer.
    """
    det = parse_detection_arrays(text if isinstance(text, str) else "", frame=frame, classes=None, box_type="hbb")
    polys = det["polys"].reshape(-1, 8)
    boxes = np.stack([polys[:, 0::2].min(1), polys[:, 1::2].min(1), polys[:, 0::2].max(1), polys[:, 1::2].max(1)],
                     axis=1) if len(polys) else np.zeros((0, 4))
    return {
        "boxes": boxes.tolist(),
        "empty": bool(det["empty"]) and not len(polys),
        "n_parsed": len(polys),
        "n_failed": int(det["n_failed"]),
        "format_ok": bool(det["format_ok"]) and all(b == "hbb" for b in det["box_types"]),
    }
