"""Hostile inputs to the dashboard: data files symlinked out of the run, foreign Host headers (DNS rebinding),
the security headers on error pages, and decompression-bomb images."""

from __future__ import annotations

import json
import shutil
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from rollout.store import RolloutReader, RolloutWriter

LEAK = "LEAKED-FROM-OUTSIDE"


def _client(app, host: str = "127.0.0.1:8765"):
    from starlette.testclient import TestClient

    return TestClient(app, base_url=f"http://{host}")


def _rows(step: int, group: str, text: str) -> list[dict]:
    return [{"step": step, "group": group, "sample_id": "s", "task": "vqa", "source": "synth", "generation": g,
             "prompt": text, "completion": text, "turns": "[]", "prediction": json.dumps({"answer": text}),
             "target": json.dumps({"answer": "x"}), "reward": 0.5, "advantage": 0.0, "images": [],
             "length": 3, "truncated": False} for g in range(2)]


@pytest.fixture()
def escape_run(tmp_path: Path) -> dict[str, Path]:
    """A run whose step 1 file, whose second run's whole rollouts/ folder, and whose eval dir's predictions.jsonl
    are symlinks to files outside both runs; step 0 is genuine."""
    outside = tmp_path / "outside"
    RolloutWriter(outside).write_step(1, _rows(1, "leak", LEAK))
    RolloutWriter(outside).write_step(0, _rows(0, "leak", LEAK))
    (outside / "predictions.jsonl").write_text(json.dumps({"id": "x", "task": "vqa", "completion": LEAK}) + "\n")
    run = tmp_path / "run"
    RolloutWriter(run).write_step(0, _rows(0, "own", "inside"))
    (run / "rollouts" / "step_00000001.parquet").symlink_to(outside / "rollouts" / "step_00000001.parquet")
    ev = run / "eval" / "e"
    ev.mkdir(parents=True)
    (ev / "metrics.json").write_text(json.dumps({"model": "m", "metrics": {}}))
    (ev / "predictions.jsonl").symlink_to(outside / "predictions.jsonl")
    linked = tmp_path / "linked_run"
    linked.mkdir()
    (linked / "rollouts").symlink_to(outside / "rollouts", target_is_directory=True)
    return {"run": run, "linked": linked, "outside": outside}


def test_data_files_symlinked_out_of_the_run_are_not_read(escape_run):
    from dashboard.app import create_app

    # Without the guard a plain reader follows the links (this is what the dashboard used to show).
    assert RolloutReader(escape_run["run"]).steps() == [0, 1]
    with _client(create_app([escape_run["run"], escape_run["linked"]])) as c:
        overview = c.get("/run/0")
        assert overview.status_code == 200 and "/run/0/step/0" in overview.text and "/run/0/step/1" not in overview.text
        assert c.get("/run/0/step/1").status_code == 404
        assert c.get("/run/0/rollout?step=1&group=leak&gen=0").status_code == 404
        assert "inside" in c.get("/run/0/step/0").text
        assert "No rollout store" in c.get("/run/1").text and c.get("/run/1/step/0").status_code == 404
        ev = c.get("/eval/0.0")
        assert ev.status_code == 200 and "leads out of the run directory" in ev.text
        assert c.get("/eval/0.0/sample?id=x").status_code == 404
        for url in ("/run/0", "/run/0/step/0", "/run/1", "/eval/0.0", "/eval/0.0/sample?id=x", "/compare",
                    "/run/0/charts.json", "/run/1/charts.json"):
            assert LEAK not in c.get(url).text, url


def test_index_symlinked_out_of_the_run_is_ignored(tmp_path):
    from dashboard.app import create_app

    outside = tmp_path / "outside"
    RolloutWriter(outside).write_step(0, _rows(0, "x", LEAK))
    run = tmp_path / "run"
    RolloutWriter(run).write_step(0, _rows(0, "own", "inside"))
    index = run / "rollouts" / "index.jsonl"
    index.unlink()
    bogus = outside / "rollouts" / "index.jsonl"
    bogus.write_text(json.dumps({"step": 0, "rows": 999, "tasks": {LEAK: {}}}) + "\n")
    index.symlink_to(bogus)
    with _client(create_app([run])) as c:
        page = c.get("/run/0").text
    assert LEAK not in page and ">2<" in page  # the step's own 2 rows, summarised from its file


@pytest.mark.parametrize("host, ok", [
    ("127.0.0.1:8765", True), ("localhost:8765", True), ("[::1]:8765", True), ("127.0.0.1", True),
    ("evil.example:8765", False), ("evil.example", False), ("127.0.0.1.nip.io:8765", False), ("", False),
    ("10.1.2.3:8765", False),
])
def test_host_header_must_name_the_bound_address(app, host, ok):
    r = _client(app, host).get("/") if host else _raw(app, b"")
    assert (r.status_code == 200) == ok, (host, r.status_code)
    if not ok:
        assert r.status_code == 400 and "refused: Host" in r.text


