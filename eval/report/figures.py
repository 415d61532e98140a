"""Charts shared by the report and the dashboard, and the report's figures as PNG bytes.

Shared (the dashboard's interactive curves are built here too): the colour palette, `part_kind` (which axis a
reward part belongs on: scores in [0, 1], counts, lengths), `ema` (TensorBoard's debiased exponential moving
average) and `line_chart` (a Plotly figure as plain JSON: stacked panels sharing the step axis, each series drawn
raw and faint with its EMA on top). The report's figures are PNG (Markdown needs static images; Plotly's static
export would need a browser): metric bar charts, reward-part charts grouped by `part_kind`, and sample thumbnails
with the ground truth in blue and each run's prediction in that run's colour, boxes drawn in original pixels
scaled with the image, so nothing is re-parsed or re-mapped here.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from data_engine.masks import decode_mask
from data_engine.tasks import TASKS

GT_COLOUR = "#2166ac"
RUN_COLOURS = ["#e66101", "#5e3c99", "#1a9850", "#d01c8b", "#8c510a", "#01665e"]
# Series colours of line charts: the run colours first, then more distinct ones (colour-blind-safe order).
SERIES_COLOURS = RUN_COLOURS + ["#2166ac", "#b2182b", "#999999", "#66a61e", "#e6ab02", "#7570b3", "#1b9e77",
                                "#a6761d"]
THUMB_SIDE = 320
DEFAULT_SMOOTHING = 0.6  # the EMA weight a chart opens with (TensorBoard's default)
# Axis of each kind of reward part: title and fixed range (None: autorange).
PART_KIND_AXES: dict[str, tuple[str, tuple[float, float] | None]] = {
    "score": ("score (0–1)", None), "value": ("value", None), "count": ("count", None),
    "length": ("length (tokens)", None)}


def part_kind(name: str, values: Any = None) -> str:
    """Which axis a reward part is drawn on: "count" (`n_pred`, `n_gt`, `n_steps`, `*_count`), "length"
    (`*length*`, `*_len`, `*tokens*`), "score" (everything else: `iou`, `f1`, `format`, penalties...) or, when
    `values` show a "score" leaving [-1, 1] (CIDEr-D reaches 10), "value".

    Args:
        name: the part name, with or without its task prefix (`grounding/n_boxes` or `n_boxes`).
        values: the part's values, if known (None entries ignored).
    """
    last = name.rsplit("/", 1)[-1].lower()
    if last.startswith("n_") or last.endswith("_count"):
        return "count"
    if "length" in last or last.endswith("_len") or "tokens" in last:
        return "length"
    finite = [abs(float(v)) for v in values or [] if v is not None and np.isfinite(float(v))]
    return "value" if finite and max(finite) > 1.0 + 1e-9 else "score"


def ema(values: Any, weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average of a series.

    ``s_t = (1 - w) * sum_i w^i x_(t-i) / (1 - w^(t+1))``: the plain EMA started at zero, divided by the weight
    it has accumulated so far, so the first points are not pulled towards 0 (equals pandas
    ``ewm(alpha=1 - w, adjust=True).mean()``). NaN entries are skipped (the average carries over them).

    Args:
        values: shape (n,) series.
        weight: smoothing in [0, 1); 0 returns the series unchanged.

    Returns:
        shape (n,) float64 smoothed series.
    """
    x = np.asarray(values, dtype=np.float64)
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    out = np.empty_like(x)
    last, acc = 0.0, 0.0
    for i, v in enumerate(x):  # a recurrence: n is the number of logged steps, small
        if np.isfinite(v):
            last = weight * last + (1.0 - weight) * v
            acc = weight * acc + (1.0 - weight)
        out[i] = last / acc if acc > 0 else np.nan
    return out


