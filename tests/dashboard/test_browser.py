"""The dashboard in headless Chromium: a real uvicorn on 127.0.0.1 in a thread, driven by Playwright.

Needs the `playwright` Python package (dev extra) and Debian's Chromium at /usr/bin/chromium (`make browser-deps`);
Playwright's own browser download is never used. Skipped, with the reason, when either is missing. Screenshots
of each view go to `artifacts/dashboard/` (gitignored; override with GEORFT_ARTIFACTS); the path is printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("GEORFT_CHROMIUM", "/usr/bin/chromium")
# The flags this machine needs (see the machine notes): no sandbox as root, no background network calls.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server(run_dirs):
    import uvicorn

    from dashboard.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app([run_dirs["run"], run_dirs["empty"]]), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    pw_api = pytest.importorskip("playwright.sync_api", reason="python package playwright not installed (dev extra)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: run `make browser-deps` (Debian packages chromium)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with pw_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000})
        except pw_api.Error as e:
            pytest.skip(f"Chromium at {CHROMIUM} did not start: {str(e).splitlines()[0]}")
        pg = browser.new_page()
        pg.bad_responses = []
        pg.on("response", lambda r: pg.bad_responses.append((r.status, r.url)) if r.status >= 400 else None)
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    d = Path(os.environ.get("GEORFT_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts")) / "dashboard"
    d.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {d}")
    return d


def _open(page, url: str, shots: Path, name: str) -> None:
    page.bad_responses.clear()
    page.goto(url, wait_until="load")
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert page.bad_responses == [], page.bad_responses


def _loaded(page, selector: str) -> list[int]:
    """naturalWidth of each matching <img> (0 = broken or not loaded)."""
    return page.eval_on_selector_all(selector, "els => els.map(e => e.complete ? e.naturalWidth : 0)")


def test_views_render_in_chromium(server, page, shots):
    _open(page, f"{server}/run/0", shots, "overview")
    widths = _loaded(page, "img.plot")
    assert len(widths) == 4 and all(w > 300 for w in widths), widths

    _open(page, f"{server}/run/0/step/0", shots, "step")
    group = page.locator('section.group[data-group="detection-s0"]')
    assert group.locator("article.completion").count() == 4
    assert group.locator("article.completion.best").count() == 1
    assert group.locator("article.completion.worst").count() == 1
    boxes = [group.locator("article.completion").nth(k).bounding_box() for k in range(4)]
    assert len({round(b["x"]) for b in boxes}) == 4 and len({round(b["y"]) for b in boxes}) == 1  # side by side
    assert all(w > 0 for w in _loaded(page, "section.group .fig img"))

    _open(page, f"{server}/run/0/rollout?step=0&group=detection-s0&gen=0", shots, "sample")
    assert _loaded(page, ".fig.big img")[0] > 0
    polys = page.locator(".fig.big svg polygon")
    assert polys.count() == 4
    fig = page.locator(".fig.big").bounding_box()
    plane = polys.nth(0).bounding_box()  # GT plane x 40..120, y 40..100 of a 320x240 image: centre (80, 70)
    # Centres, not edges: the box's stroke widens its bounding box by a few pixels.
    assert plane["x"] + plane["width"] / 2 - fig["x"] == pytest.approx(fig["width"] * 80 / 320, abs=2)
    assert plane["y"] + plane["height"] / 2 - fig["y"] == pytest.approx(fig["height"] * 70 / 240, abs=2)
    assert plane["width"] == pytest.approx(fig["width"] * 80 / 320, abs=16)
    assert polys.nth(1).get_attribute("data-status") == "miss"
    polys.nth(3).hover()  # the false alarm: its <title> is the hover label
    assert polys.nth(3).locator("title").text_content() == "pred tank (false alarm)"

    _open(page, f"{server}/run/0/rollout?step=0&group=zoom_vqa-s0&gen=0", shots, "zoom")
    assert page.locator("li.turn").count() == 2
    crops = _loaded(page, "li.turn .fig.crop img")
    assert len(crops) == 2 and all(w > 0 for w in crops)
    assert page.locator("li.turn svg polygon").count() == 2

    _open(page, f"{server}/compare", shots, "compare")
    assert page.locator("tr.pair").count() == 6
    assert all(w > 0 for w in _loaded(page, "tr.pair .fig img"))
    det = page.locator("tr.pair", has_text="detection-0")
    roles = det.locator("svg polygon").evaluate_all("els => els.map(e => e.getAttribute('stroke'))")
    assert len(set(roles)) == 3  # GT, model A and model B in three colours
