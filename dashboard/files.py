"""Which files the dashboard may serve, and their thumbnails.

Only files under the allowed roots (the run directories given on the command line, plus any `--images-root`)
are served. A request names a root by index and a path relative to it; the path is refused when it is absolute,
contains `..`, or resolves (symlinks followed) outside that root. Thumbnails are decoded with PIL's draft mode
(JPEG decodes at 1/2..1/8 scale directly) and cached in memory by (path, mtime, width).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

Image.MAX_IMAGE_PIXELS = None  # UHR remote-sensing scenes exceed PIL's bomb limit on purpose

THUMB_WIDTHS = (160, 320, 640, 1024)  # allowed sizes: a fixed set keeps the cache small and bounded
_CACHE_ENTRIES = 512


class Forbidden(Exception):
    """The requested path is outside every allowed root (HTTP 403)."""


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

    def __init__(self, entries: int = _CACHE_ENTRIES) -> None:
        self.entries = entries
        self._cache: OrderedDict[tuple, tuple[bytes, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, width: int) -> tuple[bytes, str]:
        """(bytes, media type) of `path` scaled to at most `width` pixels wide (never enlarged).

        Raises:
            ValueError: the file is not a readable image.
        """
        key = (str(path), path.stat().st_mtime_ns, width)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = _encode_thumbnail(path, width)
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self.entries:
                self._cache.popitem(last=False)
        return value


def _encode_thumbnail(path: Path, width: int) -> tuple[bytes, str]:
    try:
        with Image.open(path) as im:
            im.draft("RGB", (width, max(1, width * im.height // max(im.width, 1))))
            im.thumbnail((width, 10 * width))
            buf = io.BytesIO()
            if im.mode in ("RGBA", "LA", "P"):
                im.convert("RGBA").save(buf, "PNG", optimize=False)
                return buf.getvalue(), "image/png"
            im.convert("RGB").save(buf, "JPEG", quality=85)
            return buf.getvalue(), "image/jpeg"
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"not a readable image: {e}") from None


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the header, or None when unreadable."""
    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
