"""Write the comparison report as Markdown (PNG files next to it) and as one self-contained HTML file.

Numbers are formatted by `fmt` only (4 decimals for floats, integers as they are, ``n/a`` when absent); every
HTML metric cell also carries the exact value from metrics.json in ``data-value`` (JSON) with ``data-run``,
``data-dataset`` and ``data-metric``, so a test (or a script) can check the report against the sources.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from typing import Any

from eval.bootstrap import Interval
from eval.collapse import is_flag_metric
from eval.report.intervals import MetricStats
from eval.report.tables import Change, MetricRow, Run, is_number


def fmt(v: Any) -> str:
    """The one number format of the report."""
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return "n/a" if v is None else str(v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.4f}"


def fmt_delta(d: float | None) -> str:
    if d is None:
        return ""
    return f"{d:+d}" if isinstance(d, int) and not isinstance(d, bool) else f"{d:+.4f}"


@dataclass
class Doc:
    """Markdown and HTML bodies written side by side."""

    md: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    toc: list[tuple[str, str]] = field(default_factory=list)  # (anchor, text) of every level-2 heading

    def heading(self, level: int, text: str) -> None:
        self.md.append(f"{'#' * level} {text}\n")
        if level == 2:
            anchor = f"sec-{len(self.toc) + 1}"
            self.toc.append((anchor, text))
            self.html.append(f'<h2 id="{anchor}">{html.escape(text)}</h2>')
            return
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def html_with_toc(self) -> list[str]:
        """The HTML body with a table of contents (every level-2 heading) after the title."""
        if not self.toc:
            return self.html
        nav = '<nav class="toc"><b>Contents</b><ol>' + "".join(
            f'<li><a href="#{a}">{html.escape(t)}</a></li>' for a, t in self.toc) + "</ol></nav>"
        return self.html[:1] + [nav] + self.html[1:]

    def para(self, text: str) -> None:
        self.md.append(f"{text}\n")
        self.html.append(f"<p>{html.escape(text)}</p>")

    def image(self, png: bytes | None, rel_path: str, alt: str) -> None:
        if png is None:
            self.md.append(f"*({alt}: image unavailable)*\n")
            self.html.append(f"<p><em>({html.escape(alt)}: image unavailable)</em></p>")
            return
        self.md.append(f"![{alt}]({rel_path})\n")
        self.html.append(f'<img alt="{html.escape(alt)}" src="{data_uri(png)}">')


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def runs_table(doc: Doc, runs: list[Run]) -> None:
    head = ["run", "model", "suite", "backend", "pixel budget", "date", "git commit", "dir"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    trs = []
    for r in runs:
        pb = r.doc.get("pixel_budget") or {}
        cells = [r.name, str(r.doc.get("model", "")), str(r.doc.get("suite", "")), str(r.doc.get("backend", "")),
                 f"{pb.get('min_pixels', '?')}..{pb.get('max_pixels', '?')}", str(r.doc.get("date", "")),
                 str(r.doc.get("git_commit") or "")[:10], str(r.path)]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        trs.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    doc.md.append("\n".join(lines) + "\n")
    doc.html.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(trs) + "</table>")


def metric_table(doc: Doc, runs: list[Run], rows: list[MetricRow], label: str = "metric",
                 first_cols: list[list[str]] | None = None, first_head: list[str] | None = None) -> None:
    """A table: [first columns], metric, one value column per run, one delta column per run after the first."""
    names = [r.name for r in runs]
    head = (first_head or []) + [label] + names + [f"Δ {n} − {names[0]}" for n in names[1:]]
    md = ["| " + " | ".join(_md_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    trs = []
    for i, row in enumerate(rows):
        pre = (first_cols[i] if first_cols else [])
        vals = [fmt(v) for v in row.values]
        deltas = [fmt_delta(d) for d in row.deltas]
        md.append("| " + " | ".join(_md_cell(c) for c in pre + [row.metric] + vals + deltas) + " |")
        tds = [f"<td>{html.escape(c)}</td>" for c in pre + [row.metric]]
        for k, v in enumerate(row.values):
            attrs = (f'data-run="{k}" data-dataset="{html.escape(row.dataset)}" data-metric="{html.escape(row.metric)}"'
                     f' data-value="{html.escape(json.dumps(v))}"')
            tds.append(f'<td class="num" {attrs}>{html.escape(fmt(v))}</td>')
        for k, d in enumerate(row.deltas, start=1):
            cls = "up" if d is not None and d > 0 else "down" if d is not None and d < 0 else ""
            tds.append(f'<td class="num delta {cls}" data-delta-run="{k}" data-dataset="{html.escape(row.dataset)}" '
                       f'data-metric="{html.escape(row.metric)}" data-value="{html.escape(json.dumps(d))}">'
                       f"{html.escape(fmt_delta(d))}</td>")
        trs.append("<tr>" + "".join(tds) + "</tr>")
    doc.md.append("\n".join(md) + "\n")
    doc.html.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" + "".join(trs)
                    + "</table>")


def reward_table(doc: Doc, runs: list[Run], parts: dict[str, list[float | None]]) -> None:
    names = [r.name for r in runs]
    head = ["reward part"] + names
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    trs = []
    for part, vals in parts.items():
        md.append("| " + " | ".join([_md_cell(part)] + [fmt(v) for v in vals]) + " |")
        trs.append("<tr><td>" + html.escape(part) + "</td>" + "".join(f'<td class="num">{fmt(v)}</td>' for v in vals)
                   + "</tr>")
    doc.md.append("\n".join(md) + "\n")
    doc.html.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" + "".join(trs)
                    + "</table>")


def _excerpt(text: Any, n: int = 240) -> str:
    s = "" if text is None else str(text)
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def sample_card(doc: Doc, change: Change, rows: list[dict | None], names: list[str], png: bytes | None,
                rel_path: str) -> None:
    """One changed sample: thumbnail, scores before/after, and each run's completion (excerpt)."""
    title = f"{change.dataset} / {change.id}: {change.score} {fmt(change.before)} → {fmt(change.after)} " \
            f"({fmt_delta(change.diff)})"
    doc.md.append(f"**{_md_cell(title)}**\n")
    doc.html.append(f'<div class="card"><div class="card-title">{html.escape(title)}</div>')
    if png is not None:
        doc.md.append(f"![{change.id}]({rel_path})\n")
        doc.html.append(f'<img class="thumb" alt="{html.escape(change.id)}" src="{data_uri(png)}">')
    target = next((r for r in rows if r is not None), {}) or {}
    gt = ground_truth_text(target)
    if gt:
        doc.md.append(f"- ground truth: `{_md_cell(gt)}`")
        doc.html.append(f"<div><b>ground truth</b>: <code>{html.escape(gt)}</code></div>")
    for name, r in zip(names, rows, strict=True):
        if r is None:
            continue
        text = _excerpt(r.get("completion"))
        doc.md.append(f"- {name}: `{_md_cell(text) or '(empty)'}`")
        doc.html.append(f"<div><b>{html.escape(name)}</b>: <code>{html.escape(text) or '(empty)'}</code></div>")
    doc.md.append("")
    doc.html.append("</div>")


