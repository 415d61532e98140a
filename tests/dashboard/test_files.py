"""Only files under the allowed roots are served: traversal, absolute paths and symlinks out are refused."""

from __future__ import annotations

import pytest

from dashboard.files import Forbidden, Roots, ThumbnailCache


def test_resolve_inside_and_refusals(run_dirs):
    roots = Roots([run_dirs["run"]])
    assert roots.resolve(0, "images/scene_0.png") == run_dirs["image"].resolve()
    for bad in ("../outside/secret.txt", "images/../../outside/secret.txt", "/etc/passwd", str(run_dirs["image"]),
                "escape.png", "escape_dir/secret.txt", "..", "", "C:/x", "images\\..\\..\\x", "a\x00b"):
        with pytest.raises(Forbidden):
            roots.resolve(0, bad)
    with pytest.raises(Forbidden):
        roots.resolve(1, "images/scene_0.png")
    with pytest.raises(FileNotFoundError):
        roots.resolve(0, "images/nope.png")
    with pytest.raises(FileNotFoundError):
        roots.resolve(0, "images")


def test_locate(run_dirs):
    roots = Roots([run_dirs["run"]])
    assert roots.locate(run_dirs["image"]) == (0, "images/scene_0.png")
    assert roots.locate("crops/zoom_0.png", run_dirs["run"]) == (0, "crops/zoom_0.png")
    assert roots.locate(run_dirs["outside"] / "secret.png") is None
    # a symlink inside the run that leads out is located where it really is: outside
    assert roots.locate(run_dirs["run"] / "escape.png") is None


def test_thumbnail_width_and_cache(run_dirs):
    cache = ThumbnailCache(entries=1)
    data, media = cache.get(run_dirs["image"], 160)
    assert media == "image/jpeg" and data[:2] == b"\xff\xd8"
    from io import BytesIO

    from PIL import Image

    assert Image.open(BytesIO(data)).size == (160, 120)
    assert cache.get(run_dirs["image"], 160)[0] is data
    with pytest.raises(ValueError):
        cache.get(run_dirs["outside"] / "secret.txt", 160)
