"""Evaluate a checkpoint on a suite: render, generate (batched; zoom chains for zoom_vqa), parse, score, write.

Flow per dataset of the suite: load the built dataset (`georft data build` output) and filter it (split, tasks,
sources, limit) -> shard the rows over ranks (RANK / WORLD_SIZE) -> skip rows already in the predictions file
(resume) -> render each row exactly as GRPO does (`data_engine.render.render_grpo`: same prompt, same pixel budget,
same coordinate frame) -> generate -> parse with that frame (`eval.parsers.parse`, original pixels) -> append the
row. Rank 0 then merges the rank files sorted by (dataset, id), scores each dataset (`eval.runner_score`) and
writes ``metrics.json``. The model is loaded only when some row still needs a completion, so a finished or
score-only run never touches it.

Prediction row (one JSON line)::

    {"id", "dataset", "task", "source", "images": [original paths], "width", "height", "frame": Frame.to_dict,
     "completion", "num_tokens", "truncated", "prediction": parser dict (original px), "target": dict,
     "scores": {per-sample metric values}, "rewards": {"<reward>/<part>": value},
     "turns": [{"tool_call", "box", "view", "valid", "crop_image", "crop_region"}]}

zoom_vqa rows also carry ``completion_direct`` / ``prediction_direct``: the same question answered without the
chain (plain single-turn VQA on the full image), so both are reported.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_engine.errors import UserError
from data_engine.filenames import safe_filename
from data_engine.frames import Frame
from data_engine.reasoning import row_reasoning
from data_engine.schema import load_target
from data_engine.tasks import get_task
from eval import runner_io
from eval.parsers import parse, parse_tool_calls
from eval.runner_score import common_metrics, score_rows
from eval.submission import write_dota_task1
from eval.suite import EVAL_TASKS, DatasetEntry, SuiteConfig

Log = Callable[[str], None]
# reward_fn(row, completion) -> {"<reward>/<part>": value}; row has id, task, target, width, height, frame, turns
RewardFn = Callable[[dict, Any], dict]
CHUNK_BATCHES = 4  # rows rendered at once = batch_size * CHUNK_BATCHES (bounded memory, steady progress)


@dataclass
class EvalRequest:
    """What to evaluate and where to write.

    Attributes:
        suite: the loaded suite.
        entries: the datasets to run (a subset of the suite's, in suite order).
        model: checkpoint directory ("" in score-only mode).
        out: eval output directory.
        backend: "hf" or "vllm".
        limit: cap on rows per dataset (overrides a larger per-dataset limit).
        dtype: model dtype for the HF backend ("auto": bfloat16 on GPU, float32 on CPU).
    """

    suite: SuiteConfig
    entries: list[DatasetEntry]
    model: str
    out: Path
    backend: str = "hf"
    limit: int | None = None
    dtype: str = "auto"


# ---------------------------------------------------------------- data


def load_entry_rows(suite: SuiteConfig, entry: DatasetEntry, limit: int | None, training: bool = False) -> list[dict]:
    """The rows of one suite dataset after its filters, in id order (schema rows, `target` still JSON text).

    Args:
        training: read the training world (`SuiteConfig.dataset_path`), as the trivial baselines are fitted.
    """
    path = suite.dataset_path(entry, training=training)
    if not path.is_dir():
        raise UserError(f"dataset {entry.name!r}: data root not found: {path} (set data_root=... or build it with "
                        "`georft data build`)")
    from datasets import load_from_disk

    try:
        ds = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as e:
        raise UserError(f"dataset {entry.name!r}: {path} is not a built dataset: {str(e).splitlines()[0]}") from None
    meta = ds.select_columns(["id", "task", "split", "source"]).to_dict()
    tasks = set(entry.tasks or EVAL_TASKS)
    keep = [
        i for i in range(len(ds))
        if meta["task"][i] in tasks
        and (entry.split is None or meta["split"][i] == entry.split)
        and (not entry.sources or meta["source"][i] in entry.sources)
    ]
    keep.sort(key=lambda i: meta["id"][i])
    caps = [c for c in (entry.limit, limit) if c]
    if caps:
        keep = keep[: min(caps)]
    if not keep:
        raise UserError(f"dataset {entry.name!r}: no rows in {path} with split={entry.split!r}, "
                        f"tasks={sorted(tasks)}" + (f", sources={entry.sources}" if entry.sources else ""))
    rows = ds.select(keep).to_list()
    if entry.zoom_chain:
        for r in rows:
            if r["task"] == "vqa":
                # the same question through the zoom chain (no evidence boxes: no coverage term)
                r["task"], r["target"] = "zoom_vqa", json.dumps({"evidence": [], **load_target(r)})
    return rows


# ---------------------------------------------------------------- model


def open_backend(name: str, model_path: str, suite: SuiteConfig, dtype: str = "auto", work_dir: Path | None = None):
    """(backend, family) for a checkpoint; every way a checkpoint can fail to load is one `UserError` line.

    A LoRA adapter folder is a checkpoint too: the HF backend loads base + adapter and merges them in memory (same
    outputs, plain forward passes); vLLM gets a merged copy written once to `work_dir/merged_model` (reused while
    the adapter files are unchanged), the way vLLM serves any model.
    """
    from models.adapters import is_adapter_dir, merge_to
    from models.loading import ModelSection, load_model, load_processor, resolve_family
    from rollout.generate import BACKENDS, HFBackend, VLLMBackend

    BACKENDS.get(name)
    if not Path(model_path).is_dir():
        raise UserError(f"checkpoint not found: {model_path}")
    section = ModelSection(path=str(model_path), dtype=dtype)
    family = resolve_family(section)
    try:
        processor = load_processor(str(model_path), suite.min_pixels, suite.max_pixels)
        if name == "vllm":
            if is_adapter_dir(model_path):
                from rollout.generate import require_vllm

                require_vllm()  # before minutes of merging on a machine that cannot serve the result
                rank, world = runner_io.shard_info()
                folder = "merged_model" if world == 1 else f"merged_model_rank{rank}"  # no two ranks write one folder
                model_path = str(merge_to(model_path, Path(work_dir or model_path) / folder, dtype="auto", reuse=True))
            # The suite's pixel budget (else vLLM resizes with the checkpoint's) and room for a whole zoom chain.
            return VLLMBackend(str(model_path), processor, max_images_per_prompt=1 + suite.zoom.max_calls,
                               min_pixels=suite.min_pixels, max_pixels=suite.max_pixels), family
        model = load_model(section, trainable=False)
        if is_adapter_dir(model_path):
            model = model.merge_and_unload()
    except UserError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot load checkpoint {model_path}: {msg}") from None
    return HFBackend(model, processor, suite.batch_size), family


def sampling_of(suite: SuiteConfig):
    from rollout.generate import SamplingSpec

    return SamplingSpec(max_new_tokens=suite.max_new_tokens, temperature=suite.temperature, seed=suite.seed)


# ---------------------------------------------------------------- one chunk of rows


def parse_kwargs(task: str, target: dict, suite: SuiteConfig) -> dict:
    """The parser's keyword arguments: the target keys the task declares, the suite's box type for boxes and the
    row's answer framing (`data_engine.reasoning.row_reasoning` of the suite's ``reasoning``)."""
    decl = get_task(task)
    kw = {k: target.get(k) for k in decl.parse_target_keys}
    kw["reasoning"] = row_reasoning(task, suite.reasoning, suite.reasoning_tasks)
    if decl.box_answers:
        kw["box_type"] = suite.box_type
    return kw


def _base_row(entry: DatasetEntry, sample: dict, target: dict, frame: dict, reasoning: str = "none") -> dict:
    return {"id": sample["id"], "dataset": entry.name, "task": sample["task"], "source": sample.get("source"),
            "images": list(sample["images"]), "width": int(sample["width"]), "height": int(sample["height"]),
            "frame": frame, "target": target, "reasoning": reasoning}


def read_call(text: str) -> tuple[bool, list[float] | None]:
    """The first zoom call of a turn: (has a call, its model-frame box or None when it is not a clean call)."""
    calls, over = parse_tool_calls(text)
    if not calls:
        return over > 0, None
    c = calls[0]
    return True, (c["bbox_model"] if c["valid_syntax"] else None)


def _run_plain(backend, sampling, entry, suite, family, samples) -> list[dict]:
    from data_engine.render import render_grpo
    from rollout.generate import Request

    rendered = [render_grpo(s, family, min_pixels=suite.min_pixels, max_pixels=suite.max_pixels,
                            box_type=suite.box_type, mode=suite.answer_mode, reasoning=suite.reasoning,
                            reasoning_tasks=suite.reasoning_tasks, mask_format=suite.mask_format)
                for s in samples]
    gens = backend.generate([Request(r["prompt"], r["images"]) for r in rendered], sampling)
    rows = []
    for s, r, g in zip(samples, rendered, gens, strict=True):
        target = load_target(s)
        frame = json.loads(r["frame"])
        row = _base_row(entry, s, target, frame, r["reasoning"])
        pred = parse(s["task"], g.text, frame=Frame.from_dict(frame), mask_format=suite.mask_format,
                     **parse_kwargs(s["task"], target, suite))
        row.update(mask_format=suite.mask_format, completion=g.text, num_tokens=g.num_tokens, truncated=g.truncated,
                   prediction=pred, turns=[])
        rows.append(row)
    return rows


def _run_zoom(backend, sampling, entry, suite, family, samples, out: Path) -> list[dict]:
    from data_engine.render import render_grpo
    from data_engine.zoom import make_view
    from rollout.generate import Request
    from rollout.zoom_chain import ZoomEpisode, run_zoom_chains

    rendered = [render_grpo(s, family, min_pixels=suite.min_pixels, max_pixels=suite.max_pixels) for s in samples]
    episodes = []
    for s, r in zip(samples, rendered, strict=True):
        view = make_view((0, 0, int(s["width"]), int(s["height"])), family, suite.min_pixels, suite.max_pixels)
        episodes.append(ZoomEpisode(r["prompt"], r["images"], s["images"][0], view))
    results = run_zoom_chains(backend, episodes, sampling, family=family, min_pixels=suite.min_pixels,
                              max_pixels=suite.max_pixels, read_call=read_call, max_calls=suite.zoom.max_calls)
    direct = None
    if suite.zoom.direct:
        # the chain's single-turn form (data_engine.zoom without evidence): the bare question on the full image
        reqs = [Request([{"role": "user", "content": [{"type": "image"},
                                                        {"type": "text", "text": str(load_target(s)["question"])}]}],
                        r["images"][:1]) for s, r in zip(samples, rendered, strict=True)]
        direct = backend.generate(reqs, sampling)
    rows = []
    for k, (s, r, res) in enumerate(zip(samples, rendered, results, strict=True)):
        target = load_target(s)
        frame = json.loads(r["frame"])
        row = _base_row(entry, s, target, frame)
        turns = []
        for j, st in enumerate(res.steps):
            crop_rel = None
            if st.crop is not None:
                crop_rel = f"crops/{safe_filename(entry.name)}/{safe_filename(s['id'])}_{j}.png"
                (out / crop_rel).parent.mkdir(parents=True, exist_ok=True)
                st.crop.save(out / crop_rel)
            turns.append({"tool_call": st.tool_call, "box": st.box, "view": st.view, "valid": st.valid,
                          "crop_image": crop_rel, "crop_region": st.crop_region})
        kw = parse_kwargs("zoom_vqa", target, suite)
        pred = parse("zoom_vqa", res.completion, frame=None, **kw)
        # later calls are written in their crop's frame: the executor's mapped boxes are the true ones
        for call, st in zip(pred["calls"], res.steps, strict=False):
            call["box"] = st.box
        row.update(completion=res.completion, num_tokens=res.num_tokens, truncated=res.truncated, prediction=pred,
                   turns=turns, stop=res.stop)
        if direct is not None:
            g = direct[k]
            row.update(completion_direct=g.text, prediction_direct=parse("vqa", g.text, **kw))
        rows.append(row)
    return rows


def reward_row(row: dict) -> dict:
    """The sample view a reward reads (turns as the zoom reward expects them: box and view in original pixels)."""
    r = {k: row.get(k) for k in ("id", "task", "target", "width", "height", "frame", "source", "reasoning",
                                 "mask_format")}
    if row.get("turns"):
        r["turns"] = [{"box": t.get("box"), "view": t.get("view")} for t in row["turns"]]
    return r


def add_rewards(row: dict, reward_fn: RewardFn | None) -> None:
    if reward_fn is not None and "rewards" not in row:
        row["rewards"] = reward_fn(reward_row(row), row.get("completion", ""))


# ---------------------------------------------------------------- the run


def fingerprint(req: EvalRequest, world: int) -> str:
    blob = json.dumps([req.model, req.backend, req.limit, [e.name for e in req.entries], world,
                       repr(req.suite)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


HELDOUT_FILE = "heldout.txt"


def check_heldout(out: Path, heldout: str, rank: int = 0) -> None:
    """Refuse to resume into an output folder written for the other held-out set (the synthetic worlds share
    sample ids, so a dev prediction would pass for a test one); record the set on first use.

    Raises:
        UserError: `out` holds predictions of another held-out set (a folder without the record holds "dev").
    """
    path = out / HELDOUT_FILE
    has_rows = any(out.glob("predictions*.jsonl"))
    recorded = path.read_text(encoding="utf-8").strip() if path.is_file() else ("dev" if has_rows else None)
    if recorded is not None and recorded != heldout:
        raise UserError(f"{out} holds predictions of the {recorded!r} held-out set, not {heldout!r}: "
                        "use another --out (or remove the folder)")
    if recorded is None and rank == 0:
        path.write_text(heldout + "\n", encoding="utf-8")


def generate_predictions(req: EvalRequest, reward_fn: RewardFn | None, log: Log) -> dict[str, list[dict]]:
    """Run generation for the rows this rank still lacks; returns the selected schema rows per dataset."""
    rank, world = runner_io.shard_info()
    out = req.out
    out.mkdir(parents=True, exist_ok=True)
    from data_engine.images import set_max_image_pixels

    set_max_image_pixels(req.suite.max_image_pixels)
    check_heldout(out, req.suite.heldout, rank)
    selected = {e.name: load_entry_rows(req.suite, e, req.limit) for e in req.entries}
    items = [(e, s) for e in req.entries for s in selected[e.name]]
    mine = items[rank::world]
    path = runner_io.rank_file(out, rank, world)
    done = {runner_io.row_key(r) for r in runner_io.read_rows(path)}
    if world > 1:
        done |= {runner_io.row_key(r) for r in runner_io.read_rows(out / runner_io.PREDICTIONS)}
    todo = [(e, s) for e, s in mine if (e.name, str(s["id"])) not in done]
    log(f"rank {rank}/{world}: {len(mine)} samples, {len(mine) - len(todo)} already done, {len(todo)} to generate")
    if todo:
        backend, family = open_backend(req.backend, req.model, req.suite, req.dtype, work_dir=out)
        sampling = sampling_of(req.suite)
        chunk = req.suite.batch_size * CHUNK_BATCHES
        with runner_io.RowWriter(path) as writer:
            for entry in req.entries:
                for task in EVAL_TASKS:
                    group = [s for e, s in todo if e.name == entry.name and s["task"] == task]
                    for i in range(0, len(group), chunk):
                        part = group[i: i + chunk]
                        if get_task(task).interaction == "zoom_chain":
                            rows = _run_zoom(backend, sampling, entry, req.suite, family, part, out)
                        else:
                            rows = _run_plain(backend, sampling, entry, req.suite, family, part)
                        for row in rows:
                            add_rewards(row, reward_fn)
                            writer.write(row)
                        log(f"{entry.name} {task}: {min(i + chunk, len(group))}/{len(group)}")
    return selected


def finish(req: EvalRequest, selected: dict[str, list[dict]], reward_fn: RewardFn | None, log: Log,
           wait_timeout_s: float = 24 * 3600) -> dict | None:
    """Rank 0: merge the rank files, score every dataset, write predictions.jsonl and metrics.json.

    Returns:
        The metrics.json document (None on ranks other than 0).
    """
    rank, world = runner_io.shard_info()
    out = req.out
    order = [e.name for e in req.entries]
    if world > 1:
        fp = fingerprint(req, world)
        runner_io.mark_done(out, rank, fp)
        if rank != 0:
            return None
        runner_io.wait_for_ranks(out, world, fp, wait_timeout_s)
        rows = runner_io.merge_ranks(out, world, order)
    else:
        rows = runner_io.sort_rows(runner_io.read_rows(out / runner_io.PREDICTIONS), order)
    wanted = {(name, str(s["id"])) for name, samples in selected.items() for s in samples}
    rows = [r for r in rows if runner_io.row_key(r) in wanted]
    missing = len(wanted) - len(rows)
    if missing:
        raise UserError(f"{missing} samples have no prediction in {out}; rerun to generate them")
    doc = score_and_write(req, rows, reward_fn, log=log)
    log(f"wrote {out / runner_io.METRICS} and {out / runner_io.PREDICTIONS} ({len(rows)} rows)")
    return doc


def score_and_write(req: EvalRequest, rows: list[dict], reward_fn: RewardFn | None, extra: dict | None = None,
                    log: Log | None = None) -> dict:
    """Score rows (grouped by dataset), write them back with scores, score the trivial baselines on the same rows
    (`eval.runner_baselines`, unless the suite turns them off), and write metrics.json (``baselines``: policy kind ->
    its eval directory relative to the output; `extra` keys are added as they are)."""
    by_ds: dict[str, list[dict]] = {}
    for r in rows:
        add_rewards(r, reward_fn)
        by_ds.setdefault(str(r["dataset"]), []).append(r)
    entries = {e.name: e for e in req.entries}
    metrics, info = {}, {}
    for name in [e.name for e in req.entries if e.name in by_ds] + sorted(set(by_ds) - set(entries)):
        entry = entries.get(name, DatasetEntry(name=name, path=""))
        if entry.submission == "dota_task1":  # a test split without ground truth: the export is the result
            for r in by_ds[name]:
                r["scores"] = {}
            metrics[name] = {**write_dota_task1(by_ds[name], req.out, req.suite.detection.merge_iou),
                             **common_metrics(by_ds[name])}
            if log:
                log(f"{name}: wrote {req.out / 'dota_task1'} (15 Task1 files) and {req.out / 'dota_task1.zip'}")
        else:
            metrics[name] = score_rows(by_ds[name], entry, req.suite)
        info[name] = {"tasks": sorted({r["task"] for r in by_ds[name]}), "n": len(by_ds[name]),
                      "path": str(req.suite.dataset_path(entry)) if entry.path else "", "split": entry.split,
                      "patches": entry.patches}
    runner_io.write_rows_atomic(req.out / runner_io.PREDICTIONS, rows)
    baselines = {}
    if req.suite.baselines:
        from eval.runner_baselines import write_baselines

        baselines = write_baselines(req, rows, reward_fn, log or (lambda msg: None))
        add_same_as_baseline(metrics, rows, {p: req.out / rel for p, rel in baselines.items()})
    doc = {
        "model": req.model,
        "suite": req.suite.name,
        "backend": req.backend,
        "pixel_budget": {"min_pixels": req.suite.min_pixels, "max_pixels": req.suite.max_pixels},
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "heldout": req.suite.heldout_info(),
        "metrics": metrics,
        "datasets": info,
        "baselines": baselines,
        **(extra or {}),
    }
    runner_io.write_json_atomic(req.out / runner_io.METRICS, doc)
    return runner_io.clean_json(doc)


def add_same_as_baseline(metrics: dict[str, dict], rows: list[dict], baseline_dirs: dict[str, Path]) -> None:
    """Add ``same_as_<policy>_share`` (`eval.collapse.same_share`: the share of a task's rows answering what the
    trivial policy answers for the same sample) to `metrics` in place, per dataset (``<task>/`` prefixed in a
    dataset of several tasks, as `score_rows` does). Samples the policy did not answer are not counted."""
    from eval.collapse import answer_key, same_share

    tasks_of: dict[str, set[str]] = {}
    for r in rows:
        tasks_of.setdefault(str(r["dataset"]), set()).add(str(r["task"]))
    for policy, path in baseline_dirs.items():
        theirs = {runner_io.row_key(b): answer_key(b) for b in runner_io.read_rows(path / runner_io.PREDICTIONS)}
        pairs: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        for r in rows:
            other = theirs.get(runner_io.row_key(r))
            if other is not None:
                mine, base = pairs.setdefault((str(r["dataset"]), str(r["task"])), ([], []))
                mine.append(answer_key(r))
                base.append(other)
        for (ds, task), (mine, base) in pairs.items():
            prefix = f"{task}/" if len(tasks_of[ds]) > 1 else ""
            metrics.setdefault(ds, {})[f"{prefix}same_as_{safe_filename(policy)}_share"] = same_share(mine, base)


def git_commit() -> str | None:
    """The repository's HEAD commit (None outside a git checkout)."""
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                           text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None


