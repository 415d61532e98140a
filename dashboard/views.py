"""Page handlers: parse and check the query, ask the run/eval queries, render a template.

Bad query values answer 400, unknown runs, steps, samples and eval dirs 404; nothing here writes anywhere.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from dashboard.chat import conversation, prompt_messages
from dashboard.overlay import COLOURS, compare_shapes, sample_shapes
from dashboard.rollouts import SORTS, GroupFilter
from eval.report.figures import DEFAULT_SMOOTHING
from eval.report.render import ground_truth_text

GROUPS_PER_PAGE = 8
ROWS_PER_PAGE = 25
STEPS_PER_PAGE = 50
_MAX_QUERY = 500


def query_str(request: Request, name: str) -> str | None:
    v = request.query_params.get(name)
    if v is None or v == "":
        return None
    if len(v) > _MAX_QUERY or "\x00" in v:
        raise HTTPException(400, f"query parameter {name!r} is malformed")
    return v


def query_int(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    v = query_str(request, name)
    if v is None:
        return default
    try:
        n = int(v)
    except ValueError:
        raise HTTPException(400, f"query parameter {name!r} must be an integer") from None
    if not lo <= n <= hi:
        raise HTTPException(400, f"query parameter {name!r} must be in [{lo}, {hi}]")
    return n


def query_float(request: Request, name: str) -> float | None:
    v = query_str(request, name)
    if v is None:
        return None
    try:
        x = float(v)
    except ValueError:
        raise HTTPException(400, f"query parameter {name!r} must be a number") from None
    if not math.isfinite(x):
        raise HTTPException(400, f"query parameter {name!r} must be finite")
    return x


def _pages(total: int, per: int, page: int) -> dict[str, int]:
    return {"page": page, "pages": max(1, -(-total // per)), "total": total, "per": per}


def _dash(request: Request):
    return request.app.state.dash


def home(request: Request) -> Response:
    dash = _dash(request)
    from dashboard.verdicts import default_pair

    evals = [ev for run in dash.runs for ev in run.evals]
    verdicts = []
    for run in dash.runs:
        pair = default_pair(run.evals) if not run.label else None  # a per-task stage shares its run's evals
        if pair is not None and Path(pair[0].name).name == "sft":
            verdicts.append(dash.verdicts.get(pair[0], pair[1], (run.name, run.name)))
    return dash.render(request, "home.html", evals=evals, verdicts=verdicts)


def overview(request: Request) -> Response:
    dash = _dash(request)
    r = request.path_params["r"]
    run = dash.run(r)
    steps = sorted(run.reader.index()["steps"].items(), key=lambda kv: int(kv[0]))
    page = query_int(request, "page", 1, 1, 10**9)
    table = []
    for s, info in steps[(page - 1) * STEPS_PER_PAGE: page * STEPS_PER_PAGE]:
        tasks = info.get("tasks", {})
        n = sum(t.get("reward", {}).get("n", 0) for t in tasks.values())
        mean = sum(t["reward"]["mean"] * t["reward"]["n"] for t in tasks.values() if "reward" in t) / n if n else None
        table.append({"step": int(s), "rows": info.get("rows", 0), "reward": mean, "tasks": sorted(tasks)})
    return dash.render(request, "overview.html", run=run, table=table, smoothing=DEFAULT_SMOOTHING,
                       pg=_pages(len(steps), STEPS_PER_PAGE, page))


def charts(request: Request) -> Response:
    dash = _dash(request)
    r = request.path_params["r"]
    dash.run(r)
    return Response(dash.charts(r), media_type="application/json", headers={"Cache-Control": "no-cache"})


def step_page(request: Request) -> Response:
    dash = _dash(request)
    r, step = request.path_params["r"], request.path_params["step"]
    run = dash.run(r)
    if step not in run.reader.steps():
        raise HTTPException(404, f"no rollouts for step {step}")
    flt = group_filter(request)
    page = query_int(request, "page", 1, 1, 10**9)
    per = query_int(request, "per", GROUPS_PER_PAGE, 1, 100)
    result = dash.queries[r].groups(step, flt, (page - 1) * per, per)
    for g in result.groups:
        _small_multiples(dash, r, g)
        g["truth"] = ground_truth_text({"task": g["task"], "target": g["target"]})
    steps = run.reader.steps()
    k = steps.index(step)
    nav = {"prev": steps[k - 1] if k else None, "next": steps[k + 1] if k + 1 < len(steps) else None}
    return dash.render(request, "step.html", run=run, step=step, flt=flt, result=result, nav=nav,
                       pg=_pages(result.total_groups, per, page), query=dict(request.query_params))


def group_filter(request: Request) -> GroupFilter:
    """The step view's and the search's filters from the query (bad values answer 400)."""
    sort = query_str(request, "sort") or "generated"
    if sort not in SORTS:
        raise HTTPException(400, f"sort must be one of {', '.join(SORTS)}")
    return GroupFilter(task=query_str(request, "task"), source=query_str(request, "source"),
                       reward_min=query_float(request, "rmin"), reward_max=query_float(request, "rmax"),
                       parse_failed=query_str(request, "failed") in ("1", "on", "true"),
                       std_min=query_float(request, "stdmin"), std_max=query_float(request, "stdmax"),
                       adv_min=query_float(request, "advmin"), sort=sort)


def search_page(request: Request) -> Response:
    """Groups of every step passing the filters (a W&B-table-like search over the whole run)."""
    dash = _dash(request)
    r = request.path_params["r"]
    run = dash.run(r)
    flt = group_filter(request)
    page = query_int(request, "page", 1, 1, 10**9)
    hits, total = dash.queries[r].search(flt, (page - 1) * ROWS_PER_PAGE, ROWS_PER_PAGE)
    tasks = sorted({t for info in run.reader.index()["steps"].values() for t in info.get("tasks", {})})
    return dash.render(request, "search.html", run=run, flt=flt, hits=hits, tasks=tasks, sorts=SORTS,
                       pg=_pages(total, ROWS_PER_PAGE, page), query=dict(request.query_params))


def _small_multiples(dash, r: int, g: dict[str, Any]) -> None:
    """Add to a group what the step view draws: its prompt as chat messages and, for tasks with boxes, the group
    image (one header read) with each completion's shapes (`row["shapes"]`) for the small multiples."""
    g["chat"], _ = prompt_messages(g["prompt"], g["images"])
    first = g["rows"][0] if g["rows"] else {}
    g["image"] = dash.image_ref(g["images"][0], r, first.get("width"), first.get("height")) if g["images"] else None
    for row in g["rows"]:
        row["shapes"] = sample_shapes(row["task"], row["target"], row["prediction"], row["turns"])
    g["multiples"] = bool(g["image"] and g["image"]["width"] and any(row["shapes"] for row in g["rows"]))


