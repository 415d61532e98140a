"""A `georft predict` run: every input through a `Predictor`, its files written, resumable, browsable.

Output layout::

    OUT/run.json                      model, task, backend, prompts, settings (what the fingerprint covers)
    OUT/metrics.json                  counts (inputs done / skipped, windows, seconds, windows/s): the dashboard
                                      lists OUT like an eval dir
    OUT/predictions.jsonl             one row per (input, prompt): the merged prediction in scene pixels and the
                                      preview image, for `georft dashboard OUT`
    OUT/inputs/<name>/predictions.jsonl   one row per window and prompt: raw completion, parsed prediction in
                                      scene pixels (a mask as RLE of the window, at its offset), task, window
    OUT/inputs/<name>/merged.json     the merged prediction of each prompt, the scene size, CRS and geotransform
    OUT/inputs/<name>/overlay.png     the scene (longer side at most ``overlay_side`` px) with the predictions
                                      drawn by the report's code (`eval.report.figures.draw_overlay`); one
                                      ``overlay_<k>.png`` per prompt when there are several
    OUT/inputs/<name>/preview.jpg     the same scene view without drawing (the dashboard draws its own SVG)
    OUT/inputs/<name>/predictions.geojson   georeferenced rasters only (`eval.predict.geojson`)
    OUT/inputs/<name>/done.json       written last: the input is finished (with the run's fingerprint)

A rerun skips every input whose ``done.json`` carries the same fingerprint (model, task, prompts, settings,
``to_wgs84``, the input files) and redoes the others. An input that cannot be read is reported in one line,
counted under ``skipped`` in metrics.json with its reason, and the run goes on; with a single input it is an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from data_engine.errors import UserError
from eval.predict.predictor import Predictor, PredictResult
from eval.runner_io import clean_json, write_json_atomic, write_rows_atomic

Log = Callable[[str], None]
OVERLAY_SIDE = 2048


@dataclasses.dataclass
class Item:
    """One input: its output name and its file(s) (two for a change task)."""

    name: str
    files: list[Path]


def fingerprint(predictor: Predictor, prompts: list[str | None], to_wgs84: bool, item: Item) -> str:
    blob = json.dumps([predictor.model, predictor.task, predictor.backend_name, prompts, to_wgs84,
                       dataclasses.asdict(predictor.settings), predictor.min_pixels, predictor.max_pixels,
                       [str(f.resolve()) for f in item.files]], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _scene_view(predictor: Predictor, path: Path, side: int):
    """(decimated RGB view of a scene, scale from scene pixels to it)."""
    from eval.predict.raster import open_scene

    with open_scene(path, predictor.settings.bands) as scene:
        s = min(1.0, side / max(scene.width, scene.height))
        size = (max(1, round(scene.width * s)), max(1, round(scene.height * s)))
        return scene.read(None, size), size[0] / scene.width


def dashboard_row(item: Item, k: int, n_prompts: int, result: PredictResult, previews: list[str]) -> dict:
    """The row `georft dashboard` shows for one (input, prompt): an eval-style row without a target."""
    merged = result.merged
    lines = [f"[window {w['window']}] {w['completion']}" for w in result.windows[:50]]
    if len(result.windows) > 50:
        lines.append(f"... {len(result.windows) - 50} more windows in inputs/{item.name}/predictions.jsonl")
    n_shapes = len(merged.get("objects") or merged.get("boxes") or ([merged["box"]] if merged.get("box") else []))
    return {"id": item.name if n_prompts == 1 else f"{item.name}#{k}", "dataset": "predict", "task": result.task,
            "images": previews, "width": result.width, "height": result.height, "target": None,
            "prompt": result.prompt, "prediction": merged, "completion": "\n".join(lines),
            "scores": {"windows": len(result.windows), "shapes": n_shapes,
                       "failed_windows": merged.get("n_failed_windows", 0)}}


def write_input(out: Path, predictor: Predictor, item: Item, results: list[PredictResult], to_wgs84: bool,
                overlay_side: int) -> dict:
    """Every file of one finished input (but ``done.json``); returns what ``done.json`` records."""
    from eval.predict.geojson import results_geojson
    from eval.report.figures import draw_overlay

    d = out / "inputs" / item.name
    d.mkdir(parents=True, exist_ok=True)
    rows = [{"input": item.name, "images": r.images, "task": r.task, "prompt": r.prompt, **w}
            for r in results for w in r.windows]
    write_rows_atomic(d / "predictions.jsonl", rows)
    first = results[0]
    transform = list(first.transform)[:6] if first.transform is not None else None
    write_json_atomic(d / "merged.json", {
        "task": first.task, "images": first.images, "width": first.width, "height": first.height,
        "georeferenced": first.georeferenced, "crs": first.crs.to_wkt() if first.crs is not None else None,
        "transform": transform,
        "prompts": [{"prompt": r.prompt, "target": r.target, "prediction": r.merged, "seconds": r.seconds}
                    for r in results]})
    previews = []
    for j, f in enumerate(item.files):
        view, scale = _scene_view(predictor, f, overlay_side)
        name = "preview.jpg" if j == 0 else f"preview_{j}.jpg"
        view.save(d / name, quality=90)
        previews.append(f"inputs/{item.name}/{name}")
        if j == 0:
            for k, r in enumerate(results):
                row = {"task": r.task, "target": None, "prediction": r.merged}
                drawn = draw_overlay(view.copy(), [row], scale, labels=True)
                drawn.save(d / ("overlay.png" if len(results) == 1 else f"overlay_{k}.png"))
    geojson = None
    doc = results_geojson(results, to_wgs84)
    if doc is not None:
        write_json_atomic(d / "predictions.geojson", doc)
        crs = "EPSG:4326" if to_wgs84 else doc["crs"]["properties"]["name"]
        geojson = {"features": len(doc["features"]), "crs": crs}
    return {"windows": sum(len(r.windows) for r in results), "seconds": sum(r.seconds for r in results),
            "geojson": geojson,
            "rows": [dashboard_row(item, k, len(results), r, previews) for k, r in enumerate(results)]}


def run_predict(predictor: Predictor, items: list[Item], prompts: list[str | None], out: str | Path, *,
                to_wgs84: bool = False, limit: int | None = None, overlay_side: int = OVERLAY_SIDE,
                log: Log | None = None, progress: bool = True) -> dict:
    """Predict every input (up to ``limit``), writing the layout of the module docstring.

    Returns:
        The metrics.json document.

    Raises:
        UserError: the only input cannot be read (with several, unreadable inputs are counted and skipped).
    """
    say = log or (lambda msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit must be >= 1, got {limit}")
        items = items[:limit]
    if to_wgs84:
        import pyproj  # noqa: F401 - fail at start, not after the first scene

    write_json_atomic(out / "run.json", clean_json({
        "model": predictor.model, "task": predictor.task, "backend": predictor.backend_name, "prompts": prompts,
        "settings": dataclasses.asdict(predictor.settings), "min_pixels": predictor.min_pixels,
        "max_pixels": predictor.max_pixels, "to_wgs84": to_wgs84,
        "inputs": [[str(f) for f in i.files] for i in items]}))
    todo, done_docs = [], {}
    for item in items:
        fp = fingerprint(predictor, prompts, to_wgs84, item)
        marker = out / "inputs" / item.name / "done.json"
        try:
            doc = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None
        except (OSError, ValueError):
            doc = None
        if doc is not None and doc.get("fingerprint") == fp:
            done_docs[item.name] = doc
        else:
            todo.append((item, fp))
    say(f"{len(items)} input(s): {len(done_docs)} already done, {len(todo)} to predict")
    if todo:
        predictor.backend  # noqa: B018 - load now: a checkpoint or backend failure stops the run, never skips inputs
    bar = _progress(progress, predictor, todo, len(prompts))
    skipped: list[dict] = []
    t0, n_windows = time.perf_counter(), 0
    try:
        for item, fp in todo:
            try:
                results = [predictor.predict(item.files[0], p, after=item.files[1] if len(item.files) > 1 else None,
                                             progress=bar.update if bar else None) for p in prompts]
            except (UserError, FileNotFoundError) as e:
                if len(items) == 1:
                    raise
                say(f"{item.name}: skipped: {e}")
                skipped.append({"input": item.name, "files": [str(f) for f in item.files], "reason": str(e)})
                continue
            doc = write_input(out, predictor, item, results, to_wgs84, overlay_side)
            doc["fingerprint"] = fp
            write_json_atomic(out / "inputs" / item.name / "done.json", clean_json(doc))
            done_docs[item.name] = doc
            n_windows += doc["windows"]
            rate = doc["windows"] / doc["seconds"] if doc["seconds"] > 0 else float("inf")
            say(f"{item.name}: {doc['windows']} window(s) in {doc['seconds']:.1f} s ({rate:.2f} windows/s)"
                + (f", {doc['geojson']['features']} GeoJSON feature(s)" if doc.get("geojson") else ""))
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    rows = [row for item in items if item.name in done_docs for row in done_docs[item.name]["rows"]]
    write_rows_atomic(out / "predictions.jsonl", rows)
    metrics = {
        "kind": "predict", "model": predictor.model, "suite": f"predict ({predictor.task})",
        "backend": predictor.backend_name, "task": predictor.task,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "metrics": {"predict": {"inputs": len(items), "done": len(done_docs), "skipped": len(skipped),
                                "windows_this_run": n_windows, "seconds_this_run": round(elapsed, 3),
                                "windows_per_s": round(n_windows / elapsed, 4) if elapsed > 0 and n_windows
                                else None}},
        "skipped": skipped,
    }
    write_json_atomic(out / "metrics.json", clean_json(metrics))
    return metrics


def _progress(enabled: bool, predictor: Predictor, todo: list, n_prompts: int) -> Any:
    """A tqdm bar over the windows still to predict (windows/s), or None."""
    if not enabled or not todo:
        return None
    from tqdm import tqdm

    total = 0
    for item, _ in todo:
        try:
            from eval.predict.raster import open_scene

            with open_scene(item.files[0], predictor.settings.bands) as s:
                total += n_prompts * len(predictor.windows_for(s.width, s.height, len(item.files)))
        except (UserError, FileNotFoundError):
            continue  # reported when the input is reached
    return tqdm(total=total, unit="window", desc=f"predict {predictor.task}", dynamic_ncols=True)
