"""Coordinate frames: the one place that converts between stored coordinates and a model's coordinates.

Storage is always float pixels of the original image. A model writes coordinates in its family's frame:

- ``absolute`` (Qwen2.5-VL): pixels of the smart-resized image the model saw, ``x_m = x * W_r / W``;
- ``norm1000`` (Qwen3-VL): a 0-1000 grid on each axis, ``x_m = x / W * 1000``;
- ``pixels``: original pixels (no conversion; used when a completion is already in original pixels).

Rendering rounds to integers (`quantize`); parsing maps integers back with `from_model`. For integer model
coordinates ``k`` inside the frame, ``quantize(to_model(from_model(k))) == k`` exactly, and for stored coordinates
``|from_model(quantize(to_model(x))) - x| <= 0.5 * W / W_m`` (half a model unit).

A frame is recorded with each rendered row (`Frame.to_dict`) so rewards and evaluators parse with the very frame the
prompt was rendered with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from data_engine.errors import UserError

KINDS = ("pixels", "absolute", "norm1000")


@dataclass(frozen=True)
class Frame:
    """How a model's coordinates relate to original-image pixels.

    Attributes:
        kind: "pixels", "absolute" or "norm1000".
        orig_w, orig_h: original image size in pixels.
        model_w, model_h: size of the model's coordinate range on each axis: the resized image for "absolute",
            1000 for "norm1000", the original size for "pixels".
        grid_w, grid_h: the shown image's merged-patch grid (resized side / the family's patch x merge factor), on
            which mask answers are written (docs/formats.md §6); 0 when unknown (a frame built without a factor).
    """

    kind: str
    orig_w: float
    orig_h: float
    model_w: float
    model_h: float
    grid_w: int = 0
    grid_h: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UserError(f"frame kind must be one of {KINDS}, got {self.kind!r}")
        sizes = (self.orig_w, self.orig_h, self.model_w, self.model_h)
        if not all(0 < v < math.inf for v in sizes):  # NaN fails both comparisons, so it is refused too
            raise UserError(f"frame sizes must be positive finite numbers: {self}")
        if self.grid_w < 0 or self.grid_h < 0:
            raise UserError(f"frame grid must not be negative: {self}")

    @classmethod
    def for_family(cls, coord_frame: str, orig_w: float, orig_h: float, resized_w: int, resized_h: int,
                   factor: int | None = None) -> Frame:
        """The frame a family uses for an image of original size (orig_w, orig_h) shown at (resized_w, resized_h).

        ``factor`` (the family's patch x merge, 28 or 32) also records the shown image's grid for mask answers.
        """
        gw, gh = (int(resized_w) // int(factor), int(resized_h) // int(factor)) if factor else (0, 0)
        if coord_frame == "absolute":
            return cls("absolute", orig_w, orig_h, resized_w, resized_h, gw, gh)
        if coord_frame == "norm1000":
            return cls("norm1000", orig_w, orig_h, 1000, 1000, gw, gh)
        if coord_frame == "pixels":
            return cls("pixels", orig_w, orig_h, orig_w, orig_h, gw, gh)
        raise UserError(f"unknown coordinate frame {coord_frame!r}; expected one of {KINDS}")

    @classmethod
    def identity(cls, width: float, height: float) -> Frame:
        return cls("pixels", width, height, width, height)

    def to_dict(self) -> dict:
        # the fields are flat scalars: a plain dict equals `dataclasses.asdict` at a fraction of its cost (rewards
        # pass a frame per completion)
        d = {"kind": self.kind, "orig_w": self.orig_w, "orig_h": self.orig_h, "model_w": self.model_w,
             "model_h": self.model_h}
        if self.grid_w and self.grid_h:  # only frames that know their grid carry it (older records stay equal)
            d["grid_w"], d["grid_h"] = self.grid_w, self.grid_h
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Frame:
        try:
            return cls(str(d["kind"]), *(float(d[k]) for k in ("orig_w", "orig_h", "model_w", "model_h")),
                       int(d.get("grid_w", 0)), int(d.get("grid_h", 0)))
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"malformed frame record {d!r}: {e}") from None

    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy) with model = original * s."""
        return self.model_w / self.orig_w, self.model_h / self.orig_h


def _xy_scale(frame: Frame, n: int) -> np.ndarray:
    """(n,) vector alternating sx, sy for flat [x1, y1, x2, y2, ...] coordinates (n must be even)."""
    sx, sy = frame.scale
    return np.array([sx, sy] * (n // 2), dtype=np.float64)  # np.tile's Python overhead shows in per-reward calls


def to_model(coords, frame: Frame) -> np.ndarray:
    """Original pixels -> model frame (floats, not rounded).

    Args:
        coords: (..., 2k) array-like of interleaved x, y values (a box [x1,y1,x2,y2] or a polygon [x1,y1,...]).
        frame: the model's frame.

    Returns:
        float64 array of the same shape.
    """
    a = np.asarray(coords, dtype=np.float64)
    if a.shape[-1] % 2:
        raise UserError(f"coordinates must come in x,y pairs, got {a.shape[-1]} values")
    return a * _xy_scale(frame, a.shape[-1])


def from_model(coords, frame: Frame) -> np.ndarray:
    """Model frame -> original pixels (inverse of `to_model`). Same shapes as `to_model`."""
    a = np.asarray(coords, dtype=np.float64)
    if a.shape[-1] % 2:
        raise UserError(f"coordinates must come in x,y pairs, got {a.shape[-1]} values")
    return a / _xy_scale(frame, a.shape[-1])


def quantize(model_coords) -> np.ndarray:
    """Round model-frame coordinates to the integers a model writes (round half to even, as numpy does)."""
    return np.rint(np.asarray(model_coords, dtype=np.float64)).astype(np.int64)