def rollout_sample(request: Request) -> Response:
    dash = _dash(request)
    r = request.path_params["r"]
    run = dash.run(r)
    step = query_int(request, "step", None, 0, 10**12)
    gen = query_int(request, "gen", None, 0, 10**6)
    group = query_str(request, "group")
    if step is None or gen is None or group is None:
        raise HTTPException(400, "step, group and gen are required")
    if step not in run.reader.steps():
        raise HTTPException(404, f"no rollouts for step {step}")
    row = dash.queries[r].completion(step, group, gen)
    if row is None:
        raise HTTPException(404, f"no completion {group!r}/{gen} at step {step}")
    shapes = sample_shapes(row["task"], row["target"], row["prediction"], row["turns"])
    conv = conversation(row.get("prompt"), row.get("images"), row.get("completion"), row.get("turns"))
    return dash.render(request, "sample.html", run=run, row=row, shapes=shapes, colours=COLOURS, conv=conv,
                       title=f"step {step} · group {group} · completion {gen}", source="rollout")


def eval_page(request: Request) -> Response:
    dash = _dash(request)
    ev = dash.eval_dir(request.path_params["key"])
    task, dataset = query_str(request, "task"), query_str(request, "dataset")
    failed = query_str(request, "failed") in ("1", "on", "true")
    page = query_int(request, "page", 1, 1, 10**9)
    rows, total = dash.evals.page(ev, task, dataset, failed, (page - 1) * ROWS_PER_PAGE, ROWS_PER_PAGE)
    idx = dash.evals.index(ev)
    tasks = sorted({e.task for e in idx.entries})
    datasets = sorted({e.dataset for e in idx.entries})
    meta = ev.metrics()
    return dash.render(request, "eval.html", ev=ev, run=dash.runs[ev.run], meta=meta, rows=rows, idx=idx,
                       flags=flag_rows([meta.get("metrics")]),
                       tasks=tasks, datasets=datasets, task=task, dataset=dataset, failed=failed,
                       pg=_pages(total, ROWS_PER_PAGE, page), query=dict(request.query_params))


def eval_sample(request: Request) -> Response:
    dash = _dash(request)
    ev = dash.eval_dir(request.path_params["key"])
    sid = query_str(request, "id")
    idx = dash.evals.index(ev)
    if sid is None or sid not in idx.by_id:
        raise HTTPException(404, f"no sample {sid!r} in {ev.name}")
    row = dash.evals.row(ev, idx.entries[idx.by_id[sid]])
    row.setdefault("parts", row.get("rewards") or {})
    shapes = sample_shapes(row.get("task", ""), row.get("target"), row.get("prediction"), row.get("turns"))
    conv = conversation(row.get("prompt"), row.get("images"), row.get("completion"), row.get("turns"))
    return dash.render(request, "sample.html", run=dash.runs[ev.run], row=row, shapes=shapes, colours=COLOURS,
                       conv=conv, title=f"{ev.name} · {sid}", source="eval", ev=ev)


