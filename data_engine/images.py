"""Image I/O for the data engine: header-only size reads, decoding, and the smart-resize every rendered image gets.

The pixel limit. A 2.6 MB PNG can declare 30000 x 30000 pixels and cost 13 s and 3.7 GB to decode (a decompression
bomb), so every image is checked against `max_image_pixels()` from its header, before any pixel is decoded:
`DEFAULT_MAX_IMAGE_PIXELS` = 16384 x 16384 (268 M pixels, ~0.8 GB as RGB). The build counts a larger image as a
skipped record ("image over pixel limit") and rendering skips it like a corrupt image. Genuine ultra-high-resolution
sources (LRS-VQA reaches ~27k px a side) raise it: `max_image_pixels:` at the top of a build recipe, in the `data:`
section of an SFT/GRPO config, or in an eval suite (e.g. 800_000_000 for 27k x 27k). PIL's own process-wide guard
stays off (`Image.MAX_IMAGE_PIXELS = None`, as in the dashboard, which checks its thumbnails after draft reduction):
this limit replaces it, and a process-wide setting would make one module's limit depend on import order.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from data_engine.errors import DataError, UserError
from data_engine.resize import smart_resize

DEFAULT_MAX_IMAGE_PIXELS = 16384 * 16384
_limit = {"pixels": DEFAULT_MAX_IMAGE_PIXELS}
Image.MAX_IMAGE_PIXELS = None  # replaced by `check_pixels` (see the module docstring)


class ImageTooLarge(DataError):
    """An image whose header declares more pixels than the pixel limit (counted as a skip, never decoded)."""


def set_max_image_pixels(pixels: int | None) -> None:
    """Set the process-wide pixel limit (None: back to the default). Raises UserError for a non-positive value."""
    value = DEFAULT_MAX_IMAGE_PIXELS if pixels is None else pixels
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserError(f"max_image_pixels must be a positive integer, got {pixels!r}")
    _limit["pixels"] = value


def max_image_pixels() -> int:
    """The current pixel limit (see the module docstring)."""
    return _limit["pixels"]


def check_pixels(width: int, height: int, path: str | Path) -> None:
    """Raise `ImageTooLarge` when a (width, height) read from a header exceeds the pixel limit."""
    if int(width) * int(height) > _limit["pixels"]:
        raise ImageTooLarge(f"{path}: {width}x{height} = {int(width) * int(height):,} pixels exceeds the pixel limit "
                            f"of {_limit['pixels']:,} (raise max_image_pixels for genuine UHR images)")


def open_image(path: str | Path) -> Image.Image:
    """`Image.open` (header only, lazy) after which the size is checked against the pixel limit."""
    im = Image.open(path)
    try:
        check_pixels(im.width, im.height, path)
    except ImageTooLarge:
        im.close()
        raise
    return im

def read_tiff(path: str | Path):
    """The pixels of a TIFF's first image series (``tifffile``, for rasters PIL does not read, such as 16-bit
    GeoTIFF bands), decoded only after the pixel count its header declares passed `check_pixels`.

    Raises:
        FileNotFoundError: the file does not exist.
        ImageTooLarge: the header declares more pixels than the pixel limit (nothing is decoded).
        UserError: the file is not a readable TIFF.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            w, h = _tiff_size(series.shape, series.axes)
            check_pixels(w, h, path)
            return series.asarray()
    except (FileNotFoundError, ImageTooLarge):
        raise
    except Exception as e:  # noqa: BLE001 - tifffile raises many types on a broken file
        raise UserError(f"{path}: not a readable TIFF ({type(e).__name__}: {e})") from None


def _tiff_size(shape: tuple, axes: str) -> tuple[int, int]:
    """(width, height) of a tifffile series; without Y/X axes, every dimension counts (the product)."""
    if "X" in axes and "Y" in axes:
        return int(shape[axes.index("X")]), int(shape[axes.index("Y")])
    n = 1
    for d in shape:
        n *= int(d)
    return n, 1


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) read from the file header only (no pixel decode).

    Raises:
        FileNotFoundError: the file does not exist.
        ImageTooLarge: the header declares more pixels than the pixel limit.
        UserError: the file is not a readable image.
    """
    try:
        with open_image(path) as im:
            return int(im.width), int(im.height)
    except (FileNotFoundError, ImageTooLarge):
        raise
    except (OSError, ValueError, SyntaxError) as e:
        raise UserError(f"{path}: not a readable image ({e})") from None


def find_image(folder: Path, stem: str, extensions=IMAGE_EXTENSIONS) -> Path | None:
    """The first existing `folder/stem.<ext>` for the given extensions (in order), or None."""
    for ext in extensions:
        p = folder / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def load_rgb(image: str | Path | Image.Image, target_size: tuple[int, int] | None = None) -> Image.Image:
    """Decode an image as RGB; with `target_size` (w, h) let JPEG decode at a reduced DCT scale first.

    `draft` only ever picks a scale >= the target, so the later resize still downsamples (no quality loss from
    upsampling), and it makes large JPEG decodes several times faster.
    """
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    im = open_image(image)
    if target_size is not None and im.format == "JPEG":
        im.draft("RGB", target_size)
    if im.mode != "RGB":
        return im.convert("RGB")
    im.load()
    return im


def resize_to(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize to exactly (w, h) with bicubic filtering (no-op when already that size)."""
    if img.size == tuple(size):
        return img
    return img.resize(tuple(size), Image.Resampling.BICUBIC, reducing_gap=2.0)


def smart_size(width: int, height: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(w, h) after smart resize; `resize.smart_resize` takes and returns (h, w), this wrapper (w, h)."""
    h, w = smart_resize(int(height), int(width), factor, min_pixels, max_pixels)
    return w, h


def check_budget(min_pixels: int, max_pixels: int, factor: int) -> None:
    """Fail early on a pixel budget that cannot hold even one factor x factor patch group."""
    if max_pixels < factor * factor:
        raise UserError(f"max_pixels={max_pixels} is below one {factor}x{factor} token; raise it")
    if min_pixels > max_pixels:
        raise UserError(f"min_pixels ({min_pixels}) > max_pixels ({max_pixels})")
