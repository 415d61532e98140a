"""Offline build: a recipe of sources in real formats -> one Arrow dataset in the sample schema, plus a summary.

Recipe (YAML)::

    max_image_pixels: 800000000  # optional: the pixel limit (default 16384^2; larger images are skipped, counted)
    sources:
      - name: dota               # row ids are "<name>/<native id>"
        format: dota             # one of data_engine.adapters.FORMATS
        root: /data/DOTA         # the dataset's top folder; relative paths are relative to the recipe's folder
        split: train             # optional: a split or list of splits (default: every split the source declares)
        task: detection          # optional: override the format's task
        weight: "*2"             # optional: mixture weight, kept in the summary ("*N", "%P" or a number)
        classes: [plane, ship]   # optional: fixed class list; other labels are skipped as "unknown class"
        patches: {size: 1024, gap: 200, iof_thr: 0.7}   # optional: DOTA-style patch splitting (detection)
      - name: geochat
        format: llava
        root: /data/GeoChat
        annotations: GeoChat_Instruct.json   # JSON/JSONL formats: file or glob relative to root
        image_root: images                   # image paths are resolved against this (default root)

Output directory: the dataset (`datasets` `save_to_disk`) and `build_summary.json` (samples per source, task and
split; every skipped record with reason, file, line and detail). Bad records never crash the build and are never
dropped silently; with ``strict=True`` the first one raises `UserError` naming file and line.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

from data_engine.adapters import FORMATS, Skip, SourceSpec
from data_engine.adapters.base import SPLIT_NAMES, adapter_error, bad_bytes
from data_engine.errors import DataError, UserError
from data_engine.images import set_max_image_pixels
from data_engine.registry import did_you_mean
from data_engine.schema import COLUMNS, TASKS, features, load_target, validate_sample
from data_engine.tasks import get_task

SUMMARY_FILE = "build_summary.json"
SOURCE_KEYS = ("name", "format", "root", "annotations", "image_root", "split", "task", "weight", "classes", "patches",
               "min_area", "max_buildings", "max_frames", "reduce_zero_label", "ignore_index")
# label-map options of the segmentation formats (mmseg's dataset settings), kept in `SourceSpec.extra`
LABEL_MAP_KEYS = {"reduce_zero_label": bool, "ignore_index": int}
PATCH_KEYS = ("size", "gap", "iof_thr", "keep_empty")


def load_recipe(path: str | Path, check_roots: bool = True) -> list[SourceSpec]:
    """Parse and check a recipe file; relative roots are resolved against the recipe's folder.

    Args:
        check_roots: fail when a source's root folder does not exist (off to validate a recipe for another machine).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"recipe {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list) or not data["sources"]:
        raise UserError(f"{path}: needs a non-empty 'sources:' list")
    extra = set(data) - {"sources", "max_image_pixels"}
    if extra:
        k = sorted(extra)[0]
        raise UserError(f"{path}: unknown top-level key {k!r}.{did_you_mean(k, ['sources', 'max_image_pixels'])}")
    if "max_image_pixels" in data:  # the pixel limit of this build (see data_engine.images)
        try:
            set_max_image_pixels(data["max_image_pixels"])
        except UserError as e:
            raise UserError(f"{path}: {e}") from None
    specs, names = [], set()
    for i, src in enumerate(data["sources"]):
        spec = _spec(path, i, src, check_roots)
        if spec.name in names:
            raise UserError(f"{path}: sources[{i}]: duplicate source name {spec.name!r}")
        names.add(spec.name)
        specs.append(spec)
    return specs