def compare_page(request: Request) -> Response:
    dash = _dash(request)
    evals = [ev for run in dash.runs for ev in run.evals]
    ka, kb = query_str(request, "a"), query_str(request, "b")
    ctx: dict[str, Any] = {"evals": evals, "a": None, "b": None, "pairs": [], "metrics": [], "metric": None}
    if ka is None and kb is None and len(evals) >= 2:
        from dashboard.verdicts import default_pair

        pair = next((p for run in dash.runs if (p := default_pair(run.evals))), None) or (evals[0], evals[1])
        ka, kb = pair[0].key, pair[1].key
    if ka is not None and kb is not None:
        ev_a, ev_b = dash.eval_dir(ka), dash.eval_dir(kb)
        ctx.update(_compare_context(request, dash, ev_a, ev_b))
    return dash.render(request, "compare.html", colours=COLOURS, query=dict(request.query_params), **ctx)


def _compare_context(request: Request, dash, ev_a, ev_b) -> dict[str, Any]:
    from dashboard.evals import compare

    ia, ib = dash.evals.index(ev_a), dash.evals.index(ev_b)
    metrics = [m for m in ia.metric_names() if m in set(ib.metric_names())]
    metric = query_str(request, "metric") or (metrics[0] if metrics else "")
    if metric and metrics and metric not in metrics:
        raise HTTPException(400, f"metric {metric!r} is not scored in both eval dirs")
    order = query_str(request, "order") or "asc"
    if order not in ("asc", "desc"):
        raise HTTPException(400, "order must be asc or desc")
    page = query_int(request, "page", 1, 1, 10**9)
    task, dataset = query_str(request, "task"), query_str(request, "dataset")
    pairs = compare(ia, ib, metric, descending=order == "desc")
    pairs = [p for p in pairs if (not task or p.a.task == task) and (not dataset or p.a.dataset == dataset)]
    # paging only over the samples that have the metric in both runs; the others are counted, not listed
    unscored = sum(p.diff is None for p in pairs)
    pairs = [p for p in pairs if p.diff is not None]
    shown = []
    for p in pairs[(page - 1) * ROWS_PER_PAGE: page * ROWS_PER_PAGE]:
        ra, rb = dash.evals.row(ev_a, p.a), dash.evals.row(ev_b, p.b)
        shapes = compare_shapes(ra.get("task", ""), ra.get("target"), ra.get("prediction"), rb.get("prediction"),
                                ra.get("turns"), rb.get("turns"))
        shown.append({"pair": p, "a": ra, "b": rb, "shapes": shapes, "truth": ground_truth_text(ra)})
    meta_a, meta_b = ev_a.metrics(), ev_b.metrics()
    held = [m.get("heldout") if isinstance(m.get("heldout"), dict) else {} for m in (meta_a, meta_b)]
    mixed = held[0] and held[1] and (held[0].get("name"), held[0].get("root")) != (held[1].get("name"),
                                                                                     held[1].get("root"))
    all_tasks = sorted({e.task for e in ia.entries})
    all_datasets = sorted({e.dataset for e in ia.entries})
    return {"a": ev_a, "b": ev_b, "pairs": shown, "metrics": metrics, "metric": metric, "order": order,
            "task": task, "dataset": dataset, "tasks": all_tasks, "datasets": all_datasets, "unscored": unscored,
            "pg": _pages(len(pairs), ROWS_PER_PAGE, page), "heldout": held, "mixed_heldout": bool(mixed),
            "flags": flag_rows([meta_a.get("metrics"), meta_b.get("metrics")]),
            "verdict": dash.verdicts.get(ev_a, ev_b, (dash.runs[ev_a.run].name, dash.runs[ev_b.run].name))}


def flag_rows(metric_maps: list) -> list[dict[str, Any]]:
    """One row per (dataset, flag) of `eval.collapse` with each eval's value (None where it has none), for the eval
    and compare pages (docs/collapse-flags.md)."""
    from eval.collapse import flags_by_dataset

    per = [flags_by_dataset(m) for m in metric_maps]
    for p, m in zip(per, metric_maps, strict=True):
        # the well-formed share beside the empty-reasoning share: a think_format reward paying 1.0 for an empty
        # think block shows as well-formed 1.0 and empty 1.0
        for ds, fl in p.items():
            well = ((m or {}).get(ds) or {}).get("think_format_rate") if isinstance(m, dict) else None
            if "empty_think_share" in fl and isinstance(well, (int, float)):
                fl["well-formed share (think_format_rate)"] = well
    keys: list[tuple[str, str]] = []
    for p in per:
        keys += [(ds, k) for ds, fl in p.items() for k in fl if (ds, k) not in keys]
    return [{"dataset": ds, "flag": k, "values": [p.get(ds, {}).get(k) for p in per]} for ds, k in keys]