def score_predictions_file(req: EvalRequest, path: Path, reward_fn: RewardFn | None, log: Log | None = None) -> dict:
    """Score an existing predictions file without generation (rows need id, dataset, task, target, completion).

    Rows without ``prediction`` are parsed here with their ``frame`` (None: the completion is in original pixels),
    as is ``completion_direct`` of zoom rows. Dataset names must be the suite's; nothing is read from the datasets.
    Every line that cannot be scored (non-UTF-8, truncated JSON, a missing or mistyped field, an unknown task,
    geometry that is not finite numbers, a repeated (dataset, id)) is skipped, reported through `log` with its line
    number and reason, and listed in metrics.json under ``bad_prediction_lines``: none is dropped silently.

    Raises:
        UserError: the file is missing, holds no usable row, or names a dataset the suite does not have.
    """
    if not path.is_file():
        raise UserError(f"predictions file not found: {path}")
    parsed, bad = runner_io.read_prediction_file(path)
    known = {e.name for e in req.entries}
    rows, first_line = [], {}
    for lineno, r in parsed:
        problem = prediction_row_problem(r)
        if problem is None and r["dataset"] not in known:
            from data_engine.registry import did_you_mean

            raise UserError(f"{path}, line {lineno}: unknown dataset {r['dataset']!r} (row {r['id']!r})."
                            f"{did_you_mean(r['dataset'], known)} Suite datasets: {', '.join(sorted(known))}")
        if problem is None and runner_io.row_key(r) in first_line:
            problem = f"repeats (dataset, id) of line {first_line[runner_io.row_key(r)]}"
        if problem is not None:
            bad.append((lineno, problem))
            continue
        first_line[runner_io.row_key(r)] = lineno
        if isinstance(r["target"], str):
            r["target"] = json.loads(r["target"])
        if "prediction" not in r:
            frame = Frame.from_dict(r["frame"]) if r.get("frame") else None
            r.setdefault("mask_format", req.suite.mask_format)  # the row's own (a model run's) wins
            r["prediction"] = parse(r["task"], r.get("completion", ""), frame=frame, mask_format=r["mask_format"],
                                    **parse_kwargs(r["task"], r["target"], req.suite))
        if "completion_direct" in r and "prediction_direct" not in r:
            r["prediction_direct"] = parse("vqa", r["completion_direct"], **parse_kwargs("vqa", r["target"], req.suite))
        rows.append(r)
    bad.sort()
    for lineno, reason in bad:
        (log or _stderr)(f"{path}, line {lineno}: skipped: {reason}")
    if not rows:
        raise UserError(f"{path}: no usable prediction rows ({len(bad)} bad line(s); the first: line "
                        f"{bad[0][0] if bad else '-'}: {bad[0][1] if bad else 'the file is empty'})")
    req.out.mkdir(parents=True, exist_ok=True)
    extra = {"bad_prediction_lines": {"count": len(bad), "lines": [{"line": k, "reason": m} for k, m in bad]}}
    return score_and_write(req, runner_io.sort_rows(rows, [e.name for e in req.entries]), reward_fn, extra,
                          log)