def ground_truth_text(row: dict) -> str:
    """A short line of what a sample asks and its ground truth (the report's cards, the dashboard's group headers):
    the question and answer, the label, the first reference caption, the referring expression and box, the number
    of objects, the class to segment; never a mask's RLE."""
    t = row.get("target") if isinstance(row, dict) else None
    t = t if isinstance(t, dict) else {}
    task = row.get("task") if isinstance(row, dict) else None
    if task in ("vqa", "zoom_vqa") or ("question" in t and "answer" in t):
        return f"Q: {_excerpt(t.get('question'), 160)}  A: {t.get('answer')}"
    if "label" in t:
        return str(t.get("label"))
    if t.get("references"):
        return _excerpt(t["references"][0])
    if "expression" in t and "box" in t:
        return f"{t.get('expression')} {t.get('box')}"
    if "objects" in t:
        return f"{len(t.get('objects') or [])} objects"
    for key in ("expression", "class_name", "category", "label_name"):
        if isinstance(t.get(key), str):
            return f"{key.replace('_', ' ')}: {_excerpt(t[key], 160)}"
    return ""


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.up { color: #1a7f37; } td.down { color: #b42318; }
td.better { background: #d9f2e1; color: #14532d; font-weight: 600; }
td.worse { background: #fbe0dd; color: #7f1d1d; font-weight: 600; }
td.collapse { color: #9a3412; font-weight: 600; }
.card { display: inline-block; vertical-align: top; width: 340px; margin: 6px; padding: 6px; border: 1px solid #ddd;
        font-size: 12px; }
.card-title { font-weight: 600; margin-bottom: 4px; }
code { white-space: pre-wrap; word-break: break-word; }
img { max-width: 100%; }
nav.toc { font-size: 13px; border: 1px solid #ddd; padding: .4em 1em; display: inline-block; }
"""


def html_page(title: str, body: list[str]) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>" + "\n".join(body) + "</body></html>\n")


def is_headline_candidate(metric: str, value: Any) -> bool:
    """Metrics worth a bar: numbers that are not counts or per-class / per-type breakdowns."""
    return (is_number(value) and "/" not in metric and not metric.startswith("n") and metric != "truncated_rate"
            and not is_flag_metric(metric))


# ---------------------------------------------------------------- baselines and intervals

NOT_ABOVE = "†"  # a checkpoint's value that does not beat the best trivial baseline
EXCLUDES_ZERO = "*"  # an interval that excludes 0


def fmt_interval(iv: Interval | None) -> str:
    """``Δ [lo, hi]`` with 3 decimals, and ``*`` when the interval excludes 0."""
    if iv is None:
        return ""
    mark = f" {EXCLUDES_ZERO}" if iv.excludes_zero else ""
    return f"{iv.delta:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}]{mark}"


def _fmt_value(v: float | None, beats: bool | None) -> str:
    return fmt(v) + (f" {NOT_ABOVE}" if beats is False else "")


def _table(doc: Doc, head: list[str], rows: list[list[str]], attrs: list[list[str]] | None = None) -> None:
    md = ["| " + " | ".join(_md_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    trs = []
    for i, cells in enumerate(rows):
        md.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        tds = []
        for j, c in enumerate(cells):
            a = attrs[i][j] if attrs else ""
            tds.append(f"<td{a}>{html.escape(c)}</td>")
        trs.append("<tr>" + "".join(tds) + "</tr>")
    doc.md.append("\n".join(md) + "\n")
    doc.html.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" + "".join(trs)
                    + "</table>")


def _cell_attrs(kind: str, run: str, st: MetricStats, value: Any) -> str:
    return (f' class="num" data-kind="{kind}" data-run="{html.escape(run)}" data-dataset="{html.escape(st.dataset)}"'
            f' data-metric="{html.escape(st.metric)}" data-value="{html.escape(json.dumps(value))}"')


def headline_intervals_table(doc: Doc, names: list[str], stats: list[MetricStats]) -> None:
    """One row per dataset (its first interval metric): best baseline, each run (†), consecutive Δs, run − best."""
    pairs = list(zip(names, names[1:], strict=False))
    head = ["dataset", "task", "metric", "best trivial"] + names + [f"{b} − {a}" for a, b in pairs] + \
        [f"{n} − trivial" for n in names]
    rows, attrs = [], []
    for st in stats:
        by_pair = {(a, b): iv for a, b, iv in st.pairs}
        best = f"{fmt(st.best[1])} ({st.best[0]})" if st.best else "n/a"
        cells = [st.dataset, st.task, st.metric, best]
        cells += [_fmt_value(v, st.beats_best(k)) for k, v in enumerate(st.values)]
        cells += [fmt_interval(by_pair.get(p)) for p in pairs]
        cells += [fmt_interval(iv) for iv in st.vs_best]
        rows.append(cells)
        a = ["", "", "", ""] + [_cell_attrs("value", n, st, v) for n, v in zip(names, st.values, strict=True)]
        a += [_cell_attrs("delta", f"{q}-{p}", st, by_pair[(p, q)].to_dict() if (p, q) in by_pair else None)
              for p, q in pairs]
        a += [_cell_attrs("vs_trivial", n, st, iv.to_dict() if iv else None)
              for n, iv in zip(names, st.vs_best, strict=True)]
        attrs.append(a)
    _table(doc, head, rows, attrs)


def baseline_rows_table(doc: Doc, names: list[str], stats: list[MetricStats]) -> None:
    """Runs and trivial baselines as rows, the group's interval metrics as columns (checkpoints marked †)."""
    head = ["run"] + [st.metric for st in stats]
    rows, attrs = [], []
    for k, name in enumerate(names):
        rows.append([name] + [_fmt_value(st.values[k], st.beats_best(k)) for st in stats])
        attrs.append([""] + [_cell_attrs("value", name, st, st.values[k]) for st in stats])
    policies: list[str] = []
    for st in stats:
        policies.extend(p for p in st.baselines if p not in policies)
    for p in policies:
        rows.append([f"trivial: {p}"] + [fmt(st.baselines.get(p)) for st in stats])
        attrs.append([""] + [_cell_attrs("baseline", p, st, st.baselines.get(p)) for st in stats])
    _table(doc, head, rows, attrs)


def differences_table(doc: Doc, names: list[str], stats: list[MetricStats]) -> None:
    """Every pair of checkpoints and every checkpoint against the best baseline: Δ [lo, hi] per metric."""
    labels: list[str] = []
    cells: dict[str, dict[str, Interval | None]] = {}
    for st in stats:
        for a, b, iv in st.pairs:
            label = f"{b} − {a}"
            if label not in labels:
                labels.append(label)
            cells.setdefault(label, {})[st.metric] = iv
        for n, iv in zip(names, st.vs_best, strict=True):
            if iv is None:
                continue
            label = f"{n} − best trivial"
            if label not in labels:
                labels.append(label)
            cells.setdefault(label, {})[st.metric] = iv
    rows = [[label] + [fmt_interval(cells[label].get(st.metric)) for st in stats] for label in labels]
    _table(doc, ["difference"] + [st.metric for st in stats], rows)


# ---------------------------------------------------------------- the verdict table (eval.report.verdict_table)

def trained_text(trained: bool | None) -> str:
    return "?" if trained is None else "yes" if trained else "no"


def verdict_cells(row: dict) -> list[str]:
    """The text cells of one verdict row (`eval.report.verdict_table.verdict_rows`), as both surfaces print them."""
    arrow = "↑" if row["higher_is_better"] else "↓"
    delta = "" if row["delta"] is None else f"{row['delta']:+.3f} [{row['lo']:+.3f}, {row['hi']:+.3f}]"
    wlt = "" if row["won"] is None else f"{row['won']} / {row['lost']} / {row['tied']}"
    best = row["best_baseline"]
    return [row["dataset"], row["task"], trained_text(row["trained"]), f"{row['metric']} {arrow}",
            _fmt_value(row["a_value"], row["a_beats_best"]), _fmt_value(row["b_value"], row["b_beats_best"]),
            delta, row["outcome"], wlt, f"{fmt(best['value'])} ({best['policy']})" if best else "n/a",
            ("COLLAPSE: " + "; ".join(row["collapse"])) if row["collapse"] else ""]


VERDICT_HEAD = ["dataset", "task", "trained by GRPO?", "metric", "{a}", "{b}", "Δ {b} − {a} [95 % interval]",
                "verdict", "samples won / lost / tied", "best trivial", "collapse flag"]


def verdict_table(doc: Doc, rows: list[dict], a: str, b: str) -> None:
    """The verdict table: Δ cells coloured (class better / worse) only when the interval excludes 0, by the
    metric's direction; each Δ cell carries its interval as JSON in ``data-value``."""
    head = [h.format(a=a, b=b) for h in VERDICT_HEAD]
    cells, attrs = [], []
    for r in rows:
        cells.append(verdict_cells(r))
        iv = {"delta": r["delta"], "lo": r["lo"], "hi": r["hi"]}
        cls = f" {r['outcome']}" if r["outcome"] != "tied" else ""
        a_attr = [""] * len(head)
        a_attr[6] = (f' class="num delta{cls}" data-kind="verdict" data-dataset="{html.escape(r["dataset"])}"'
                     f' data-task="{html.escape(r["task"])}" data-metric="{html.escape(r["metric"])}"'
                     f' data-value="{html.escape(json.dumps(iv))}"')
        a_attr[4] = a_attr[5] = ' class="num"'
        if r["collapse"]:
            a_attr[10] = ' class="collapse"'
        attrs.append(a_attr)
    _table(doc, head, cells, attrs)
