"""georft compare: every number in report.md / report.html equals the one in each metrics.json; images work."""

from __future__ import annotations

import base64
import html
import json
import re

from PIL import Image
from test_runner import _score_only, fixed_predictions  # tests/eval is on sys.path (pytest prepend mode)

from eval.report.render import fmt, fmt_delta
from georft.cli import main as cli


def _improved(rows: list[dict], image: str) -> list[dict]:
    """The fixed predictions with a better grounding answer (g1 exact) and a worse VQA answer (q1 wrong)."""
    out = []
    for r in rows:
        r = dict(r, images=[image] if r["task"] in ("detection", "grounding") else [])
        if r["id"] == "g1":
            r["completion"] = "0,0,10,10 tank"
        if r["id"] == "q1":
            r["completion"] = "no"
        out.append(r)
    return out


def _two_runs(tmp_path):
    img = tmp_path / "scene.png"
    Image.new("RGB", (100, 100), (90, 140, 90)).save(img)
    base_rows = [dict(r, images=[str(img)] if r["task"] in ("detection", "grounding") else [])
                 for r in fixed_predictions()]
    doc_a = _score_only(tmp_path, base_rows, "base")
    doc_b = _score_only(tmp_path, _improved(fixed_predictions(), str(img)), "rl")
    assert cli(["compare", str(tmp_path / "base"), str(tmp_path / "rl"), "--out", str(tmp_path / "report")]) == 0
    return doc_a, doc_b


def test_report_numbers_equal_metrics_json(tmp_path):
    doc_a, doc_b = _two_runs(tmp_path)
    docs = [doc_a, doc_b]
    page = (tmp_path / "report" / "report.html").read_text()
    cells = re.findall(r'data-run="(\d+)" data-dataset="([^"]*)" data-metric="([^"]*)" data-value="([^"]*)">([^<]*)<',
                       page)
    seen = set()
    for run, ds, metric, value, shown in cells:
        ds, metric = html.unescape(ds), html.unescape(metric)
        expected = docs[int(run)]["metrics"][ds][metric]
        assert json.loads(html.unescape(value)) == expected
        assert html.unescape(shown) == fmt(expected)
        seen.add((int(run), ds, metric))
    # every metric of every run is in the HTML
    assert {(k, ds, m) for k, d in enumerate(docs) for ds, ms in d["metrics"].items() for m in ms} <= seen
    deltas = re.findall(r'data-delta-run="1" data-dataset="([^"]*)" data-metric="([^"]*)" data-value="([^"]*)">', page)
    assert deltas
    for ds, metric, value in deltas:
        a, b = doc_a["metrics"][ds][metric], doc_b["metrics"][ds][metric]
        assert json.loads(html.unescape(value)) == b - a
    # grounding: g1 went from IoU 0.5 to 1 -> mean IoU 0.75 -> 1.0; VQA accuracy 2/3 -> 1/3
    assert doc_b["metrics"]["grd"]["mean_iou"] == 1.0 and doc_b["metrics"]["vqa"]["accuracy"] == 1 / 3

    md = (tmp_path / "report" / "report.md").read_text()
    for ds, ms in doc_a["metrics"].items():
        section = md.split(f"## {ds} (")[1].split("\n## ")[0]
        for m, va in ms.items():
            vb = doc_b["metrics"][ds][m]
            d = vb - va
            line = f"| {m} | {fmt(va)} | {fmt(vb)} | {fmt_delta(d)} |"
            assert line in section, line


def test_report_html_is_self_contained_with_working_images(tmp_path):
    _two_runs(tmp_path)
    page = (tmp_path / "report" / "report.html").read_text()
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', page)
    assert len(srcs) >= 3
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report" / "report.md").read_text()
    for rel in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        with Image.open(tmp_path / "report" / rel) as im:
            assert im.size[0] > 0
    # won / lost: g1 (grounding IoU 0.5 -> 1) is the grounding gain, q1 (correct -> wrong) the VQA loss
    assert "rl vs base: grounding, most won" in md and "grd / g1: iou 0.5000 → 1.0000 (+0.5000)" in md
    assert "rl vs base: vqa, most lost" in md and "vqa / q1: correct 1.0000 → 0.0000 (-1.0000)" in md
    assert "vqa, most won" not in md
    # the grounding card has a thumbnail (boxes drawn on the scene image)
    assert re.search(r"\*\*grd / g1:.*\*\*\n+!\[g1\]\(img/sample_1_grounding_won_0\.png\)", md)


def test_compare_rejects_a_dir_without_metrics(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    assert cli(["compare", str(tmp_path / "x"), "--out", str(tmp_path / "r")]) == 2
    assert "not an eval output directory (no metrics.json)" in capsys.readouterr().err
