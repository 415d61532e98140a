"""Which files the dashboard may serve, and their thumbnails.

Only files under the allowed roots (the run directories given on the command line, plus any `--images-root`)
are served. A request names a root by index and a path relative to it; the path is refused when it is absolute,
contains `..`, or resolves (symlinks followed) outside that root. Every data file the dashboard reads itself
(rollout step files, `index.jsonl`, `metrics.json`, `predictions.jsonl`) passes the same test (`inside`).

Thumbnails are decoded with PIL's draft mode (JPEG decodes at 1/2..1/8 scale directly) and cached in memory by
(path, mtime, width). An image whose pixel count after that reduction exceeds `MAX_DECODE_PIXELS` (default
100 MP, `georft dashboard --max-image-pixels`) is refused with a message instead of decoded: a 30000 x 30000
PNG (a 2.6 MB decompression bomb) would otherwise take ~20 s and ~4 GB for one thumbnail. PIL's own bomb check
is switched off because this limit replaces it, and unlike PIL's it applies after draft reduction, so genuine
UHR JPEG scenes still preview.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

Image.MAX_IMAGE_PIXELS = None  # UHR remote-sensing scenes exceed PIL's bomb limit on purpose

# Pixels (width x height after draft reduction) the dashboard decodes for one thumbnail: ~300 MB of RGB, ~2 s.
MAX_DECODE_PIXELS = 100_000_000
THUMB_WIDTHS = (160, 320, 640, 1024)  # allowed sizes: a fixed set keeps the cache small and bounded
_CACHE_ENTRIES = 512


class Forbidden(Exception):
    """The requested path is outside every allowed root (HTTP 403)."""


class TooLarge(ValueError):
    """The image exceeds the decode limit; the message names the file, its size and the limit."""


def inside(path: Path, root: Path) -> bool:
    """True when `path`, symlinks followed, is `root` or lies under it (`root` already resolved)."""
    try:
        return Path(path).resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a symlink loop
        return False


class Roots:
    """The allowed roots, resolved once at start.

    Args:
        roots: directories whose files may be served, in the order their index appears in URLs.
    """

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [Path(r).resolve() for r in roots]

    def resolve(self, root: int, rel: str) -> Path:
        """The real path of `rel` under root `root`.

        Raises:
            Forbidden: unknown root, absolute path, `..`, or a symlink leading outside the root.
            FileNotFoundError: inside the root but not a file.
        """
        if not 0 <= root < len(self.roots):
            raise Forbidden(f"no root {root}")
        pure = PurePosixPath(rel)
        if not rel or rel.startswith(("/", "\\")) or pure.is_absolute() or ".." in pure.parts or "\\" in rel \
                or "\x00" in rel or ":" in pure.parts[0]:
            raise Forbidden(rel)
        base = self.roots[root]
        path = (base / pure).resolve()
        if not path.is_relative_to(base):
            raise Forbidden(rel)
        if not path.is_file():
            raise FileNotFoundError(rel)
        return path

    def locate(self, path: str | Path, relative_to: Path | None = None) -> tuple[int, str] | None:
        """(root index, relative path) of a file referenced by the data, or None when it is outside every root.

        Relative paths in the data are taken relative to `relative_to` (the run directory) when given.
        """
        p = Path(path)
        if not p.is_absolute() and relative_to is not None:
            p = relative_to / p
        try:
            real = p.resolve()
        except (OSError, RuntimeError):
            return None
        for k, base in enumerate(self.roots):
            if real.is_relative_to(base):
                return k, real.relative_to(base).as_posix()
        return None


class ThumbnailCache:
    """Encoded thumbnails, least recently used dropped first; safe to call from the server's worker threads."""

    def __init__(self, entries: int = _CACHE_ENTRIES, max_pixels: int = MAX_DECODE_PIXELS) -> None:
        self.entries = entries
        self.max_pixels = max_pixels
        self._cache: OrderedDict[tuple, tuple[bytes, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, width: int) -> tuple[bytes, str]:
        """(bytes, media type) of `path` scaled to at most `width` pixels wide (never enlarged).

        Raises:
            TooLarge: more than `max_pixels` pixels even after draft reduction.
            ValueError: the file is not a readable image.
        """
        key = (str(path), path.stat().st_mtime_ns, width)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = _encode_thumbnail(path, width, self.max_pixels)
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self.entries:
                self._cache.popitem(last=False)
        return value


def _encode_thumbnail(path: Path, width: int, max_pixels: int) -> tuple[bytes, str]:
    try:
        with Image.open(path) as im:
            check_decode_size(im, path.name, width, max_pixels)
            im.thumbnail((width, 10 * width), reducing_gap=2.0)
            buf = io.BytesIO()
            if im.mode in ("RGBA", "LA", "P"):
                im.convert("RGBA").save(buf, "PNG", optimize=False)
                return buf.getvalue(), "image/png"
            im.convert("RGB").save(buf, "JPEG", quality=85)
            return buf.getvalue(), "image/jpeg"
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"not a readable image: {e}") from None


def check_decode_size(im: Image.Image, name: str, width: int, max_pixels: int) -> None:
    """Ask the decoder for a reduced decode (JPEG: 1/2..1/8 scale) near `width`, then refuse the image when what
    would still be decoded exceeds `max_pixels`.

    Raises:
        TooLarge: with the file name, the header size and the limit.
    """
    full = im.size
    im.draft("RGB", (width, max(1, width * im.height // max(im.width, 1))))
    if im.width * im.height > max_pixels:
        raise TooLarge(f"{name}: {full[0]}x{full[1]} pixels ({full[0] * full[1] / 1e6:.0f} MP) exceed the "
                       f"dashboard's decode limit of {max_pixels / 1e6:.0f} MP (raise it with "
                       f"--max-image-pixels for genuine UHR images)")


def preview_refusal(path: Path, max_pixels: int, width: int = THUMB_WIDTHS[-1]) -> str | None:
    """The refusal message a thumbnail of `path` would get (header only, nothing decoded), or None."""
    try:
        with Image.open(path) as im:
            check_decode_size(im, path.name, width, max_pixels)
    except TooLarge as e:
        return str(e)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return None


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the header, or None when unreadable."""
    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
