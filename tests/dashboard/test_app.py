"""The app in-process (Starlette's ASGI test client): every view renders real content from the fixture runs,
filters and pages work, and malformed or traversal requests get a 4xx without ever returning an outside file."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest

from data_engine.errors import UserError


def _count(html: str, cls: str) -> int:
    return len(re.findall(rf'<article class="completion[^"]*\b{cls}\b', html)) if cls else html.count('<article class="completion')


def test_home_lists_runs_and_evals(client):
    html = client.get("/").text
    assert "grpo_run" in html and "empty_run" in html
    assert 'href="/eval/0.0"' in html and 'href="/eval/0.1"' in html
    assert "eval/rl" in html and "eval/sft" in html


def test_overview_charts_and_steps(client):
    html = client.get("/run/0").text
    assert 'data-src="/run/0/charts.json"' in html and 'id="smoothing"' in html
    assert '<script src="/static/plotly.min.js"></script>' in html
    assert html.count('href="/run/0/step/') == 3
    r = client.get("/run/0/charts.json")
    assert r.headers["content-type"].startswith("application/json")
    charts = {c["id"]: c for c in r.json()}
    tasks = ["caption", "classification", "detection", "grounding", "vqa", "zoom_vqa"]
    assert list(charts) == ["reward", "signal", "dynamics", "collapse"] + [f"parts-{t}" for t in tasks] + [
        "length", "reasoning", "health"]
    reward = charts["reward"]["figure"]
    assert [t["name"] for t in reward["data"] if "meta" in t] == tasks
    det_raw = next(t for t in reward["data"] if t["name"] == "detection" and "meta" not in t)
    # mean of min(1, (0.5, 1, 0, 0.1) + 0.05 * step): 1.6 / 4, 1.75 / 4, 1.9 / 4
    assert det_raw["y"] == pytest.approx([0.4, 0.4375, 0.475])
    signal = charts["signal"]["figure"]["layout"]
    assert [signal[k]["title"]["text"] for k in ("yaxis", "yaxis2", "yaxis3")] == [
        "zero-variance groups", "reward std in groups", "mean |advantage|"]
    # reasoning: only the think-then-answer task (vqa) has lines; well-formed share 2/4, chars (0+10+20+30)/4
    reasoning = charts["reasoning"]["figure"]
    assert [reasoning["layout"][k]["title"]["text"] for k in ("yaxis", "yaxis2")] == [
        "well-formed share", "reasoning length (chars)"]
    raw = [t for t in reasoning["data"] if "meta" not in t]
    assert {t["name"] for t in raw} == {"vqa"} and [t["y"] for t in raw] == [[0.5] * 3, [15.0] * 3]
    health = charts["health"]["figure"]["layout"]
    assert health["yaxis"]["title"]["text"] == "parse-failure rate" and health["yaxis2"]["title"]["text"] == \
        "zoom steps per chain"
    bundle = client.get("/static/plotly.min.js")
    assert bundle.status_code == 200 and "plotly" in bundle.text[:2000].lower()


def test_overview_series_values(app):
    series = app.state.dash.queries[0].series()
    det = series["tasks"]["detection"]
    assert [p[1] for p in det["parse_fail"]] == [0.25, 0.25, 0.25]  # 1 of 4 completions has format_ok false
    assert [p[1] for p in series["tasks"]["zoom_vqa"]["zoom_steps"]] == [0.5, 0.5, 0.5]  # (2+0+0+0) / 4
    assert [p[1] for p in series["tasks"]["caption"]["frac_zero_std_groups"]] == [1.0, 1.0, 1.0]
    # Learning signal, by hand from conftest.REWARDS (one group per task and step; +0.05 * step, capped at 1):
    assert [p[1] for p in series["tasks"]["caption"]["group_reward_std"]] == [0.0, 0.0, 0.0]
    assert [p[1] for p in series["tasks"]["vqa"]["group_reward_std"]] == pytest.approx(
        [np.std([1, 0, 1, 1]), np.std([1, 0.05, 1, 1]), np.std([1, 0.1, 1, 1])])
    # advantage = reward part - group mean: grounding (0.9, 0, 1, 0.2), mean 0.525 -> |adv| mean 0.425
    assert [p[1] for p in series["tasks"]["grounding"]["abs_advantage"]] == pytest.approx([0.425] * 3)
    # collapse flags (eval.collapse): the caption group is one answer 4 times; VQA answers yes, no, yes, yes, in
    # think-then-answer rows whose completions hold no think block at all (reasoning length 0)
    assert [p[1] for p in series["tasks"]["caption"]["distinct_answer_share"]] == [0.25] * 3
    assert [p[1] for p in series["tasks"]["caption"]["top_answer_share"]] == [1.0] * 3
    assert [p[1] for p in series["tasks"]["vqa"]["distinct_answer_share"]] == [0.5] * 3
    assert [p[1] for p in series["tasks"]["vqa"]["top_answer_share"]] == [0.75] * 3
    assert [p[1] for p in series["tasks"]["vqa"]["empty_think_share"]] == [1.0] * 3
    assert "empty_think_share" not in series["tasks"]["caption"]  # no think-then-answer rows there


def test_empty_run_has_no_rollouts(client):
    r = client.get("/run/1")
    assert r.status_code == 200 and "No rollout store" in r.text
    assert client.get("/run/1/charts.json").json() == []


def test_step_groups_side_by_side(client):
    html = client.get("/run/0/step/0").text
    assert html.count('<section class="group"') == 6
    assert _count(html, "") == 24
    det = html[html.index('data-group="detection-s0"'):html.index('data-group="grounding-s0"')]
    assert _count(det, "") == 4 and _count(det, "best") == 1 and _count(det, "worst") == 1
    assert "parse failed" in det
    cap = html[html.index('data-group="caption-s0"'):]
    cap = cap[:cap.index("</section>")]
    assert _count(cap, "best") == 0 and _count(cap, "worst") == 0  # equal rewards: nothing to highlight
    assert "reward/" not in det and '<th title="detection/main">main</th>' in det  # short name, full on hover
    assert ('<th title="detection/rotated_iou_f1_with_a_long_name/n_unknown_label_objects">rotated_<wbr>iou_<wbr>'
            'f1_<wbr>with_<wbr>a_<wbr>long_<wbr>name/<wbr>n_<wbr>unknown_<wbr>label_<wbr>objects</th>') in det
    # The prompt's image once in its chat bubble, then one small multiple per completion with its own boxes.
    assert det.count('src="/thumb/0/images/scene_0.png') == 1 + 4
    multiples = re.findall(r'<figure class="multiple ([^"]*)" data-gen="(\d)">(.*?)</figure>', det, re.S)
    assert [(m[0].strip(), m[1]) for m in multiples] == [("", "0"), ("best", "1"), ("worst failed", "2"), ("", "3")]
    statuses = [re.findall(r'data-status="(\w+)"', m[2]) for m in multiples]
    assert statuses == [["match", "miss", "match", "false_alarm"], ["match", "match", "match", "match"],
                        ["miss", "miss"], ["miss", "miss"]]
    assert "#1 · 1.000 · best" in det
    assert '<div class="bubble user"><div class="who">user</div>' in det and "Do the detection task." in det
    assert '<details class="bubble system">' in det and "raw prompt" in det
    assert "multiples" not in cap  # captions have no boxes: no small multiples


@pytest.mark.parametrize("query, groups", [
    ("task=vqa", ["vqa-s0"]),
    ("failed=1", ["detection-s0"]),
    ("rmin=0.95", ["detection-s0", "grounding-s0", "vqa-s0", "classification-s0", "zoom_vqa-s0"]),
    ("rmax=0.05", ["detection-s0", "grounding-s0", "vqa-s0", "classification-s0", "zoom_vqa-s0"]),
    ("rmin=0.3&rmax=0.45", ["caption-s0"]),
    ("source=synth-cap", ["caption-s0"]),
    ("task=vqa&source=synth-cap", []),
])
def test_step_filters(client, query, groups):
    html = client.get(f"/run/0/step/0?{query}").text
    assert re.findall(r'<section class="group" data-group="([^"]+)"', html) == groups


def test_step_pagination(client):
    first = client.get("/run/0/step/0?per=4").text
    second = client.get("/run/0/step/0?per=4&page=2").text
    g1 = re.findall(r'data-group="([^"]+)"', first)
    g2 = re.findall(r'data-group="([^"]+)"', second)
    assert len(g1) == 4 and len(g2) == 2 and not set(g1) & set(g2)
    assert "page 1 / 2" in first and "per=4&amp;page=2" in first


def test_rollout_sample_boxes(client):
    html = client.get("/run/0/rollout?step=0&group=detection-s0&gen=0").text
    assert re.findall(r'data-status="(\w+)"', html) == ["match", "miss", "match", "false_alarm"]
    assert "<title>GT ship (missed)</title>" in html and "<title>pred tank (false alarm)</title>" in html
    assert 'viewBox="0 0 320 240"' in html  # overlay in original pixels (size from the image header)
    assert "tank 150 20 190 20" in html  # the raw completion
    assert "detection/main" in html


def test_zoom_chain_turns_and_crops(client):
    html = client.get("/run/0/rollout?step=1&group=zoom_vqa-s1&gen=0").text
    assert html.count('<li class="turn">') == 2
    assert 'src="/thumb/0/crops/zoom_0.png' in html and 'src="/thumb/0/crops/zoom_1.png' in html
    assert "<title>turn 2 crop</title>" in html and "<title>evidence 1</title>" in html
    crop = client.get("/thumb/0/crops/zoom_1.png?w=160")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"


def test_eval_page_and_sample(client):
    html = client.get("/eval/0.1").text  # eval dirs sorted by path: 0.0 = eval/rl, 0.1 = eval/sft
    assert "model <b>sft</b>" in html
    assert html.count('<a href="/eval/0.1/sample?id=') == 6
    assert "1 malformed line(s)" in html
    assert client.get("/eval/0.1?task=grounding").text.count("/sample?id=") == 1
    sft = client.get("/eval/0.1/sample?id=detection-0").text
    assert re.findall(r'data-status="(\w+)"', sft) == ["match", "miss", "match", "false_alarm"]
    rl = client.get("/eval/0.0/sample?id=detection-0").text
    assert re.findall(r'data-status="(\w+)"', rl) == ["match", "match", "match", "match"]
    assert client.get("/eval/0.1/sample?id=nope").status_code == 404


def test_compare_sorted_by_difference(client):
    html = client.get("/compare").text  # defaults to eval/sft (A, key 0.1) vs eval/rl (B, key 0.0)
    assert "A = grpo_run/eval/sft · B = grpo_run/eval/rl" in html
    diffs = [float(d) for d in re.findall(r'<tr class="pair" data-diff="([^"]+)"', html)]
    assert len(diffs) == 6 and diffs == sorted(diffs)
    assert 'data-role="gt"' in html and "A: pred" in html
    desc = client.get("/compare?a=0.1&b=0.0&order=desc").text
    diffs_desc = [float(d) for d in re.findall(r'data-diff="([^"]+)"', desc)]
    assert diffs_desc == sorted(diffs, reverse=True)


def test_missing_pieces_render(tmp_path, run_dirs):
    from starlette.testclient import TestClient

    from dashboard.app import create_app

    ev = tmp_path / "evalonly" / "eval" / "broken"
    ev.mkdir(parents=True)
    (ev / "metrics.json").write_text("{not json")  # and no predictions.jsonl
    with TestClient(create_app([tmp_path / "evalonly"]), base_url="http://127.0.0.1") as c:
        assert c.get("/").status_code == 200
        page = c.get("/eval/0.0")
        assert page.status_code == 200 and "metrics.json unreadable" in page.text
        assert "needs two eval dirs" in c.get("/compare").text
    with pytest.raises(UserError):
        create_app([tmp_path / "does-not-exist"])


BAD_REQUESTS = [
    ("/run/0/step/0?page=x", 400), ("/run/0/step/0?page=0", 400), ("/run/0/step/0?rmin=nan", 400),
    ("/run/0/step/0?rmin=abc", 400), ("/run/0/step/0?per=100000", 400), ("/run/0/rollout?step=0&group=x", 400),
    ("/run/0/rollout?step=0&group=detection-s0&gen=abc", 400), ("/run/0/rollout?step=0&group=nope&gen=0", 404),
    ("/run/0/step/0?task=" + "x" * 600, 400), ("/run/9", 404), ("/run/abc", 404), ("/run/0/step/99", 404),
    ("/run/0/plot/reward.svg", 404), ("/run/9/charts.json", 404), ("/eval/9.9", 404), ("/compare?a=0.0&b=bogus", 404),
    ("/compare?a=0.0&b=0.1&metric=nope", 400), ("/compare?a=0.0&b=0.1&order=sideways", 400),
    ("/thumb/0/images/scene_0.png?w=-5", 400), ("/thumb/0/images/missing.png", 404), ("/thumb/7/images/scene_0.png", 403),
    ("/thumb/0/escape.png", 403), ("/thumb/0/escape_dir/secret.txt", 403), ("/thumb/0/%2e%2e/outside/secret.txt", 403),
    ("/thumb/0/images/%2e%2e/%2e%2e/outside/secret.txt", 403), ("/thumb/0/%2Fetc%2Fpasswd", 403),
    ("/thumb/0//etc/passwd", 403), ("/thumb/0/images%5c..%5c..%5coutside%5csecret.txt", 403),
    ("/thumb/0/rollouts/index.json", 404),  # inside the run, but not an image
    ("/static/../dashboard/app.py", 404), ("/static/%2e%2e/app.py", 404),
]


@pytest.mark.parametrize("url, status", BAD_REQUESTS)
def test_malformed_and_traversal_requests(client, run_dirs, url, status):
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code)
    assert run_dirs["secret"] not in r.text and "image/" not in r.headers.get("content-type", "")


def _raw_get(app, raw_path: bytes) -> tuple[int, bytes]:
    """Send a request with an exact, un-normalised path (HTTP clients collapse `..` before sending)."""
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    path = raw_path.split(b"?")[0]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path.decode("latin-1"), "raw_path": raw_path, "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


@pytest.mark.parametrize("raw", [
    b"/thumb/0/../outside/secret.txt", b"/thumb/0/images/../../outside/secret.png", b"/thumb/0/../../../../etc/passwd",
    b"/thumb/0/./../outside/secret.png", b"/static/../../outside/secret.txt", b"/thumb/1/../grpo_run/escape.png",
])
def test_raw_traversal_paths(app, run_dirs, raw):
    status, body = _raw_get(app, raw)
    assert 400 <= status < 500
    assert run_dirs["secret"].encode() not in body and not body.startswith(b"\xff\xd8")


def test_post_is_refused(client):
    assert client.post("/", data={"x": "1"}).status_code == 405


def test_cli_parses_and_defaults_to_loopback():
    from georft.cli import build_parser
    from georft.commands.dashboard import _is_loopback

    args = build_parser().parse_args(["dashboard", "a", "b"])
    assert args.run_dirs == ["a", "b"] and args.host == "127.0.0.1" and args.port == 8765
    assert _is_loopback("127.0.0.1") and _is_loopback("localhost") and _is_loopback("::1")
    assert not _is_loopback("0.0.0.0")
    assert build_parser().parse_args(["dashboard", "a", "--max-image-pixels", "5"]).max_image_pixels == 5


def test_cli_refuses_a_non_positive_pixel_limit(tmp_path):
    from georft.cli import build_parser
    from georft.commands.dashboard import run

    with pytest.raises(UserError, match="--max-image-pixels must be a positive pixel count, got 0"):
        run(build_parser().parse_args(["dashboard", str(tmp_path), "--max-image-pixels", "0"]))


def test_sample_view_is_a_conversation(client):
    html = client.get("/run/0/rollout?step=0&group=zoom_vqa-s0&gen=0").text
    roles = re.findall(r'<(?:div|details) class="bubble (\w+)"', html)
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert html.count('src="/thumb/0/crops/zoom_') >= 2 + 2  # crops in the tool bubbles and in the turn figures
    assert "raw prompt" in html and "&#34;role&#34;: &#34;system&#34;" in html  # raw JSON behind the toggle, escaped
    plain = client.get("/run/0/rollout?step=0&group=vqa-s0&gen=0").text
    assert re.findall(r'<(?:div|details) class="bubble (\w+)"', plain) == ["user", "assistant"]


def test_part_names_are_escaped(tmp_path):
    """A hostile part name (a user reward may name its parts) is shown as text, with break points only added."""
    from starlette.testclient import TestClient

    from dashboard.app import create_app
    from rollout.store import RolloutWriter

    row = {"step": 0, "group": "g", "sample_id": "s", "task": "vqa", "source": "x", "generation": 0, "prompt": "p",
           "completion": "c", "turns": "[]", "prediction": "{}", "target": "{}", "reward": 1.0, "advantage": 0.0,
           "images": [], "length": 1, "truncated": False, "reward/vqa/<script>alert(1)</script>_x": 1.0}
    RolloutWriter(tmp_path).write_step(0, [row])
    with TestClient(create_app([tmp_path]), base_url="http://127.0.0.1") as c:
        html = c.get("/run/0/step/0").text
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/<wbr>script&gt;_<wbr>x" in html


def test_per_task_stages_are_runs_of_their_own(tmp_path):
    """A `grpo.schedule: per_task` pipeline run: the last stage's store is the run's, the earlier stages'
    (`grpo/stages/<k>_<tasks>/rollouts`) follow it in stage order, each showing its own steps."""
    from starlette.testclient import TestClient

    from dashboard.app import create_app
    from dashboard.runs import discover
    from rollout.store import RolloutWriter

    def row(task: str) -> dict:
        return {"step": 0, "group": "g", "sample_id": "s", "task": task, "source": "x", "generation": 0,
                "prompt": "p", "completion": "c", "turns": "[]", "prediction": "{}", "target": "{}", "reward": 1.0,
                "advantage": 0.0, "images": [], "length": 1, "truncated": False}

    run = tmp_path / "demo"
    for folder, task, steps in (("grpo", "vqa", 3), ("grpo/stages/10_caption", "caption", 1),
                                ("grpo/stages/2_grounding", "grounding", 2)):
        writer = RolloutWriter(run / folder)
        for s in range(steps):
            writer.write_step(s, [row(task)])
    runs = discover([run, tmp_path / "demo" / "grpo"])
    assert [r.name for r in runs] == ["demo", "demo/grpo/stages/2_grounding", "demo/grpo/stages/10_caption",
                                      "grpo", "grpo/stages/2_grounding", "grpo/stages/10_caption"]
    assert [len(r.reader.steps()) for r in runs] == [3, 2, 1, 3, 2, 1]
    assert [r.index for r in runs] == list(range(6))
    with TestClient(create_app([run]), base_url="http://127.0.0.1") as c:
        assert "grounding" in c.get("/run/1/step/1").text
        assert c.get("/run/2/step/1").status_code == 404  # the caption stage has step 0 only