def line_chart(title: str, panels: list[dict[str, Any]], smoothing: float = DEFAULT_SMOOTHING,
               height_per_panel: int = 190) -> dict[str, Any]:
    """A Plotly figure (plain JSON: ``{"data", "layout"}``) of stacked panels sharing the x (step) axis.

    Each series is two traces: the raw values, faint and without a legend entry, and their `ema` on top with
    ``meta = {"raw": index of the raw trace}`` (so a page can re-smooth it). Both share a legend group: one click
    on the legend hides a series in every panel. A name keeps its colour across panels.

    Args:
        title: chart title.
        panels: [{"title": y-axis title, "range": (lo, hi) | None, "series": [(name, xs, ys), ...]}], top first.
        smoothing: the EMA weight of the smoothed traces.
        height_per_panel: pixels per panel.
    """
    n = max(1, len(panels))
    gap = 0.06 if n > 1 else 0.0
    span = (1.0 - gap * (n - 1)) / n
    colours: dict[str, str] = {}
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "font": {"size": 14}}, "height": 70 + height_per_panel * n,
        "margin": {"l": 60, "r": 10, "t": 36, "b": 30}, "hovermode": "x unified", "template": "plotly_white",
        # Beside the panels, never over them: Plotly widens the right margin to fit it.
        "legend": {"orientation": "v", "y": 1.0, "x": 1.01, "xanchor": "left", "yanchor": "top",
                   "font": {"size": 11}},
        "xaxis": {"title": {"text": "step"}, "anchor": f"y{n if n > 1 else ''}", "showspikes": True}}
    for k, panel in enumerate(panels):
        axis = "y" if k == 0 else f"y{k + 1}"
        top = 1.0 - k * (span + gap)
        ax: dict[str, Any] = {"domain": [max(0.0, top - span), top], "title": {"text": panel["title"],
                              "font": {"size": 11}}, "anchor": "x", "zeroline": False}
        if panel.get("range"):
            ax["range"] = list(panel["range"])
        layout["yaxis" if k == 0 else f"yaxis{k + 1}"] = ax
        for name, xs, ys in panel["series"]:
            colour = colours.setdefault(name, SERIES_COLOURS[len(colours) % len(SERIES_COLOURS)])
            ys = [None if v is None or not np.isfinite(v) else float(v) for v in ys]
            raw = len(data)
            common = {"type": "scatter", "mode": "lines", "x": list(xs), "yaxis": axis, "legendgroup": name,
                      "name": name}
            data.append({**common, "y": ys, "opacity": 0.25, "showlegend": False, "hoverinfo": "skip",
                         "line": {"color": colour, "width": 1}})
            smooth = ema([np.nan if v is None else v for v in ys], smoothing)
            data.append({**common, "y": [None if not np.isfinite(v) else round(float(v), 6) for v in smooth],
                         "meta": {"raw": raw}, "line": {"color": colour, "width": 2}, "customdata": ys,
                         "showlegend": not any(d.get("showlegend", True) and d.get("legendgroup") == name
                                               for d in data[:-1]),
                         "hovertemplate": f"{name}: %{{y:.4g}} (raw %{{customdata:.4g}})<extra></extra>"})
    return {"data": data, "layout": layout}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def grouped_bars(title: str, groups: list[str], series: dict[str, list[float | None]], ylabel: str = "") -> bytes:
    """A grouped bar chart: one group per x label, one bar per series (run); None values are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(series), 1)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(groups) * n / 2 + 2), 3.2))
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (n - 1) / 2) * width for i, v in enumerate(values) if v is not None]
        ys = [v for v in values if v is not None]
        ax.bar(xs, ys, width, label=name, color=RUN_COLOURS[k % len(RUN_COLOURS)])
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _load_view(row: dict) -> tuple[Image.Image, tuple[float, float]] | None:
    """The shown region of a row's first image and its top-left offset (patch rows: the window)."""
    images = row.get("images") or []
    if not images:
        return None
    try:
        img = Image.open(images[0]).convert("RGB")
    except (OSError, ValueError):
        return None
    patch = (row.get("target") or {}).get("patch")
    if patch:
        x, y, s = int(patch["x"]), int(patch["y"]), int(patch["size"])
        return img.crop((x, y, x + s, y + s)), (0.0, 0.0)  # patch targets and predictions are in patch pixels
    return img, (0.0, 0.0)


def _box_poly(b: Any) -> list[float] | None:
    try:
        v = [float(x) for x in b]
    except (TypeError, ValueError):
        return None
    if len(v) == 4:
        return [v[0], v[1], v[2], v[1], v[2], v[3], v[0], v[3]]
    return v if len(v) == 8 else None


def _overlay(row: dict) -> str:
    """The overlay kind the row's task declares (`data_engine.tasks`); "none" for an unknown task."""
    decl = TASKS.get(str(row.get("task")))
    return decl.overlay if decl is not None else "none"


def gt_shapes(row: dict) -> list[list[float]]:
    """Ground-truth polygons of a row (detection objects, grounding box, zoom evidence), original pixels; a mask
    row has none (its masks are blended in by `thumbnail`)."""
    t = row.get("target") or {}
    kind = _overlay(row)
    if kind == "objects":
        return [p for o in t.get("objects") or [] if (p := _box_poly(o.get("poly"))) is not None]
    if kind == "box":
        return [p for p in [_box_poly(t.get("box"))] if p is not None]
    if kind == "boxes":
        return [p for b in t.get("boxes") or [] if (p := _box_poly(b)) is not None]
    if kind == "zoom":
        return [p for b in t.get("evidence") or [] if (p := _box_poly(b)) is not None]
    return []


