"""Zoom-in chains for UHR VQA: views, crops cut from the full-resolution original, and multi-turn conversations.

A *view* is a region of the original image shown to the model at its smart-resized size; the model writes boxes
in the view's coordinate frame (`data_engine.frames`, relative to the region's top-left corner). The chain
(RSCoVLM's protocol, docs/formats.md §4)::

    system:    ZOOM_TOOL_SYSTEM (the Qwen tool block; in the system prompt for both families, since Qwen2.5-VL's
               template rejects tools= and one behaviour for both is simplest)
    user:      [full image] "{question}\\nZoom in to the region of interest and answer the question."
    assistant: <tool_call>{"name": "image_zoom_in", "arguments": {"bbox": [x1, y1, x2, y2]}}</tool_call>
    user:      [crop] "Here's the zoomed-in image. You can complete your task now."
    ...        (more steps: each box is written in the frame of the view it zooms into, i.e. the latest image)
    assistant: {answer}

Crops are always cut from the full-resolution original (`crop_view`), then smart-resized like any image; the
region cut is the one the written (integer) box maps back to, so training crops equal what a rollout would cut for
the same tool call. Several evidence boxes are covered by one zoom to their union (`multi_evidence="union"`) or
rendered as single-turn VQA (`"single_turn"`, RSCoVLM's choice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from data_engine.answers import ZOOM_CROP_TEXT, ZOOM_TOOL_SYSTEM, format_vqa, format_zoom_call, zoom_user_prompt
from data_engine.errors import DataError, UserError
from data_engine.families import Family, get_family
from data_engine.frames import Frame, from_model, quantize, to_model
from data_engine.images import load_rgb, resize_to, smart_size
from data_engine.options import MULTI_EVIDENCE, check_choice
from data_engine.schema import load_target

MIN_CROP_SIDE = 28  # a crop narrower than one Qwen2.5-VL token row would violate smart resize's aspect limit


def crop_box(box, width: int, height: int, min_side: int = MIN_CROP_SIDE) -> tuple[int, int, int, int]:
    """The integer pixel region actually cut for `box`: rounded outwards, clipped to the image, at least
    `min_side` pixels a side (grown around its centre, then shifted back inside the image).

    Args:
        box: [x1, y1, x2, y2] in original pixels (floats; may reach outside the image or be inverted).
        width, height: original image size.
    """
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.size != 4 or not np.all(np.isfinite(b)):
        raise DataError(f"zoom box must be 4 finite numbers [x1, y1, x2, y2], got {box!r}")
    x1, x2 = sorted((float(b[0]), float(b[2])))
    y1, y2 = sorted((float(b[1]), float(b[3])))
    out = []
    for lo, hi, size in ((x1, x2, width), (y1, y2, height)):
        lo, hi = max(0, math.floor(lo)), min(size, math.ceil(hi))
        side = min(size, max(min_side, hi - lo))
        if hi - lo < side:
            centre = (lo + hi) / 2 if hi > lo else min(max(lo, 0), size)
            lo = int(round(centre - side / 2))
        lo = min(max(0, lo), size - side)
        out.append((lo, lo + side))
    (a, c), (b_, d) = out
    return a, b_, c, d


def crop_view(image: str | Path | Image.Image, box, *, family: Family | str | None = None,
              min_pixels: int | None = None, max_pixels: int | None = None,
              min_side: int = MIN_CROP_SIDE) -> Image.Image:
    """The crop of `box` (original pixels) cut from the full-resolution image, optionally smart-resized.

    Args:
        image: path or PIL image of the ORIGINAL (never an already downsampled view).
        box: [x1, y1, x2, y2] in original pixels; the region cut is `crop_box(box, ...)`.
        family, min_pixels, max_pixels: when all given, the crop is smart-resized for that family and budget.

    Returns:
        RGB PIL image.
    """
    img = load_rgb(image)
    region = crop_box(box, img.width, img.height, min_side)
    crop = img.crop(region)
    if family is not None and min_pixels is not None and max_pixels is not None:
        fam = get_family(family) if isinstance(family, str) else family
        crop = resize_to(crop, smart_size(crop.width, crop.height, fam.factor, min_pixels, max_pixels))
    return crop


@dataclass(frozen=True)
class View:
    """A region of the original image as the model sees it.

    Attributes:
        region: (x1, y1, x2, y2) integer original pixels.
        frame: the model frame of the region (orig_w/orig_h = region size, model size = resized size or 1000).
        size: (w, h) of the resized image shown.
    """

    region: tuple[int, int, int, int]
    frame: Frame
    size: tuple[int, int]

    def to_model_box(self, box) -> list[int]:
        """An original-pixel box -> the integers the model writes in this view (clipped to the view)."""
        x0, y0 = self.region[:2]
        m = to_model(np.asarray(box, dtype=np.float64) - [x0, y0, x0, y0], self.frame)
        m[0::2] = np.clip(m[0::2], 0, self.frame.model_w)
        m[1::2] = np.clip(m[1::2], 0, self.frame.model_h)
        return [int(v) for v in quantize(m)]

    def to_original_box(self, model_box) -> list[float]:
        """Model integers written in this view -> original-pixel box (what a rollout crops)."""
        x0, y0 = self.region[:2]
        return (from_model(np.asarray(model_box, dtype=np.float64), self.frame) + [x0, y0, x0, y0]).tolist()


def make_view(region, family: Family, min_pixels: int, max_pixels: int, scale: float = 1.0) -> View:
    """The view of an integer original-pixel region for a family and pixel budget (`scale`: random resize)."""
    x1, y1, x2, y2 = (int(v) for v in region)
    sw, sh = max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale))
    w, h = smart_size(sw, sh, family.factor, min_pixels, max_pixels)
    return View((x1, y1, x2, y2), Frame.for_family(family.coord_frame, x2 - x1, y2 - y1, w, h), (w, h))


def union_box(boxes) -> list[float]:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return [float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())]


def plan_chain(target_box, width: int, height: int, steps: int = 1) -> list[list[float]]:
    """Nested zoom boxes (original pixels) from the full image down to `target_box`.

    Step j of k has sides ``W * (w_t / W) ** (j / k)`` (geometric interpolation of the zoom factor), is centred on
    the target as far as it can be while containing it and staying inside step j-1; the last step is the target.
    """
    if steps < 1:
        raise UserError(f"zoom steps must be >= 1, got {steps}")
    tx1, ty1, tx2, ty2 = (float(v) for v in target_box)
    prev = [0.0, 0.0, float(width), float(height)]
    boxes = []
    for j in range(1, steps + 1):
        if j == steps:
            boxes.append([tx1, ty1, tx2, ty2])
            break
        box = []
        for lo_t, hi_t, lo_p, hi_p, full in ((tx1, tx2, prev[0], prev[2], width), (ty1, ty2, prev[1], prev[3], height)):
            side = full * ((hi_t - lo_t) / full) ** (j / steps)
            side = min(max(side, hi_t - lo_t), hi_p - lo_p)
            start = (lo_t + hi_t) / 2 - side / 2
            start = min(max(start, max(lo_p, hi_t - side)), min(hi_p - side, lo_t))
            box.append((start, start + side))
        prev = [box[0][0], box[1][0], box[0][1], box[1][1]]
        boxes.append(prev)
    return boxes


def _text(t: str) -> dict:
    return {"type": "text", "text": t}


def zoom_prompt(question: str) -> list[dict]:
    """System + first user turn of a zoom chain (content blocks; the image block comes first)."""
    return [
        {"role": "system", "content": [_text(ZOOM_TOOL_SYSTEM)]},
        {"role": "user", "content": [{"type": "image"}, _text(zoom_user_prompt(question))]},
    ]


def build_zoom_conversation(sample: dict, family: Family | str, *, min_pixels: int, max_pixels: int,
                            steps: int = 1, multi_evidence: str = "union",
                            image: Image.Image | None = None, scale: float = 1.0) -> dict:
    """The multi-turn SFT conversation of a `zoom_vqa` sample.

    Args:
        sample: a schema row of task zoom_vqa (target: question, answer, evidence boxes in original pixels).
        family: model family (frame and resize factor).
        min_pixels, max_pixels: pixel budget of every image in the chain.
        steps: zoom calls per chain (>1: coarse-to-fine nested boxes, see `plan_chain`).
        multi_evidence: "union" (one chain to the union of the evidence boxes) or "single_turn" (samples with
            several evidence boxes become plain single-turn VQA, as RSCoVLM trains them).
        image: the decoded original, when the caller has it already.
        scale: random-resize scale applied to every view of the chain (1.0 = off).

    Returns:
        {"messages": [...], "images": [full view, crop 1, ...], "frames": [Frame per image (dict)],
        "regions": [original-pixel region per image]}.
    """
    fam = get_family(family) if isinstance(family, str) else family
    check_choice(multi_evidence, MULTI_EVIDENCE, "multi_evidence")
    target = load_target(sample)
    evidence = target.get("evidence") or []
    original = load_rgb(image if image is not None else sample["images"][0])
    W, H = original.size
    full = make_view((0, 0, W, H), fam, min_pixels, max_pixels, scale)
    images = [resize_to(original, full.size)]
    answer = {"role": "assistant", "content": [_text(format_vqa(target["answer"]))]}
    if not evidence or (len(evidence) > 1 and multi_evidence == "single_turn"):
        messages = [{"role": "user", "content": [{"type": "image"}, _text(str(target["question"]))]}, answer]
        return {"messages": messages, "images": images, "frames": [full.frame.to_dict()], "regions": [full.region]}
    messages = zoom_prompt(str(target["question"]))
    views = [full]
    for box in plan_chain(union_box(evidence), W, H, steps):
        view = views[-1]
        call = view.to_model_box(box)
        region = crop_box(view.to_original_box(call), W, H)
        nxt = make_view(region, fam, min_pixels, max_pixels, scale)
        messages.append({"role": "assistant", "content": [_text(format_zoom_call(call))]})
        messages.append({"role": "user", "content": [{"type": "image"}, _text(ZOOM_CROP_TEXT)]})
        images.append(resize_to(original.crop(region), nxt.size))
        views.append(nxt)
    messages.append(answer)
    return {"messages": messages, "images": images, "frames": [v.frame.to_dict() for v in views],
            "regions": [v.region for v in views]}