def _stderr(msg: str) -> None:
    import sys

    print(f"georft eval: {msg}", file=sys.stderr, flush=True)  # noqa: T201 - a CLI-facing report


def prediction_row_problem(r: dict) -> str | None:
    """Why a predictions-file row cannot be scored (field missing or of the wrong type, unknown task, geometry that
    is not finite numbers), or None. Text fields are parsed later by parsers that never raise on any string."""
    from data_engine.schema import REQUIRED_TARGET_KEYS

    for key in ("id", "dataset", "task", "target"):
        if key not in r:
            return f"no {key!r} field"
    if isinstance(r["id"], bool) or not isinstance(r["id"], (str, int)):
        return f"id must be a string or an integer, got {r['id']!r}"
    if not isinstance(r["dataset"], str):
        return f"dataset must be a string, got {r['dataset']!r}"
    if r["task"] not in EVAL_TASKS:
        return f"task {r['task']!r} is not one of {', '.join(EVAL_TASKS)}"
    target = r["target"]
    if isinstance(target, str):
        try:
            target = json.loads(target)
        except (ValueError, RecursionError):
            return "target is a string that is not JSON"
    if not isinstance(target, dict):
        return f"target must be an object, got {type(target).__name__}"
    missing = [k for k in REQUIRED_TARGET_KEYS[r["task"]] if k not in target and k != "evidence"]
    if missing:
        return f"{r['task']} target lacks {missing[0]!r}"
    for key in ("completion", "completion_direct"):
        if key in r and not isinstance(r[key], str):
            return f"{key} must be a string, got {type(r[key]).__name__}"
    if "frame" in r and r["frame"] is not None and not isinstance(r["frame"], dict):
        return f"frame must be an object, got {type(r['frame']).__name__}"
    if r.get("frame"):
        try:
            Frame.from_dict(r["frame"])
        except (UserError, ValueError, TypeError, KeyError) as e:
            return f"frame: {e}"
    pred = r.get("prediction")
    if "prediction" in r and not isinstance(pred, dict):
        return f"prediction must be an object, got {type(pred).__name__}"
    for name, obj in (("target", target), ("prediction", pred or {})):
        problem = _geometry_problem(r["task"], obj, name, required=name == "target")
        if problem:
            return problem
    return None


