"""Zoom-chain reward ``zoom_chain``: answer accuracy, with a zoom bonus paid only for a correct answer.

Input. ``completion`` is the whole episode: the concatenated assistant text, or the message list (assistant turns
with their tool calls, tool/user turns in between; only assistant turns are read). The final answer is the last
assistant turn with the tool calls removed. Optional ``turns`` (from the rollout, which knows each step's image):
one dict per zoom step ``{"box": [x1, y1, x2, y2] | None, "view": [x1, y1, x2, y2]}`` in ORIGINAL pixels, ``box``
being what the step's call mapped to (None if it failed) and ``view`` the region shown when the call was made.
Without ``turns`` the calls are parsed from the text and every box is read in ``frame`` (the full image's frame);
the view of step t is the full image for t = 0 and the previous valid box afterwards.

Step validity (docs/rewards-and-metrics.md §2): the call parses; after clipping to its view it keeps >= 90 % of its
area (``inside``); x1 < x2 and y1 < y2; min side >= ``min_side`` px (28); aspect <= ``max_aspect`` (100); area <=
``max_area_frac`` (0.9) of the view (it actually zooms in).

Score::

    acc        = normalised exact match of the final answer (rewards.text_match.answers_match)
    valid      = mean_t valid_t                       (0 without calls)
    coverage   = mean_e max_t area(b_t ∩ e) / area(e)  over evidence boxes e (1 when there are none)
    zoom       = valid · coverage
    budget     = min(1, budget_penalty · max(0, n_calls - max_calls))   (max_calls = 0 without evidence)
    overall    = acc · ((1 - zoom_weight) + zoom_weight · zoom) · (1 - budget)   with evidence
    overall    = acc · (1 - budget)                                          without evidence

so a wrong answer scores 0 however it zooms (the bonus is gated on correctness: DeepEyes' ``tool = 1 iff acc``;
an ungated bonus teaches always-zooming), a correct answer without zooming scores ``1 - zoom_weight`` (0.7) when
evidence exists, and zoom spam or zooming where nothing calls for it is cut by the budget term. A correct answer
with one valid zoom covering the evidence scores 1.
"""

from __future__ import annotations

import math
from typing import Any

from data_engine.frames import Frame
from eval.parsers import completion_text, parse_tool_calls
from eval.parsers.zoom import parse_zoom
from rewards.common import finite01, target_of
from rewards.text_match import answers_match

PARTS = ("acc", "steps_valid", "coverage", "zoom", "n_steps", "budget_penalty", "format")


def _area(b) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _inter(a, b) -> float:
    return _area([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])])


def step_valid(box, view, min_side: float = 28.0, max_aspect: float = 100.0, max_area_frac: float = 0.9) -> bool:
    """Whether one zoom box (original pixels) is a valid step inside ``view`` (see the module docstring)."""
    if box is None or len(box) != 4 or not all(isinstance(v, float | int) and math.isfinite(v) for v in box):
        return False
    x1, y1, x2, y2 = box
    if not (x1 < x2 and y1 < y2):
        return False
    area = _area(box)
    if _inter(box, view) < 0.9 * area:
        return False
    cx1, cy1, cx2, cy2 = max(x1, view[0]), max(y1, view[1]), min(x2, view[2]), min(y2, view[3])
    w, h = cx2 - cx1, cy2 - cy1
    if min(w, h) < min_side or max(w, h) > max_aspect * min(w, h):
        return False
    return w * h <= max_area_frac * _area(view)


def _final_answer(completion: Any) -> str:
    if isinstance(completion, (list, tuple)):
        turns = [m for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"]
        last = completion_text(turns[-1:]) if turns else ""
        return parse_zoom(last)["answer"]
    return parse_zoom(completion_text(completion))["answer"]


def zoom_chain(
    completion: Any,
    sample: dict,
    frame: Frame | None = None,
    turns: list | None = None,
    zoom_weight: float = 0.3,
    max_calls: int = 1,
    budget_penalty: float = 0.2,
    min_side: float = 28.0,
    max_aspect: float = 100.0,
    max_area_frac: float = 0.9,
    **_: Any,
) -> dict:
    """Score a zoom-chain episode (see the module docstring for inputs and formula).

    Returns:
        ``{"overall", "acc", "steps_valid", "coverage", "zoom", "n_steps", "budget_penalty", "format"}``.
    """
    target = target_of(sample)
    text = completion_text(completion)
    parsed = parse_zoom(text, frame=frame)
    answer = _final_answer(completion)
    acc = float(answers_match(answer, target.get("answer"), target.get("choices")))
    w = float(sample.get("width") or 0) or 1e9
    h = float(sample.get("height") or 0) or 1e9
    full = [0.0, 0.0, w, h]
    steps: list[tuple[Any, list]] = []
    if isinstance(turns, (list, tuple)) and turns:
        for t in turns[:64]:
            t = t if isinstance(t, dict) else {}
            view = t.get("view") if isinstance(t.get("view"), (list, tuple)) and len(t.get("view")) == 4 else None
            steps.append((t.get("box"), list(view) if view else None))
        n_calls = max(len(turns), parsed["n_calls"])
    else:
        calls, over = parse_tool_calls(text, frame)
        steps = [(c["box"], None) for c in calls]
        n_calls = len(calls) + over
    valid: list[bool] = []
    boxes: list[list[float]] = []
    view = full
    for box, given_view in steps:
        v = given_view or view
        ok = step_valid(box, v, min_side, max_aspect, max_area_frac)
        valid.append(ok)
        if ok:
            boxes.append([float(x) for x in box])
            view = boxes[-1]
    evidence = [e for e in target.get("evidence") or [] if isinstance(e, (list, tuple)) and len(e) == 4]
    if evidence:
        cov = [max((_inter(b, e) / _area(e) for b in boxes), default=0.0) if _area(e) > 0 else 0.0 for e in evidence]
        coverage = sum(cov) / len(cov)
    else:
        coverage = 1.0
    steps_valid = sum(valid) / len(valid) if valid else 0.0
    zoom = steps_valid * coverage
    budget = min(1.0, finite01(budget_penalty, 0, 1e9) * max(0, n_calls - (max_calls if evidence else 0)))
    zw = finite01(zoom_weight)
    # Without evidence there is nothing to zoom to: the answer alone counts and every call costs budget.
    overall = acc * ((1 - zw) + zw * zoom if evidence else 1.0) * (1 - budget)
    return {
        "overall": finite01(overall),
        "acc": acc,
        "steps_valid": finite01(steps_valid),
        "coverage": finite01(coverage),
        "zoom": finite01(zoom),
        "n_steps": float(n_calls),
        "budget_penalty": finite01(budget),
        "format": float(parsed["format_ok"]),
    }

