"""Dynamic resolution: Qwen-VL smart resize, done by us before TRL or vLLM see an image.

Pre-resizing to sides that are multiples of the family's factor, with an area inside the pixel budget, makes the
trainer's processor and vLLM's (checkpoint) processor both no-ops, so both count the same image tokens.
"""

from __future__ import annotations

import math

from data_engine.errors import DataError, UserError

MAX_ASPECT_RATIO = 200


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Target (height, width) for an image, by the rule of qwen_vl_utils / transformers' Qwen2-VL processor.

    Sides become multiples of `factor` with `min_pixels <= h*w <= max_pixels`, aspect ratio kept approximately.

    Args:
        height, width: original size in pixels.
        factor: patch_size * merge_size (28 for Qwen2.5-VL, 32 for Qwen3-VL).
        min_pixels, max_pixels: pixel budget.

    Returns:
        (resized_height, resized_width).
    """
    if height <= 0 or width <= 0:
        raise DataError(f"image size must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise DataError(f"aspect ratio of a {width}x{height} image exceeds {MAX_ASPECT_RATIO}")
    if min_pixels > max_pixels:
        raise UserError(f"min_pixels ({min_pixels}) > max_pixels ({max_pixels})")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def image_tokens(resized_height: int, resized_width: int, factor: int) -> int:
    """Number of `<|image_pad|>` tokens for an image already smart-resized with `factor`."""
    return (resized_height // factor) * (resized_width // factor)
