"""Mask answers -> a mask in original pixels (COCO RLE): ``seg_grid`` (docs/formats.md §6, the default) and
``seg_polygon`` (§7, `read_seg_polygon`), chosen by the ``mask_format`` option.

The parser accepts exactly what `data_engine.seg_answers.format_seg_grid` writes (surrounding whitespace and the
usual ``<think>``/``<answer>`` wrappers aside): ``<seg>`` + rows joined by ``;``, each row runs ``bit*count``
(bit 0 or 1, count a positive integer without leading zeros) joined by ``,`` with alternating bits and counts
summing to the grid width, every row the same width, + ``</seg>``; or ``There is none.``. Anything else is
malformed (``format_ok`` False, no mask). When the frame records the shown grid, a grid of another shape is
malformed too. Hostile strings never raise: oversized input is rejected by length before any regex runs.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from data_engine.frames import Frame, from_model
from data_engine.masks import encode_mask, grid_to_mask
from data_engine.options import MASK_FORMATS
from data_engine.seg_answers import NO_MASK_ANSWER, SEG_CLOSE, SEG_OPEN
from data_engine.seg_polygons import MAX_VERTICES
from eval.parsers.common import strip_wrappers

# A 1000 x 1000 grid of alternating cells is ~4 M characters; nothing a model emits for a real image is longer.
MAX_CHARS = 4_000_000
MAX_CELLS = 1_000_000
_RUN = r"[01]\*[1-9][0-9]{0,6}"
_INNER_RE = re.compile(rf"{_RUN}(?:[,;]{_RUN})*")


def read_seg_grid(text: Any) -> tuple[str, np.ndarray | None]:
    """The grammar alone: ``("none", None)``, ``("grid", (gh, gw) bool array)`` or ``("malformed", None)``."""
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        return "malformed", None
    body = strip_wrappers(text).strip()
    if body == NO_MASK_ANSWER:
        return "none", None
    if not (body.startswith(SEG_OPEN) and body.endswith(SEG_CLOSE)):
        return "malformed", None
    inner = body[len(SEG_OPEN): len(body) - len(SEG_CLOSE)]
    if _INNER_RE.fullmatch(inner) is None:  # linear: every token is unambiguous, so nothing backtracks
        return "malformed", None
    rows = inner.split(";")
    runs = inner.replace(";", ",").split(",")
    bits = np.frombuffer("".join(r[0] for r in runs).encode("ascii"), dtype=np.uint8) == ord("1")
    counts = np.fromiter(map(int, (r[2:] for r in runs)), dtype=np.int64, count=len(runs))
    starts = np.cumsum([0] + [row.count(",") + 1 for row in rows[:-1]])
    same = bits[1:] == bits[:-1]
    same[starts[1:] - 1] = False  # a row may start with either bit
    widths = np.add.reduceat(counts, starts)
    # runs alternate within a row ("1*2,1*3" is not how the renderer writes it) and every row has one width
    if same.any() or (widths != widths[0]).any() or int(widths[0]) * len(rows) > MAX_CELLS:
        return "malformed", None
    return "grid", np.repeat(bits, counts).reshape(len(rows), int(widths[0]))


# seg_polygon (docs/formats.md §7): lines of >= 3 integer vertices; 7 digits covers any frame a model is shown.
_INT = r"(?:0|[1-9][0-9]{0,6})"
_POLY = rf"{_INT}(?:,{_INT}){{5,}}"
_POLYS_RE = re.compile(rf"{_POLY}(?:\n{_POLY})*")
MAX_POLYGON_CHARS = MAX_VERTICES * 2 * 8


def read_seg_polygon(text: Any, frame: Frame | None) -> tuple[str, dict | None]:
    """The ``seg_polygon`` grammar: ``("none", None)``, ``("mask", RLE of the original image)`` or
    ``("malformed", None)``. Malformed too: an odd number of values on a line, more than ``MAX_VERTICES`` vertices,
    a coordinate outside the frame (``0..model_w``, ``0..model_h``), or no frame (the image size is unknown)."""
    if not isinstance(text, str) or len(text) > MAX_POLYGON_CHARS + 64:
        return "malformed", None
    body = strip_wrappers(text).strip()
    if body == NO_MASK_ANSWER:
        return "none", None
    if frame is None or len(body) > MAX_POLYGON_CHARS or _POLYS_RE.fullmatch(body) is None:
        return "malformed", None  # the regex is linear: "," and newline separate unambiguous integers
    lines = [np.array(line.split(","), dtype=np.float64) for line in body.split("\n")]
    if any(v.size % 2 for v in lines) or sum(v.size for v in lines) > 2 * MAX_VERTICES:
        return "malformed", None
    if any((v[0::2] > frame.model_w).any() or (v[1::2] > frame.model_h).any() for v in lines):
        return "malformed", None
    h, w = int(round(frame.orig_h)), int(round(frame.orig_w))
    rles = mask_utils.frPyObjects([from_model(v, frame).tolist() for v in lines], h, w)
    rle = mask_utils.merge(rles)
    return "mask", {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def parse_segmentation(text: str, frame: Frame | None = None, mask_format: str = "seg_grid", **_: Any) -> dict:
    """Parse a mask answer.

    Args:
        text: the model's answer (any string).
        frame: the shown image's frame (original size and grid); None: the text is in original pixels, so the grid
            is the mask itself (one cell per pixel; trivial baselines answer this way). A ``seg_polygon`` answer
            needs the frame (without it every polygon answer is malformed).
        mask_format: one of `data_engine.options.MASK_FORMATS`; anything else reads as ``seg_grid``.

    Returns:
        ``{"mask": RLE | None, "empty": bool, "grid": [gh, gw] | None, "n_parsed": 0 | 1, "n_failed": 0 | 1,
        "format_ok": bool}``; ``mask`` is COCO RLE of the original image (None for ``There is none.`` or a
        malformed answer), ``empty`` is True when the answer says the target is absent or its grid is all off.
    """
    if mask_format == MASK_FORMATS[1]:
        return _parse_polygon(text, frame)
    status, grid = read_seg_grid(text)
    if status == "none":
        return {"mask": None, "empty": True, "grid": None, "n_parsed": 1, "n_failed": 0, "format_ok": True}
    if status == "malformed" or (frame is not None and frame.grid_w and frame.grid_h
                                 and grid.shape != (frame.grid_h, frame.grid_w)):
        return {"mask": None, "empty": False, "grid": None, "n_parsed": 0, "n_failed": 1, "format_ok": False}
    if frame is None:  # the text is in original pixels: the grid IS the mask (one cell per pixel)
        mask = encode_mask(grid)
    else:
        mask = encode_mask(grid_to_mask(grid, int(round(frame.orig_h)), int(round(frame.orig_w))))
    return {"mask": mask, "empty": not grid.any(), "grid": [int(grid.shape[0]), int(grid.shape[1])],
            "n_parsed": 1, "n_failed": 0, "format_ok": True}


def _parse_polygon(text: Any, frame: Frame | None) -> dict:
    status, rle = read_seg_polygon(text, frame)
    if status == "none":
        return {"mask": None, "empty": True, "grid": None, "n_parsed": 1, "n_failed": 0, "format_ok": True}
    if status == "malformed":
        return {"mask": None, "empty": False, "grid": None, "n_parsed": 0, "n_failed": 1, "format_ok": False}
    empty = int(mask_utils.area({"size": rle["size"], "counts": rle["counts"].encode("ascii")})) == 0
    return {"mask": rle, "empty": empty, "grid": None, "n_parsed": 1, "n_failed": 0, "format_ok": True}
