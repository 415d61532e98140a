"""The one rule for turning an id or a name (sample ids, dataset names: user data) into a file name."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: object, max_len: int = 120) -> str:
    """`name` as a file-name component: runs of characters outside ``[A-Za-z0-9._-]`` become ``_``, a leading dot
    becomes ``_`` (no hidden files, never ``.`` or ``..``), cut to `max_len` characters; never empty."""
    out = _UNSAFE.sub("_", str(name))[:max_len]
    if out.startswith("."):
        out = "_" + out[1:]
    return out or "_"
