"""Training dynamics of a run, read from its own logs: the Trainer's ``trainer_state.json`` ``log_history``.

Both the dashboard's overview (Plotly, `line_chart`) and the report (PNG, `dynamics_png`) draw the same panels on
the same step axis with the same EMA (`eval.report.figures.ema`): loss, KL, entropy, clip ratios, grad norm,
learning rate, step time and tokens per second. A panel whose keys the log never holds is left out.

tokens/s is derived, not logged: TRL logs the cumulative ``num_tokens`` and the mean ``step_time`` (seconds per
optimizer step) of each logging interval, so tokens/s at a log entry = Δnum_tokens / (Δstep × step_time) against
the previous entry that has both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from eval.report.figures import DEFAULT_SMOOTHING, RUN_COLOURS, ema, line_chart

TOKENS_PER_S = "tokens_per_s"
# (y-axis title, [log keys]) top to bottom; the clip ratios are TRL's GRPO ratio-clipping shares.
PANELS: list[tuple[str, list[str]]] = [
    ("loss", ["loss"]),
    ("KL to the reference", ["kl"]),
    ("entropy", ["entropy"]),
    ("clip ratio", ["clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"]),
    ("grad norm", ["grad_norm"]),
    ("learning rate", ["learning_rate"]),
    ("step time (s)", ["step_time"]),
    ("tokens / s", [TOKENS_PER_S]),
]


def find_trainer_state(run_dir: Path | None) -> Path | None:
    """``trainer_state.json`` of a training output folder: its own (written at the end), else the newest
    ``checkpoint-<step>/`` one (a running or interrupted run); None when there is none."""
    if run_dir is None:
        return None
    run_dir = Path(run_dir)
    if (run_dir / "trainer_state.json").is_file():
        return run_dir / "trainer_state.json"

    def step(p: Path) -> int:
        tail = p.parent.name.rsplit("-", 1)[-1]
        return int(tail) if tail.isdigit() else -1

    found = sorted(run_dir.glob("checkpoint-*/trainer_state.json"), key=step)
    return found[-1] if found else None


def read_log_history(path: Path) -> list[dict[str, Any]]:
    """The ``log_history`` entries of a trainer_state.json (entries that are not mappings with a step skipped;
    an unreadable file reads as no history)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    hist = doc.get("log_history") if isinstance(doc, dict) else None
    return [e for e in hist if isinstance(e, dict) and isinstance(e.get("step"), (int, float))] \
        if isinstance(hist, list) else []


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def dynamics_series(history: list[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """``{key: (steps, values)}`` of every key of `PANELS` present in the log (tokens/s derived, see module)."""
    keys = {k for _, ks in PANELS for k in ks} - {TOKENS_PER_S}
    out: dict[str, tuple[list[int], list[float]]] = {}
    prev = None
    for e in sorted(history, key=lambda e: e["step"]):
        s = int(e["step"])
        for k in keys:
            if _finite(e.get(k)):
                xs, ys = out.setdefault(k, ([], []))
                xs.append(s)
                ys.append(float(e[k]))
        if _finite(e.get("num_tokens")) and _finite(e.get("step_time")):
            if prev is not None and s > prev[0] and e["step_time"] > 0:
                xs, ys = out.setdefault(TOKENS_PER_S, ([], []))
                xs.append(s)
                ys.append((float(e["num_tokens"]) - prev[1]) / ((s - prev[0]) * float(e["step_time"])))
            prev = (s, float(e["num_tokens"]))
    return out


def dynamics_panels(series: dict[str, tuple[list[int], list[float]]], name: str = "run") -> list[dict[str, Any]]:
    """`line_chart` panels: one per `PANELS` entry with data; a panel of one key draws one line named `name`."""
    panels = []
    for title, keys in PANELS:
        lines = [(name if len(keys) == 1 else k.split("/", 1)[-1], *series[k]) for k in keys if k in series]
        if lines:
            panels.append({"title": title, "range": None, "series": lines})
    return panels


def dynamics_chart(series: dict[str, tuple[list[int], list[float]]], name: str = "run") -> dict[str, Any] | None:
    """The dashboard's Plotly figure of the training dynamics (None when the log holds none of the keys)."""
    panels = dynamics_panels(series, name)
    return line_chart("Training dynamics (trainer_state.json)", panels, height_per_panel=120) if panels else None


def dynamics_png(series: dict[str, tuple[list[int], list[float]]], title: str,
                 smoothing: float = DEFAULT_SMOOTHING) -> bytes | None:
    """The report's figure: the same panels, raw values faint and their EMA on top, one shared step axis."""
    panels = dynamics_panels(series)
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eval.report.figures import _png

    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 1.5 * len(panels) + 0.6), sharex=True, squeeze=False)
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        for k, (label, xs, ys) in enumerate(panel["series"]):
            colour = RUN_COLOURS[k % len(RUN_COLOURS)]
            ax.plot(xs, ys, color=colour, alpha=0.25, linewidth=1)
            ax.plot(xs, ema(np.asarray(ys, float), smoothing), color=colour, linewidth=1.8,
                    label=label if len(panel["series"]) > 1 else None)
        ax.set_ylabel(panel["title"], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(panel["series"]) > 1:
            ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("step")
    axes[0, 0].set_title(f"{title} (EMA {smoothing:g}, raw values faint)", fontsize=10)
    return _png(fig)