def _spec(path: Path, i: int, src: Any, check_roots: bool = True) -> SourceSpec:
    where = f"{path}: sources[{i}]"
    if not isinstance(src, dict):
        raise UserError(f"{where}: must be a mapping with name, format, root")
    for k in src:
        if k not in SOURCE_KEYS:
            raise UserError(f"{where}: unknown key {k!r}.{did_you_mean(k, SOURCE_KEYS)} Known: {', '.join(SOURCE_KEYS)}")
    for k in ("name", "format", "root"):
        if not src.get(k):
            raise UserError(f"{where}: missing {k!r}")
    FORMATS.get(src["format"])  # did-you-mean on a typo
    if src.get("task") is not None and src["task"] not in TASKS:
        raise UserError(f"{where}: task {src['task']!r} is not one of {TASKS}.{did_you_mean(src['task'], TASKS)}")
    base = path.resolve().parent
    root = (base / str(src["root"])).resolve()
    if check_roots and not root.exists():
        raise UserError(f"{where}: root {root} does not exist")
    image_root = src.get("image_root")
    split = src.get("split")
    if split is not None and not (isinstance(split, str) or (isinstance(split, list) and split
                                                              and all(isinstance(x, str) for x in split))):
        raise UserError(f"{where}: split must be a name or a list of names, got {split!r}")
    patches = src.get("patches")
    if patches is not None:
        if not isinstance(patches, dict) or set(patches) - set(PATCH_KEYS):
            raise UserError(f"{where}: patches must be a mapping with keys among {PATCH_KEYS}")
    classes = src.get("classes")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)):
        raise UserError(f"{where}: classes must be a list of names")
    extra = {}
    if "min_area" in src:  # change masks -> polygons (levir_cd): smallest connected component kept, in pixels
        if isinstance(src["min_area"], bool) or not isinstance(src["min_area"], int) or src["min_area"] < 1:
            raise UserError(f"{where}: min_area must be a positive integer (pixels), got {src['min_area']!r}")
        extra["min_area"] = src["min_area"]
    if "max_buildings" in src:  # xbd: damage-level questions per pair
        if isinstance(src["max_buildings"], bool) or not isinstance(src["max_buildings"], int) or src["max_buildings"] < 0:
            raise UserError(f"{where}: max_buildings must be a non-negative integer, got {src['max_buildings']!r}")
        extra["max_buildings"] = src["max_buildings"]
    if "max_frames" in src:  # fmow: frames per site (2-4 in GeoVLM-R1 / TEOChat)
        if isinstance(src["max_frames"], bool) or not isinstance(src["max_frames"], int) or src["max_frames"] < 2:
            raise UserError(f"{where}: max_frames must be an integer >= 2, got {src['max_frames']!r}")
        extra["max_frames"] = src["max_frames"]
    return SourceSpec(
        name=str(src["name"]),
        format=str(src["format"]),
        root=root,
        annotations=src.get("annotations"),
        image_root=(root / str(image_root)).resolve() if image_root else None,
        split=None if split is None else [str(s) for s in (split if isinstance(split, list) else [split])],
        task=src.get("task"),
        weight=str(src.get("weight", "*1")),
        classes=classes,
        patches=patches,
        extra={**extra, **_label_map_options(where, src)},
    )


def _label_map_options(where: str, src: dict) -> dict:
    out = {}
    for k, kind in LABEL_MAP_KEYS.items():
        if k in src:
            if not isinstance(src[k], kind) or (kind is int and isinstance(src[k], bool)):
                raise UserError(f"{where}: {k} must be {'true or false' if kind is bool else 'an integer'}, "
                                f"got {src[k]!r}")
            out[k] = src[k]
    return out


def _fill_classes(rows: list[dict]) -> None:
    """Set `classes` of targets that have none (tasks declaring `class_labels`): the labels found in the source."""
    labels: dict[str, set] = defaultdict(set)
    decoded = []
    for r in rows:
        class_labels = get_task(r["task"]).class_labels
        if class_labels is None:
            decoded.append(None)
            continue
        t = json.loads(r["target"])
        decoded.append(t)
        if t.get("classes") is None:
            labels[r["task"]].update(class_labels(t))
    for r, t in zip(rows, decoded, strict=True):
        if t is not None and t.get("classes") is None:
            t["classes"] = sorted(labels[r["task"]])
            r["target"] = json.dumps(t, ensure_ascii=False)


def _read_source(spec: SourceSpec, strict: bool, bar) -> tuple[list[dict], list[Skip]]:
    rows, skips = [], []
    for item in _isolated_items(spec):
        if isinstance(item, dict):
            where = None
            try:
                validate_sample(item)
                where = bad_bytes(item, max_items=10**9)
                if where is not None:  # a lone surrogate cannot be written as UTF-8 (the Arrow file would fail)
                    raise UserError(f"row {item.get('id')!r}: {where}")
            except UserError as e:
                item = Skip("schema" if where is None else "non-UTF-8",
                            item["images"][0] if item.get("images") else spec.root, None, str(e))
        if isinstance(item, Skip):
            if strict:
                raise UserError(f"{item.where()}: {item.reason}: {item.detail} (source {spec.name!r}, --strict)"
                                ) from item.error
            skips.extend([item] * item.records)  # a lost file counts every record it held
            continue
        rows.append(item)
        bar.update(1)
    skips.extend(spec.refused)  # paths not followed (symlinked folders)
    _check_not_empty(spec, rows, skips)
    _fill_classes(rows)
    if spec.patches:
        from data_engine.patches import split_row

        opts = dict(spec.patches)
        rows = [p for r in rows for p in (split_row(r, **opts) if r["task"] == "detection" else [r])]
    return rows, skips


