"""Decompression bombs: an image over the pixel limit is refused from its header, counted, never decoded; the limit
is configurable for genuine UHR images (issue 19, item 12, data engine and rendering)."""

from __future__ import annotations

import json
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
import yaml

from data_engine import images
from data_engine.build import build
from data_engine.errors import DataError, UserError


def _png_bomb(path: Path, side: int) -> Path:
    """A valid PNG of side x side grey pixels, all zero: ~0.4 MB on disk for 20000^2 (0.4 G pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(side)
    comp = zlib.compressobj(1)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def limit():
    yield images.set_max_image_pixels
    images.set_max_image_pixels(None)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    return _png_bomb(tmp_path_factory.mktemp("bomb") / "bomb.png", 20000)


def test_the_default_limit_is_documented_and_refuses_a_bomb_before_decoding(bomb, limit):
    assert images.max_image_pixels() == images.DEFAULT_MAX_IMAGE_PIXELS == 16384 * 16384
    assert bomb.stat().st_size < 2_000_000
    tracemalloc.start()
    t = time.perf_counter()
    with pytest.raises(images.ImageTooLarge, match="20000x20000 = 400,000,000 pixels exceeds the pixel limit"):
        images.image_size(bomb)
    with pytest.raises(DataError):
        images.load_rgb(bomb)
    from PIL import Image

    assert Image.MAX_IMAGE_PIXELS is None  # PIL's process-wide guard stays off: this limit replaces it
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - t < 1.0 and peak < 50_000_000


def test_the_build_counts_a_bomb_and_a_recipe_can_raise_the_limit(bomb, tmp_path, limit):
    scenes = tmp_path / "scenes" / "harbor"
    scenes.mkdir(parents=True)
    (scenes / "bomb.png").symlink_to(bomb)
    from PIL import Image

    Image.new("RGB", (64, 64)).save(scenes / "ok.png")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"sources": [{"name": "s", "format": "folder_classification", "root": "scenes"}]}))
    s = build(recipe, tmp_path / "built", progress=False)
    assert s["num_samples"] == 1 and s["sources"][0]["skipped_by_reason"] == {"image over pixel limit": 1}
    # A genuine UHR source: the recipe raises the limit for its build (27k x 27k fits, the header read stays cheap).
    recipe.write_text(yaml.safe_dump({"max_image_pixels": 27000 * 27000, "sources": [
        {"name": "s", "format": "folder_classification", "root": "scenes"}]}))
    s = build(recipe, tmp_path / "built2", progress=False)
    assert s["num_samples"] == 2 and s["num_skipped"] == 0
    with pytest.raises(UserError, match="max_image_pixels must be a positive integer"):
        recipe.write_text(yaml.safe_dump({"max_image_pixels": "big", "sources": [
            {"name": "s", "format": "folder_classification", "root": "scenes"}]}))
        build(recipe, tmp_path / "built3", progress=False)


def test_rendering_skips_an_image_over_the_limit_as_a_data_fault(tiny_world, limit):
    from datasets import load_from_disk

    from data_engine.render import render_grpo

    row = next(r for r in load_from_disk(str(tiny_world[1])) if r["task"] == "classification")
    render_grpo(row, "qwen2_5_vl", min_pixels=3136, max_pixels=12544)
    limit(row["width"] * row["height"] - 1)
    with pytest.raises(images.ImageTooLarge):
        render_grpo(row, "qwen2_5_vl", min_pixels=3136, max_pixels=12544)


def test_data_and_suite_configs_carry_the_limit():
    from georft.config import load_config
    from rl.config import GRPORunConfig

    cfg = load_config(GRPORunConfig, None, ["data.sources=[{path: x}]", "model.path=x",
                                            "data.max_image_pixels=800000000"])
    assert cfg.data.max_image_pixels == 800_000_000
    with pytest.raises(UserError, match="data.max_image_pixels must be > 0"):
        load_config(GRPORunConfig, None, ["data.sources=[{path: x}]", "model.path=x", "data.max_image_pixels=0"])
    json.dumps(cfg.data.max_image_pixels)