def _raw(app, host: bytes):
    with _client(app) as c:
        return c.get("/", headers={"host": host.decode()})


def test_host_rules_per_bind_address():
    from dashboard.security import host_allowed

    assert host_allowed("192.168.1.5:80", "0.0.0.0") and host_allowed("localhost", "0.0.0.0")
    assert not host_allowed("evil.example", "0.0.0.0")
    assert host_allowed("box.lan:8765", "box.lan") and not host_allowed("evil.example", "box.lan")
    assert host_allowed("10.0.0.7:1", "10.0.0.7") and not host_allowed("10.0.0.8", "10.0.0.7")
    assert not host_allowed("localhost.evil.example", "127.0.0.1")


@pytest.mark.parametrize("url", ["/", "/run/9", "/run/0/step/0?page=x", "/thumb/7/x.png", "/thumb/0/escape.png",
                                 "/static/nope.css", "/static/style.css", "/thumb/0/images/scene_0.png"])
def test_nosniff_on_every_response(client, url):
    r = client.get(url)
    assert r.headers["x-content-type-options"] == "nosniff", (url, r.status_code)
    assert r.headers["x-frame-options"] == "DENY"


def test_nosniff_on_refused_host(app):
    r = _client(app, "evil.example").get("/")
    assert r.status_code == 400 and r.headers["x-content-type-options"] == "nosniff"


def _png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG that declares w x h (1-bit grey) but carries one compressed row: what a bomb's header looks like.
    Nothing may decode it, so its truncated data never matters."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (w // 8 + 1)))
                     + chunk(b"IEND", b""))


def test_decompression_bomb_thumbnail_is_refused_fast(tmp_path, run_dirs):
    from dashboard.app import create_app
    from dashboard.files import MAX_DECODE_PIXELS, ThumbnailCache, TooLarge

    run = tmp_path / "bombrun"
    shutil.copytree(run_dirs["run"], run, symlinks=True)
    _png_header_only(run / "bomb.png", 30000, 30000)
    with Image.open(run / "bomb.png") as im:
        assert im.size == (30000, 30000)
    t0 = time.perf_counter()
    with pytest.raises(TooLarge, match=r"bomb.png: 30000x30000 pixels \(900 MP\) exceed the dashboard's decode "
                                       r"limit of 100 MP"):
        ThumbnailCache().get(run / "bomb.png", 320)
    assert time.perf_counter() - t0 < 1.0
    assert MAX_DECODE_PIXELS == 100_000_000
    with _client(create_app([run])) as c:
        r = c.get("/thumb/0/bomb.png?w=320")
    assert r.status_code == 413 and "exceed the dashboard's decode limit" in r.text


def test_big_jpeg_previews_through_draft_reduction(tmp_path):
    """A 2400 x 1600 JPEG is 3.84 MP; with a 0.1 MP limit it is still thumbnailed, because the JPEG decoder
    decodes at 1/8 scale (300 x 200 = 0.06 MP); the same pixels as PNG (no reduced decode) are refused."""
    from dashboard.files import ThumbnailCache, TooLarge, preview_refusal

    im = Image.new("RGB", (2400, 1600), (10, 120, 200))
    im.save(tmp_path / "big.jpg", quality=80)
    im.save(tmp_path / "big.png")
    cache = ThumbnailCache(max_pixels=100_000)
    data, media = cache.get(tmp_path / "big.jpg", 160)
    assert media == "image/jpeg"
    from io import BytesIO

    with Image.open(BytesIO(data)) as th:
        assert th.size == (160, 107)
    assert preview_refusal(tmp_path / "big.jpg", 100_000, 160) is None
    with pytest.raises(TooLarge, match="2400x1600"):
        cache.get(tmp_path / "big.png", 160)
    assert "2400x1600" in preview_refusal(tmp_path / "big.png", 100_000)


def test_refused_image_shows_its_reason_in_the_page(tmp_path):
    from dashboard.app import create_app

    run = tmp_path / "run"
    img = run / "scene.png"
    run.mkdir()
    _png_header_only(img, 30000, 30000)
    rows = _rows(0, "g", "look")
    for r in rows:
        r["images"] = [str(img)]
    RolloutWriter(run).write_step(0, rows)
    with _client(create_app([run])) as c:
        page = c.get("/run/0/step/0").text
    assert "image not previewed: scene.png: 30000x30000 pixels" in page and "/thumb/0/scene.png" not in page
