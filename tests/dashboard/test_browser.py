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


def live_server(runs: list):
    """Serve the dashboard over `runs` on a free loopback port in a thread: yields its URL, then stops it (the body
    of the browser tests' server fixtures)."""
    import uvicorn

    from dashboard.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(create_app(runs), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def server(run_dirs):
    yield from live_server([run_dirs["run"], run_dirs["empty"]])


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
    """naturalWidth of each matching <img> (0 = broken), after scrolling each into view (they load lazily)."""
    for k in range(page.locator(selector).count()):
        page.locator(selector).nth(k).scroll_into_view_if_needed()
    page.wait_for_function("s => Array.from(document.querySelectorAll(s)).every(e => e.complete)", arg=selector)
    return page.eval_on_selector_all(selector, "els => els.map(e => e.complete ? e.naturalWidth : 0)")


def _charts_ready(page) -> None:
    page.wait_for_selector("#charts[data-ready='1']", timeout=20000)


def test_views_render_in_chromium(server, page, shots):
    _open(page, f"{server}/run/0", shots, "overview")
    _charts_ready(page)
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    ids = page.eval_on_selector_all("#charts div.chart", "els => els.map(e => e.id)")
    # reward, signal, the training dynamics (trainer_state.json), collapse, 6 parts, length, reasoning, health
    assert ids[:4] == ["chart-reward", "chart-signal", "chart-dynamics", "chart-collapse"] and len(ids) == 13, ids
    assert page.locator("#chart-reward .main-svg").count() >= 1  # Plotly drew it
    assert page.locator("#chart-reasoning .main-svg").count() >= 1  # think-then-answer share and length
    assert page.locator("#chart-collapse .main-svg").count() >= 1  # distinct / top answer and empty-think shares
    assert page.locator("#chart-reward .legend .traces").count() == 6  # one legend entry per task

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


def _smoothed(page, chart: str) -> list[dict]:
    return page.evaluate("""id => document.getElementById(id).data.filter(t => t.meta && t.meta.raw !== undefined)
        .map(t => ({name: t.name, y: t.y, raw: document.getElementById(id).data[t.meta.raw].y}))""", chart)


def _set_smoothing(page, value: float) -> None:
    page.eval_on_selector("#smoothing", "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }",
                          str(value))
    page.wait_for_function("v => document.getElementById('charts').dataset.smoothing === v", arg=f"{value:.2f}")


def test_smoothing_control_changes_the_plotted_series(server, page):
    from eval.report.figures import ema

    page.goto(f"{server}/run/0", wait_until="load")
    page.evaluate("window.localStorage.clear()")
    page.goto(f"{server}/run/0", wait_until="load")
    _charts_ready(page)
    assert page.eval_on_selector("#smoothing", "el => el.value") == "0.6"
    opened = _smoothed(page, "chart-reward")
    _set_smoothing(page, 0)
    raw = _smoothed(page, "chart-reward")
    for t in raw:  # no smoothing: the drawn line is the raw series
        assert t["y"] == pytest.approx(t["raw"])
    _set_smoothing(page, 0.9)
    heavy = _smoothed(page, "chart-reward")
    for t in heavy + _smoothed(page, "chart-signal"):  # the page's EMA is the report code's EMA
        assert t["y"] == pytest.approx(list(ema(t["raw"], 0.9)), abs=1e-9), t["name"]
    det = next(t for t in heavy if t["name"] == "detection")
    assert det["y"] != pytest.approx(det["raw"]) and det["y"] != next(t["y"] for t in opened if t["name"] == "detection")
    assert page.locator("#smoothing-value").text_content() == "0.90"
    page.reload(wait_until="load")  # the choice is remembered
    _charts_ready(page)
    assert page.eval_on_selector("#smoothing", "el => el.value") == "0.9"
    _set_smoothing(page, 0.6)


def test_legend_click_hides_a_series_in_every_panel(server, page):
    page.goto(f"{server}/run/0", wait_until="load")
    _charts_ready(page)
    page.locator("#chart-signal .legend .traces").first.click()
    page.wait_for_function("""() => document.getElementById('chart-signal').data
        .some(t => t.visible === 'legendonly')""")
    hidden = page.evaluate("""() => document.getElementById('chart-signal').data
        .filter(t => t.visible === 'legendonly').map(t => t.legendgroup)""")
    assert len(hidden) == 2 * 3 and len(set(hidden)) == 1  # raw + smoothed, in each of the 3 panels


def _inside(inner: dict, outer: dict, tol: float = 0.5) -> bool:
    return (inner["x"] >= outer["x"] - tol and inner["y"] >= outer["y"] - tol
            and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + tol
            and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + tol)


def _disjoint(a: dict, b: dict) -> bool:
    return (a["x"] + a["width"] <= b["x"] + 0.5 or b["x"] + b["width"] <= a["x"] + 0.5
            or a["y"] + a["height"] <= b["y"] + 0.5 or b["y"] + b["height"] <= a["y"] + 0.5)


_CARD_BOXES = """cards => cards.map(c => ({
    card: c.getBoundingClientRect().toJSON(),
    rows: Array.from(c.querySelectorAll('table.kv tr')).map(tr => ({
        th: tr.querySelector('th').getBoundingClientRect().toJSON(),
        td: tr.querySelector('td').getBoundingClientRect().toJSON(),
        thText: tr.querySelector('th').scrollWidth > tr.querySelector('th').clientWidth + 1})),
    pre: c.querySelector('pre').getBoundingClientRect().toJSON()}))"""


@pytest.mark.parametrize("width", [1400, 1000])
def test_completion_cards_do_not_overlap(server, page, shots, width):
    page.set_viewport_size({"width": width, "height": 1000})
    try:
        _open(page, f"{server}/run/0/step/0", shots, f"step_{width}")
        groups = page.locator("section.group")
        assert groups.count() == 6
        for g in range(groups.count()):
            cards = groups.nth(g).locator("article.completion").evaluate_all(_CARD_BOXES)
            assert len(cards) == 4
            for i in range(len(cards)):
                for j in range(i + 1, len(cards)):
                    assert _disjoint(cards[i]["card"], cards[j]["card"]), (g, i, j)
            for c in cards:
                assert any(len(r) for r in c["rows"])
                rights = {round(r["td"]["x"] + r["td"]["width"]) for r in c["rows"]}
                assert len(rights) == 1, rights  # values right-aligned in one column
                for r in c["rows"]:
                    # every name and value stays inside its own card, names never run into the values
                    assert _inside(r["th"], c["card"]) and _inside(r["td"], c["card"]), r
                    assert r["th"]["x"] + r["th"]["width"] <= r["td"]["x"] + 0.5, r
                    assert not r["thText"], r  # the long name wraps instead of overflowing its cell
                assert _inside(c["pre"], c["card"])
            figs = groups.nth(g).locator("figure.multiple").evaluate_all(
                "els => els.map(e => e.getBoundingClientRect().toJSON())")
            for i in range(len(figs)):
                for j in range(i + 1, len(figs)):
                    assert _disjoint(figs[i], figs[j])
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


def test_small_multiples_show_each_completions_boxes(server, page):
    page.goto(f"{server}/run/0/step/0", wait_until="load")
    group = page.locator('section.group[data-group="grounding-s0"]')
    figs = group.locator("figure.multiple")
    assert figs.count() == 4
    assert all(w > 0 for w in figs.locator("img").evaluate_all(
        "els => els.map(e => e.complete ? e.naturalWidth : 0)"))
    # grounding rewards (0.9, 0, 1, 0.2): #2 best, #1 worst; each thumbnail holds the GT and its own prediction
    assert [figs.nth(k).get_attribute("class").split()[1:] for k in range(4)] == [[], ["worst"], ["best"], []]
    assert figs.nth(1).locator("polygon[data-role='pred']").get_attribute("data-status") == "false_alarm"
    assert figs.nth(2).locator("polygon[data-role='pred']").get_attribute("data-status") == "match"
    assert "1.000" in figs.nth(2).locator("figcaption").text_content()