def _isolated_items(spec: SourceSpec):
    """The adapter's rows and skips; the build boundary of the per-record isolation (`adapters.base.isolated`).

    Adapters run each record through `isolated`, so a bug met on one record is already a counted "adapter error"
    skip of that record. An exception that escapes the adapter anyway (raised between records, e.g. while listing
    files) ends the generator: it becomes one "adapter error" skip naming the source, and the build goes on with
    the next source. A configuration `UserError`, MemoryError and KeyboardInterrupt propagate.
    """
    it = iter(FORMATS.get(spec.format)(spec))
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except MemoryError:
            raise
        except UserError as e:
            if not isinstance(e, DataError):
                raise
            yield adapter_error(e, spec.root, None, f"; the rest of source {spec.name!r} was not read")
            return
        except Exception as e:  # noqa: BLE001 - see the docstring: a bug outside a record costs the source, named
            yield adapter_error(e, spec.root, None, f"; the rest of source {spec.name!r} was not read")
            return
        yield item


def _check_not_empty(spec: SourceSpec, rows: list[dict], skips: list[Skip]) -> None:
    """A source that yields nothing at all, not even a skipped record, is a recipe mistake (a misspelt split, an
    empty folder), not an empty dataset: fail naming it instead of building 0 samples."""
    if spec.split is not None and rows:
        found = {r["split"] for r in rows}
        missing = [s for s in spec.split if s not in found]
        if missing and not skips:
            raise UserError(f"source {spec.name!r}: split {missing[0]!r} matched no record (found: "
                            f"{', '.join(sorted(map(str, found)))}).{did_you_mean(missing[0], {*found, *SPLIT_NAMES})}")
    if not rows and not skips:
        wanted = f" with split {spec.split}" if spec.split is not None else ""
        hint = did_you_mean(spec.split[0], SPLIT_NAMES) if spec.split else ""
        raise UserError(f"source {spec.name!r} ({spec.format}, {spec.root}): no record{wanted} found; check its "
                        "root, layout and split (known split names: " + ", ".join(SPLIT_NAMES) + f").{hint}")


def _unique_ids(rows: list[dict]) -> int:
    """Make ids unique in place ("<id>#2", "#3", ... for repeats); returns how many were renamed."""
    seen: Counter = Counter()
    renamed = 0
    for r in rows:
        seen[r["id"]] += 1
        if seen[r["id"]] > 1:
            r["id"] = f"{r['id']}#{seen[r['id']]}"
            renamed += 1
    return renamed


def build(recipe_path: str | Path, out_dir: str | Path, strict: bool = False, progress: bool = True) -> dict:
    """Build the dataset of a recipe into `out_dir` and return the summary (also saved as build_summary.json).

    Raises:
        UserError: bad recipe, unreadable source root, a non-build folder in the way, or (strict) a bad record.
    """
    from datasets import Dataset
    from tqdm import tqdm

    out = Path(out_dir)
    _recover_interrupted(out)
    if out.exists() and any(out.iterdir()) and not (out / SUMMARY_FILE).is_file():
        raise UserError(f"{out} exists, is not empty and is not a previous build; choose another --out")
    specs = load_recipe(recipe_path)
    t0 = time.perf_counter()
    all_rows, per_source, skipped = [], [], []
    with tqdm(desc="building", unit=" samples", disable=None if progress else True) as bar:
        for spec in specs:
            bar.set_postfix_str(spec.name)
            rows, skips = _read_source(spec, strict, bar)
            all_rows.extend(rows)
            skipped.extend({"source": spec.name, **s.to_dict()} for s in skips)
            per_source.append(_source_summary(spec, rows, skips))
    renamed = _unique_ids(all_rows)
    ds = Dataset.from_dict({c: [r[c] for r in all_rows] for c in COLUMNS}, features=features())
    # Written beside `out` and swapped in whole (see `_swap_in`): a build killed at any moment leaves the previous
    # complete build or the new one, never a half-written dataset that loads.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f"{_PARTIAL_PREFIX.format(out.name)}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    summary = {
        "recipe": str(Path(recipe_path).resolve()),
        "out": str(out.resolve()),
        "num_samples": len(all_rows),
        "total": len(all_rows),
        "num_skipped": len(skipped),
        "renamed_duplicate_ids": renamed,
        "seconds": round(time.perf_counter() - t0, 2),
        "sources": per_source,
        "tasks": dict(sorted(Counter(r["task"] for r in all_rows).items())),
        "skipped": skipped,
    }
    try:
        _save_quietly(ds, tmp)
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


_PARTIAL_PREFIX = ".{}.partial-"  # a build being written (removed by the next build when its writer was killed)
_OLD_PREFIX = ".{}.replaced-"  # the previous build, between the two renames of `_swap_in`


