"""Reading a user's image or georeferenced scene as RGB windows, through rasterio (GDAL), never whole at full size.

Every input — GeoTIFF, PNG, JPEG, any format GDAL reads — is opened with `rasterio.open` (header only). Pixels are
read per window (`Scene.read`): a window at full resolution for tiled tasks, or the whole scene *decimated* to the
pixel budget (`out_shape`, which GDAL serves from overviews when the file has them), so a raster over the pixel
limit is never decoded whole. Pixel coordinates are continuous with (0, 0) at the top-left corner of the top-left
pixel, the convention of the raster's affine geotransform (``transform * (col, row)`` maps a pixel corner to the
CRS), of our stored polygons and of DOTA.

Bands: ``bands`` (1-based, rasterio's numbering) when given; else the bands GDAL labels red, green, blue; else the
first three; a one- or two-band raster is shown as grey (its first band). 8-bit data is shown as is; any other
data type is stretched linearly between the 2nd and 98th percentile of each band, measured once per scene on a
decimated read (at most `STATS_SIDE` pixels a side), and clipped to 0-255.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from data_engine.errors import UserError

STATS_SIDE = 1024  # longer side of the decimated read the percentile stretch is measured on
STRETCH_PERCENTILES = (2.0, 98.0)


@dataclass
class Scene:
    """One opened raster (header only until `read`).

    Attributes:
        path: the file.
        width, height: size in pixels.
        crs: the raster's CRS (a `rasterio.crs.CRS`), None when it has none.
        transform: the affine geotransform pixel -> CRS (`affine.Affine`; the identity when not georeferenced).
        bands: the 1-based band indexes read as R, G, B (one index for grey).
        dtype: the raster's data type.
    """

    path: Path
    width: int
    height: int
    crs: Any
    transform: Any
    bands: tuple[int, ...]
    dtype: str
    _ds: Any = None
    _stretch: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def georeferenced(self) -> bool:
        """True when the raster has a CRS and a non-identity geotransform (a plain PNG has neither)."""
        from affine import Affine

        return self.crs is not None and self.transform != Affine.identity()

    def close(self) -> None:
        if self._ds is not None:
            self._ds.close()
            self._ds = None

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, window: tuple[int, int, int, int] | None = None, out_size: tuple[int, int] | None = None
             ) -> Image.Image:
        """The RGB image of ``window`` ([x1, y1, x2, y2] scene pixels inside the scene; None = the whole scene),
        resampled to ``out_size`` (w, h) when given (GDAL decimates while reading: nothing larger is decoded).

        Raises:
            UserError: the window leaves the scene, or GDAL fails to read it (one line naming the file).
        """
        from rasterio.enums import Resampling
        from rasterio.windows import Window

        x1, y1, x2, y2 = window if window is not None else (0, 0, self.width, self.height)
        if not (0 <= x1 < x2 <= self.width and 0 <= y1 < y2 <= self.height):
            raise UserError(f"{self.path}: window {[x1, y1, x2, y2]} leaves the {self.width}x{self.height} scene")
        w, h = (x2 - x1, y2 - y1) if out_size is None else (int(out_size[0]), int(out_size[1]))
        try:
            data = self._ds.read(indexes=list(self.bands), window=Window(x1, y1, x2 - x1, y2 - y1),
                                 out_shape=(len(self.bands), h, w), resampling=Resampling.bilinear)
        except Exception as e:  # noqa: BLE001 - rasterio raises its own error types for every GDAL failure
            raise UserError(f"{self.path}: cannot read pixels ({_first_line(e)})") from None
        return Image.fromarray(self._to_uint8(data))

    def _to_uint8(self, data: np.ndarray) -> np.ndarray:
        """(B, h, w) raster values -> (h, w, 3) uint8 (grey replicated; non-8-bit data stretched)."""
        if data.dtype != np.uint8:
            lo, hi = self._stretch_limits()
            scaled = (data.astype(np.float64) - lo[:, None, None]) / np.maximum(hi - lo, 1e-12)[:, None, None]
            data = np.clip(np.nan_to_num(scaled * 255.0), 0, 255).astype(np.uint8)
        if data.shape[0] == 1:
            data = np.repeat(data, 3, axis=0)
        return np.ascontiguousarray(np.moveaxis(data, 0, -1))

    def _stretch_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-band (lo, hi) of the percentile stretch, measured once on a decimated read of the whole scene."""
        if self._stretch is None:
            from rasterio.enums import Resampling

            s = min(1.0, STATS_SIDE / max(self.width, self.height))
            shape = (len(self.bands), max(1, round(self.height * s)), max(1, round(self.width * s)))
            sample = self._ds.read(indexes=list(self.bands), out_shape=shape, resampling=Resampling.nearest,
                                   masked=True).astype(np.float64).filled(np.nan)
            flat = sample.reshape(len(self.bands), -1)
            lo = np.array([_nanpercentile(b, STRETCH_PERCENTILES[0]) for b in flat])
            hi = np.array([_nanpercentile(b, STRETCH_PERCENTILES[1]) for b in flat])
            self._stretch = (lo, hi)
        return self._stretch