def _finite(values, n: int) -> bool:
    import math

    return (isinstance(values, (list, tuple)) and len(values) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values))


def _geometry_problem(task: str, obj: dict, name: str, required: bool) -> str | None:
    if task == "detection":
        objects = obj.get("objects", [] if not required else None)
        if objects is None:
            return None if not required else f"{name} lacks 'objects'"
        if not isinstance(objects, list):
            return f"{name} objects must be a list, got {type(objects).__name__}"
        for k, o in enumerate(objects):
            if not isinstance(o, dict) or not isinstance(o.get("label", ""), str) or not _finite(o.get("poly"), 8):
                return f"{name} object {k} needs a text label and a poly of 8 finite numbers, got {o!r:.120}"
    if task == "grounding":
        box = obj.get("box")
        if (box is not None or required) and not _finite(box, 4):
            return f"{name} box must be 4 finite numbers, got {box!r:.120}"
    if task.endswith("segmentation") and name == "target":
        # The target's RLEs are scored by pycocotools, which trusts them: check them here, so a corrupt, huge or
        # 100000 x 100000 mask is this line's problem, not the run's (a bad predicted mask already counts as empty).
        from data_engine.masks import mask_size

        for key in ("mask", "ignore"):
            if obj.get(key) is not None or (key == "mask" and required):
                try:
                    mask_size(obj.get(key))
                except UserError as e:
                    return f"target {key}: {str(e)[:160]}"
    return None


def summary_table(doc: dict, max_metrics: int = 8) -> str:
    """A plain-text table: one line per dataset with its first metrics (the CLI prints it)."""
    lines = [f"model: {doc['model']}   suite: {doc['suite']}   backend: {doc['backend']}"]
    width = max([len(n) for n in doc["metrics"]] + [7])
    for name, m in doc["metrics"].items():
        shown = [(k, v) for k, v in m.items() if not any(f in k for f in _DETAIL_FAMILIES)]
        cells = "  ".join(f"{k}={_fmt(v)}" for k, v in shown[:max_metrics])
        lines.append(f"{name:<{width}}  {cells}")
    return "\n".join(lines)


_DETAIL_FAMILIES = ("ap/", "acc/", "acc_zoom/")  # per-class / per-type breakdowns: in metrics.json, not the summary


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)
