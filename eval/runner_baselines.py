"""Score the trivial policies of `eval.baselines` on an eval's own samples and write them beside its outputs.

Called by `eval.runner.score_and_write` after the checkpoint's rows are scored. For every dataset of the run, each
task's policies (those its declaration names, `data_engine.tasks`) are fitted on the dataset's training rows (the suite entry with ``split`` replaced by
``baseline_split`` and no limit; targets only, no image is opened), answer every evaluated row, and those answers
go through the same parse -> score -> reward path as a model's. Each policy kind (``constant``, ``random``)
becomes a complete eval directory::

    DIR/baselines/<kind>/metrics.json        as a checkpoint's, plus a "baseline" section (what was fitted on what)
    DIR/baselines/<kind>/predictions.jsonl   the same samples, the policies' completions and per-sample scores

so `georft compare` shows them beside the checkpoints and pairs them sample by sample. A dataset whose training
split cannot be read (no ``baseline_split``, a score-only run without the data, no training rows of a task) gets no
baseline, and the reason is recorded under ``baseline.skipped`` and logged, never dropped silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from data_engine.errors import UserError
from data_engine.schema import load_target
from eval import runner_io
from eval.baselines import KINDS, policies_of, sample_rng
from eval.parsers import parse

BASELINES_DIR = "baselines"


def training_rows(req, entry) -> tuple[list[dict] | None, str]:
    """(training rows with ``target`` as a dict, "") or (None, why not)."""
    from eval.runner import load_entry_rows

    if not entry.baseline_split:
        return None, "baseline_split is null"
    if not entry.path:
        return None, "dataset not in the suite"
    fit_entry = dataclasses.replace(entry, split=entry.baseline_split, limit=None)
    try:
        rows = load_entry_rows(req.suite, fit_entry, None, training=True)  # the training world, also for heldout=test
    except UserError as e:
        return None, str(e)
    for r in rows:
        r["target"] = load_target(r)
    return rows, ""


def baseline_rows(policy, state, rows: list[dict], seed: int, suite) -> list[dict]:
    """The policy's prediction rows for the evaluated `rows` (same keys as a checkpoint's, parsed, unscored)."""
    from data_engine.reasoning import wrap_answer
    from eval.runner import parse_kwargs

    out = []
    for r in rows:
        text = policy.answer(state, r, sample_rng(seed, str(r["dataset"]), str(r["id"])))
        kw = parse_kwargs(r["task"], r["target"], suite)
        if kw["reasoning"] == "think_answer":  # the policy answers in the frame the suite reads (empty think block)
            text = wrap_answer(text)
        row = {k: r.get(k) for k in ("id", "dataset", "task", "source", "images", "width", "height")}
        row.update(target=r["target"], frame=None, completion=text, num_tokens=0, truncated=False, turns=[],
                   reasoning=kw["reasoning"], prediction=parse(r["task"], text, frame=None, **kw))
        if r["task"] == "zoom_vqa" and "prediction_direct" in r:
            # a policy that never zooms answers the chain and the direct question alike
            row.update(completion_direct=text, prediction_direct=parse("vqa", text, **kw))
        out.append(row)
    return out


def write_baselines(req, rows: list[dict], reward_fn, log: Callable[[str], None]) -> dict[str, str]:
    """Fit, answer, score and write every trivial policy for the evaluated `rows` (all datasets).

    Returns:
        {policy name: its directory relative to ``req.out``} for the policies that scored at least one dataset.
    """
    from eval.runner import add_rewards, git_commit
    from eval.runner_score import score_rows
    from eval.suite import DatasetEntry

    entries = {e.name: e for e in req.entries}
    suite = dataclasses.replace(req.suite, java_metrics=False)  # METEOR of a constant caption is not worth a JVM
    by_ds: dict[str, list[dict]] = {}
    for r in rows:
        by_ds.setdefault(str(r["dataset"]), []).append(r)
    per_policy: dict[str, dict] = {p: {"rows": [], "metrics": {}, "answers": {}, "n_train": {}, "skipped": {}}
                                   for p in KINDS}
    for name, ds_rows in by_ds.items():
        entry = entries.get(name, DatasetEntry(name=name, path=""))
        train, why = training_rows(req, entry)
        if train is None:
            log(f"baselines: {name}: skipped ({why})")
            for p in per_policy.values():
                p["skipped"][name] = why
            continue
        tasks = sorted({r["task"] for r in ds_rows})
        for pname in KINDS:
            got = []
            for task in tasks:
                policy = next((p for p in policies_of(task) if p.kind == pname), None)
                fit_rows = [r for r in train if r["task"] == task]
                if policy is None:
                    continue
                if not fit_rows:
                    per_policy[pname]["skipped"][f"{name}/{task}"] = f"no {entry.baseline_split} rows of {task}"
                    continue
                state = policy.fit(fit_rows)
                got += baseline_rows(policy, state, [r for r in ds_rows if r["task"] == task], suite.seed, suite)
                key = name if len(tasks) == 1 else f"{name}/{task}"
                per_policy[pname]["answers"][key] = policy.describe(state)
                per_policy[pname]["n_train"][key] = len(fit_rows)
            if got:
                for r in got:
                    add_rewards(r, reward_fn)
                per_policy[pname]["metrics"][name] = score_rows(got, entry, suite)
                per_policy[pname]["rows"] += got
    written = {}
    for pname, p in per_policy.items():
        if not p["rows"]:
            continue
        out = req.out / BASELINES_DIR / pname
        out.mkdir(parents=True, exist_ok=True)
        runner_io.write_rows_atomic(out / runner_io.PREDICTIONS, p["rows"])
        doc = {"model": f"baseline:{pname}", "suite": req.suite.name, "backend": "none",
               "pixel_budget": {"min_pixels": req.suite.min_pixels, "max_pixels": req.suite.max_pixels},
               "git_commit": git_commit(), "heldout": req.suite.heldout_info(), "metrics": p["metrics"],
               "datasets": {n: {"tasks": sorted({r["task"] for r in p["rows"] if r["dataset"] == n}),
                                "n": sum(r["dataset"] == n for r in p["rows"])} for n in p["metrics"]},
               "baseline": {"policy": pname, "fitted_on": {n: entries[n].baseline_split for n in p["metrics"]
                                                           if n in entries},
                            "n_train": p["n_train"], "answers": p["answers"], "skipped": p["skipped"]}}
        runner_io.write_json_atomic(out / runner_io.METRICS, doc)
        written[pname] = str(Path(BASELINES_DIR) / pname)
    return written
