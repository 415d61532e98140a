"""Image I/O for the data engine: header-only size reads, decoding, and the smart-resize every rendered image gets.

Remote-sensing images are legitimately huge (LRS-VQA reaches ~27k px a side), so PIL's decompression-bomb guard
is lifted for the whole process on import of this module.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from data_engine.errors import UserError
from data_engine.resize import smart_resize

Image.MAX_IMAGE_PIXELS = None  # UHR scenes exceed PIL's default bomb limit (179 MP) on purpose

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) read from the file header only (no pixel decode).

    Raises:
        FileNotFoundError: the file does not exist.
        UserError: the file is not a readable image.
    """
    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except FileNotFoundError:
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
    im = Image.open(image)
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