def _nanpercentile(values: np.ndarray, q: float) -> float:
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, q)) if finite.size else 0.0


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _pick_bands(ds, bands: tuple[int, ...] | None, path: Path) -> tuple[int, ...]:
    from rasterio.enums import ColorInterp

    if bands:
        bad = [b for b in bands if not 1 <= b <= ds.count]
        if bad or len(bands) not in (1, 3):
            raise UserError(f"{path}: --bands must name 1 or 3 of its {ds.count} bands (1-based), got {list(bands)}")
        return tuple(int(b) for b in bands)
    interp = list(ds.colorinterp)
    rgb = [interp.index(c) + 1 for c in (ColorInterp.red, ColorInterp.green, ColorInterp.blue) if c in interp]
    if len(rgb) == 3:
        return tuple(rgb)
    return (1, 2, 3) if ds.count >= 3 else (1,)


def open_scene(path: str | Path, bands: tuple[int, ...] | None = None) -> Scene:
    """Open a raster (header only).

    Raises:
        FileNotFoundError: no such file.
        UserError: GDAL cannot open it as a raster (one line naming the file).
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"input not found: {p}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a plain PNG: reported as not georeferenced
            ds = rasterio.open(p)
    except Exception as e:  # noqa: BLE001 - rasterio's RasterioIOError and GDAL's CPLE_* errors
        raise UserError(f"{p}: not a readable image ({_first_line(e)})") from None
    try:
        chosen = _pick_bands(ds, bands, p)
    except UserError:
        ds.close()
        raise
    return Scene(p, int(ds.width), int(ds.height), ds.crs, ds.transform, chosen, str(ds.dtypes[0]), _ds=ds)


class LazyOriginal:
    """A scene's full-resolution original as the zoom-chain executor uses it (``width``, ``height``, ``crop``),
    reading each crop as a window instead of decoding the whole scene; a crop larger than ``max_side`` a side is
    decimated while read (the executor smart-resizes it to the pixel budget anyway)."""

    def __init__(self, scene: Scene, max_side: int) -> None:
        self.scene, self.max_side = scene, int(max_side)
        self.width, self.height = scene.width, scene.height

    def crop(self, region) -> Image.Image:
        x1, y1, x2, y2 = (int(v) for v in region)
        x1, y1 = max(0, x1), max(0, y1)
        x2, y2 = min(self.width, max(x2, x1 + 1)), min(self.height, max(y2, y1 + 1))
        s = min(1.0, self.max_side / max(x2 - x1, y2 - y1))
        out = (max(1, round((x2 - x1) * s)), max(1, round((y2 - y1) * s)))
        return self.scene.read((x1, y1, x2, y2), out)
