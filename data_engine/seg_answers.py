"""Mask answer text: the prompt and the ``seg_grid`` answer of the segmentation tasks (docs/formats.md §6).

The answer is ``<seg>`` + the shown image's merged-patch grid (`data_engine.masks`), row by row, as runs
``bit*count`` joined by ``,`` within a row and rows joined by ``;``, + ``</seg>``; ``There is none.`` when the
target mask is empty. The parser (`eval.parsers.segmentation`) accepts exactly this grammar.
"""

from __future__ import annotations

import re

import numpy as np

from data_engine.errors import UserError
from data_engine.frames import Frame
from data_engine.masks import decode_mask, mask_area, mask_size, mask_to_grid

SEG_OPEN, SEG_CLOSE = "<seg>", "</seg>"
NO_MASK_ANSWER = "There is none."
# RSCoVLM's segmentation prompt ("Locate the {prompt}, output the segmentation mask").
SEG_PROMPT = "Locate the {expression}, output the segmentation mask"

_ARTICLE_RE = re.compile(r"^\s*the\s+", re.IGNORECASE)


def referring_seg_user_prompt(expression: str) -> str:
    """``Locate the {expression}, output the segmentation mask`` (a leading "the" of the expression dropped, so the
    prompt never reads "the the")."""
    return SEG_PROMPT.format(expression=_ARTICLE_RE.sub("", str(expression)).strip())


def semantic_seg_user_prompt(class_name: str) -> str:
    """``Locate the {class}, output the segmentation mask`` (the class as the model writes labels: "low vegetation")."""
    return SEG_PROMPT.format(expression=str(class_name).replace("_", " ").replace("-", " ").lower().strip())


def grid_rows(grid: np.ndarray) -> str:
    """The runs of a (gh, gw) bool grid: ``bit*count`` joined by ``,``, rows joined by ``;``."""
    g = np.asarray(grid, dtype=bool)
    rows = []
    for row in g:
        change = np.flatnonzero(row[1:] != row[:-1]) + 1
        starts = np.r_[0, change]
        lengths = np.diff(np.r_[starts, row.size])
        rows.append(",".join(f"{int(row[s])}*{int(n)}" for s, n in zip(starts, lengths, strict=True)))
    return ";".join(rows)


def format_seg_grid(rle: dict | None, frame: Frame) -> str:
    """The ``seg_grid`` answer of a target mask (COCO RLE in original pixels) for the shown image's grid.

    Raises:
        UserError: the frame records no grid, or the mask's size differs from the frame's original size.
    """
    if rle is None or mask_area(rle) == 0:
        return NO_MASK_ANSWER
    if not (frame.grid_w and frame.grid_h):
        raise UserError("a mask answer needs the shown image's grid: build the frame with the family's factor")
    w, h = mask_size(rle)
    if (w, h) != (round(frame.orig_w), round(frame.orig_h)):
        raise UserError(f"mask is {w}x{h} but the image is {frame.orig_w:g}x{frame.orig_h:g}")
    return SEG_OPEN + grid_rows(mask_to_grid(decode_mask(rle), frame.grid_h, frame.grid_w)) + SEG_CLOSE