def _swap_in(new: Path, out: Path) -> None:
    """Make the complete build in `new` the folder `out`, replacing a previous build: two renames (atomic each).
    A kill between them leaves no `out` (loading fails in one line) and the previous build aside, which the next
    `build` puts back (`_recover_interrupted`) before it starts."""
    if out.exists():
        old = out.parent / f"{_OLD_PREFIX.format(out.name)}{os.getpid()}"
        os.replace(out, old)
        os.replace(new, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, out)


def _recover_interrupted(out: Path) -> None:
    """Clean up after a killed build of `out`: drop half-written builds; put a previous build that was set aside
    back when no new one replaced it."""
    if not out.parent.is_dir():
        return
    for p in out.parent.glob(_PARTIAL_PREFIX.format(out.name) + "*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in sorted(out.parent.glob(_OLD_PREFIX.format(out.name) + "*")):
        if not out.exists() and (p / SUMMARY_FILE).is_file():
            os.replace(p, out)
        else:
            shutil.rmtree(p, ignore_errors=True)


def _save_quietly(ds, out: Path) -> None:
    """save_to_disk without datasets' own progress bar (the build has one); the global setting is restored."""
    from datasets.utils import logging as ds_logging

    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        ds.save_to_disk(str(out))
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()


def _source_summary(spec: SourceSpec, rows: list[dict], skips: list[Skip]) -> dict:
    by = Counter((r["task"], r["split"]) for r in rows)
    return {
        "name": spec.name,
        "format": spec.format,
        "root": str(spec.root),
        "weight": spec.weight,
        "samples": len(rows),
        "by_task_split": [{"task": t, "split": s, "samples": n} for (t, s), n in sorted(by.items(), key=str)],
        "skipped": len(skips),
        "skipped_by_reason": dict(sorted(Counter(s.reason for s in skips).items())),
    }


def load_summary(out_dir: str | Path) -> dict:
    f = Path(out_dir) / SUMMARY_FILE
    if not f.is_file():
        raise UserError(f"{out_dir}: no {SUMMARY_FILE}; is it a `georft data build` output?")
    return json.loads(f.read_text(encoding="utf-8"))


def format_summary(summary: dict, max_skips: int = 50) -> str:
    """Human-readable tables: samples per source/task/split, then skipped records (first `max_skips`)."""
    lines = [f"{'source':<24} {'task':<15} {'split':<11} {'samples':>8}", "-" * 61]
    for src in summary["sources"]:
        for e in src["by_task_split"]:
            lines.append(f"{src['name']:<24} {e['task']:<15} {str(e['split']):<11} {e['samples']:>8}")
        if not src["by_task_split"]:
            lines.append(f"{src['name']:<24} {'-':<15} {'-':<11} {0:>8}")
    lines.append("-" * 61)
    lines.append(f"{'total':<52} {summary['num_samples']:>8}")
    lines.append("tasks: " + ", ".join(f"{t}={n}" for t, n in summary["tasks"].items()))
    if summary.get("renamed_duplicate_ids"):
        lines.append(f"duplicate ids renamed with a '#k' suffix: {summary['renamed_duplicate_ids']}")
    if summary.get("difficulty"):  # a `georft data filter-difficulty` output (eval.difficulty)
        d = summary["difficulty"]
        lines.append(f"difficulty filter ({d['samples']} samples, score {d['score']!r}): {d['records_in']} prompts in, "
                     f"{d['kept']} kept, {d['dropped_all_right']} dropped (every sample right), "
                     f"{d['dropped_all_wrong']} dropped (every sample wrong), {d['skipped']} skipped")
    lines.append(f"skipped records: {summary['num_skipped']}")
    for src in summary["sources"]:
        for reason, n in src["skipped_by_reason"].items():
            lines.append(f"  {src['name']}: {reason}: {n}")
    for s in summary["skipped"][:max_skips]:
        where = f"{s['file']}:{s['line']}" if s["line"] is not None else s["file"]
        lines.append(f"  [{s['source']}] {s['reason']}: {where}: {s['detail']}")
    if summary["num_skipped"] > max_skips:
        lines.append(f"  ... and {summary['num_skipped'] - max_skips} more in {SUMMARY_FILE}")
    return "\n".join(lines)


def load_built(out_dir: str | Path):
    """The built `datasets.Dataset` of a build directory."""
    from datasets import load_from_disk

    if not (Path(out_dir) / "dataset_info.json").is_file():
        raise UserError(f"{out_dir}: not a built dataset (no dataset_info.json)")
    return load_from_disk(str(out_dir))


__all__ = ["build", "load_recipe", "load_summary", "format_summary", "load_built", "load_target"]