def pred_shapes(row: dict) -> list[list[float]]:
    """Predicted polygons of a row (detection objects, grounding box, zoom crop boxes), original pixels."""
    pred = row.get("prediction") or {}
    kind = _overlay(row)
    if kind == "objects":
        return [p for o in pred.get("objects") or [] if (p := _box_poly(o.get("poly"))) is not None]
    if kind == "box":
        return [p for p in [_box_poly(pred.get("box"))] if p is not None]
    if kind == "boxes":
        return [p for b in pred.get("boxes") or [] if (p := _box_poly(b)) is not None]
    if kind == "zoom":
        return [p for t in row.get("turns") or [] if (p := _box_poly(t.get("box"))) is not None]
    return []


def _tint(thumb: Image.Image, rle: Any, colour: str, alpha: int = 110) -> Image.Image:
    """``thumb`` with the mask ``rle`` (COCO RLE, original pixels) blended in ``colour``; unchanged when the mask is
    missing or unreadable."""
    try:
        m = Image.fromarray(decode_mask(rle).astype(np.uint8) * alpha).resize(thumb.size, Image.Resampling.NEAREST)
    except Exception:  # noqa: BLE001 - a corrupt stored mask is simply not drawn
        return thumb
    return Image.composite(Image.new("RGB", thumb.size, colour), thumb, m)


def pred_labels(row: dict) -> list[str]:
    """The label of each shape of `pred_shapes` (detection classes; the expression or "prediction" otherwise)."""
    pred = row.get("prediction") or {}
    kind = _overlay(row)
    if kind == "objects":
        return [str(o.get("label", "")) for o in pred.get("objects") or [] if _box_poly(o.get("poly")) is not None]
    name = str((row.get("target") or {}).get("expression") or "prediction")
    return [name] * len(pred_shapes(row))


def draw_overlay(img: Image.Image, rows: list[dict | None], scale: float, labels: bool = False) -> Image.Image:
    """``img`` (a view of the first row's image scaled by ``scale`` from original pixels) with the first row's
    ground truth in blue and each row's predictions in its run colour (masks translucent); ``labels`` writes each
    predicted shape's label at its first corner. Shared by the report's thumbnails and `georft predict`'s
    overlays."""
    first = next((r for r in rows if r is not None), None)
    if first is None:
        return img
    if _overlay(first) == "mask":  # ground truth and each run's predicted mask, translucent
        layers = [(GT_COLOUR, (first.get("target") or {}).get("mask"))]
        layers += [(RUN_COLOURS[k % len(RUN_COLOURS)], (r.get("prediction") or {}).get("mask"))
                   for k, r in enumerate(rows) if r is not None]
        for colour, rle in layers:
            img = _tint(img, rle, colour)
    draw = ImageDraw.Draw(img)

    def poly(p: list[float], colour: str, width: int) -> None:
        pts = [(p[i] * scale, p[i + 1] * scale) for i in range(0, 8, 2)]
        draw.line(pts + pts[:1], fill=colour, width=width)

    for p in gt_shapes(first):
        poly(p, GT_COLOUR, 3)
    for k, r in enumerate(rows):
        if r is None:
            continue
        colour = RUN_COLOURS[k % len(RUN_COLOURS)]
        shapes = pred_shapes(r)
        for p in shapes:
            poly(p, colour, 2)
        if labels:
            for p, text in zip(shapes, pred_labels(r), strict=False):
                x, y = min(p[0::2]) * scale, min(p[1::2]) * scale
                draw.text((x + 2, max(0.0, y - 11)), text, fill=colour)
    return img


def thumbnail(rows: list[dict | None], side: int = THUMB_SIDE) -> bytes | None:
    """PNG of the first row's image with its ground truth and each row's predictions (row k in run colour k).

    Returns None when the image cannot be opened.
    """
    first = next((r for r in rows if r is not None), None)
    view = _load_view(first) if first else None
    if view is None:
        return None
    img, _ = view
    scale = side / max(img.size)
    thumb = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BILINEAR)
    thumb = draw_overlay(thumb, rows, scale)
    buf = io.BytesIO()
    thumb.save(buf, format="PNG")
    return buf.getvalue()


def write_png(data: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
