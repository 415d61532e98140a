"""Helpers for data-engine tests: tiny image files and a tiny synthetic world + build, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


def write_image(path: Path, w: int = 64, h: int = 48, colour=(90, 120, 60)) -> Path:
    """A plain image in the format the suffix names (size is what adapters read back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), colour).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_rows(tiny_world):
    """Built rows of the tiny world as plain dicts."""
    from data_engine.build import load_built

    return list(load_built(tiny_world[1]))
