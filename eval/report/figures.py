"""Report figures as PNG bytes: metric bar charts, reward-part charts (matplotlib) and sample thumbnails with boxes.

Thumbnails show the sample's original image (a patch row: its window) with the ground truth in blue and each
run's prediction in that run's colour; boxes are drawn in original pixels scaled with the image, so nothing is
re-parsed or re-mapped here.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from data_engine.tasks import TASKS

GT_COLOUR = "#2166ac"
RUN_COLOURS = ["#e66101", "#5e3c99", "#1a9850", "#d01c8b", "#8c510a", "#01665e"]
THUMB_SIDE = 320


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
    """Ground-truth polygons of a row (detection objects, grounding box, zoom evidence), original pixels."""
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
    draw = ImageDraw.Draw(thumb)

    def poly(p: list[float], colour: str, width: int) -> None:
        pts = [(p[i] * scale, p[i + 1] * scale) for i in range(0, 8, 2)]
        draw.line(pts + pts[:1], fill=colour, width=width)

    for p in gt_shapes(first):
        poly(p, GT_COLOUR, 3)
    for k, r in enumerate(rows):
        if r is not None:
            for p in pred_shapes(r):
                poly(p, RUN_COLOURS[k % len(RUN_COLOURS)], 2)
    buf = io.BytesIO()
    thumb.save(buf, format="PNG")
    return buf.getvalue()


def write_png(data: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
