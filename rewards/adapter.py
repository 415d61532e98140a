"""TRL adapter and pre-flight check: reward config -> GRPOTrainer ``reward_funcs`` + ``reward_weights``.

`make_reward_funcs` turns ``{task: [RewardSpec]}`` into one TRL reward function per (task, reward) pair, named
``<task>/<reward>`` (TRL logs ``rewards/<task>/<reward>/mean``). Each function is called with TRL's signature
``fn(prompts, completions, completion_ids, **columns)`` and returns, per completion, the reward's ``overall`` for
rows of its task and ``None`` (not applicable) for other rows. Every part is logged through ``log_metric`` as
``<task>/<part>`` (mean over this call's rows of the task) and per row through ``log_extra`` as
``<task>/<reward>/<part>``. GRPO rows carry ``task``, ``target`` (JSON), ``frame`` (JSON of `Frame.to_dict`),
``sample_id``, ``source``, ``images``, ``reasoning`` (the answer framing: in ``think_answer`` rows rewards see the
answer block only, `reward_view`); a zoom rollout may add ``turns`` (see `rewards.zoom`). What a reward gets and
returns is `rewards.contract`; what it needs beyond the row (``turns``, a document-frequency table) it declares on
its `RewardDef` (``needs_turns``, ``needs_doc_freq``), and `needs_doc_freq` tells the trainer whether to build one.

`check_rewards` runs every configured reward once on a real row of its task before training starts, so a
missing column or a crashing user reward fails at startup with the reward's name and the sample id.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from data_engine.errors import UserError
from eval.parsers import answer_block, completion_text
from rewards.common import finite01, frame_of
from rewards.config import RewardSpec, as_specs
from rewards.registry import RewardDef, get_reward

_ROW_KEYS = ("task", "target", "frame", "sample_id", "id", "source", "width", "height", "turns")


def reward_view(rdef: RewardDef, completion: Any, sample: dict) -> Any:
    """The completion a reward reads: in a ``think_answer`` row (its ``reasoning`` column) the answer block only,
    unless the reward declares ``full_completion`` (e.g. ``think_format``); otherwise the completion unchanged.

    This is the single place rewards meet the think-then-answer frame, so every reward (built-in or user) scores
    the answer exactly as `eval.parsers.parse` reads it in evaluation.
    """
    if rdef.full_completion or sample.get("reasoning") != "think_answer":
        return completion
    return answer_block(completion_text(completion))


def _sample_of(columns: dict[str, Any], i: int) -> dict[str, Any]:
    row = {k: v[i] for k, v in columns.items() if isinstance(v, (list, tuple)) and len(v) > i}
    if "id" not in row and "sample_id" in row:
        row["id"] = row["sample_id"]
    if ("width" not in row or "height" not in row) and row.get("frame") is not None:
        try:
            fr = frame_of(row["frame"])
            row.setdefault("width", fr.orig_w)
            row.setdefault("height", fr.orig_h)
        except (UserError, ValueError, TypeError):
            pass
    return row


def call_reward(rdef: RewardDef, completion: Any, sample: dict, kwargs: dict) -> dict:
    """Call one reward on one sample; results are made finite, user-reward crashes name the reward and sample."""
    frame = frame_of(sample.get("frame"))
    extra = dict(kwargs)
    if rdef.needs_turns and sample.get("turns") is not None:
        extra.setdefault("turns", sample["turns"])
    try:
        out = rdef.fn(reward_view(rdef, completion, sample), sample, frame, **extra)
    except Exception as e:  # noqa: BLE001 - re-raised with the context a user needs
        raise UserError(
            f"reward {rdef.name!r} raised on sample {sample.get('id', sample.get('sample_id'))!r} "
            f"(task {sample.get('task')!r}): {type(e).__name__}: {e}"
        ) from e
    return _finite_result(rdef, out, sample)


def _finite_result(rdef: RewardDef, out: Any, sample: dict) -> dict:
    """The reward's result as {name: float}, `overall` clamped to [-1, 1].

    Raises:
        UserError: naming the reward and the sample, when the result or any part is not a finite number (NaN, inf,
            a string): such a value is a broken reward, never silently trained on as 0.
    """
    if not isinstance(out, dict):
        out = {"overall": out}
    if "overall" not in out:
        raise UserError(f"reward {rdef.name!r} returned no 'overall' (got keys {sorted(out)})")
    clean = {}
    for k, v in out.items():
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok and hasattr(v, "item") and getattr(v, "size", 1) == 1:  # a numpy / torch scalar
            try:
                v = v.item()
                ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            except (TypeError, ValueError):
                ok = False
        if not ok:
            raise UserError(
                f"reward {rdef.name!r} returned {'its result' if k == 'overall' else f'part {k!r}'} = {v!r} on sample "
                f"{sample.get('id', sample.get('sample_id'))!r} (task {sample.get('task')!r}): rewards must return "
                "finite numbers"
            )
        clean[k] = float(v)
    clean["overall"] = finite01(clean["overall"], -1.0, 1.0)
    return clean


def make_reward_funcs(
    reward_cfg: Any, caption_df: Any = None
) -> tuple[list[Callable[..., list[float | None]]], list[float]]:
    """Build TRL reward functions and their weights from a rewards config section.

    Args:
        reward_cfg: ``{task: [RewardSpec | {name, weight, kwargs}]}``.
        caption_df: the training references' document-frequency table (`rewards.caption.training_df`), or
            ``{task: table}`` (`rewards.caption.training_dfs`, one per captioning task); passed as the ``df`` kwarg to rewards declaring ``needs_doc_freq`` whose kwargs set no ``df``/``df_path``.

    Returns:
        (funcs, weights) for ``GRPOTrainer(reward_funcs=funcs)`` and ``GRPOConfig(reward_weights=weights)``.
    """
    funcs, weights = [], []
    for task, specs in as_specs(reward_cfg).items():
        for spec in specs:
            rdef = get_reward(spec.name)
            if task not in rdef.tasks:
                raise UserError(f"reward {spec.name!r} does not score task {task!r} (it scores {list(rdef.tasks)})")
            kwargs = dict(spec.kwargs)
            if rdef.needs_doc_freq and caption_df is not None and not ({"df", "df_path"} & kwargs.keys()):
                table = caption_df.get(task) if isinstance(caption_df, dict) else caption_df
                if table is not None:
                    kwargs["df"] = table
            funcs.append(_trl_function(task, rdef, kwargs))
            weights.append(float(spec.weight))
    return funcs, weights


def needs_doc_freq(reward_cfg: Any) -> bool:
    """True when a configured reward declares ``needs_doc_freq`` (the trainer then builds the training df table)."""
    return any(get_reward(s.name).needs_doc_freq for specs in as_specs(reward_cfg).values() for s in specs)


def _trl_function(task: str, rdef: RewardDef, kwargs: dict) -> Callable[..., list[float | None]]:
    short = rdef.name.rsplit(":", 1)[-1]

    def reward(prompts=None, completions=None, completion_ids=None, **columns) -> list[float | None]:
        log_metric = columns.pop("log_metric", None)
        log_extra = columns.pop("log_extra", None)
        columns.pop("trainer_state", None)
        completions = list(completions or [])
        tasks = columns.get("task") or [None] * len(completions)
        scores: list[float | None] = []
        parts: dict[str, list] = {}
        mine = [i for i in range(len(completions)) if tasks[i] == task]
        batched = _batch_results(rdef, kwargs, [completions[i] for i in mine], [_sample_of(columns, i) for i in mine])
        for i, comp in enumerate(completions):
            if tasks[i] != task:
                scores.append(None)
                for v in parts.values():
                    v.append(None)
                continue
            out = batched.pop(0) if batched is not None else call_reward(rdef, comp, _sample_of(columns, i), kwargs)
            scores.append(out["overall"])
            for k, v in out.items():
                parts.setdefault(k, [None] * i).append(v)
            for v in parts.values():
                if len(v) < i + 1:
                    v.append(None)
        for k, vals in parts.items():
            got = [v for v in vals if v is not None]
            if log_metric is not None and got:
                log_metric(f"{task}/{k}" if k != "overall" else f"{task}/{short}", sum(got) / len(got))
            if log_extra is not None:
                log_extra(f"{task}/{short}/{k}", vals)
        return scores

    reward.__name__ = f"{task}/{short}"
    reward.__qualname__ = reward.__name__
    return reward


def _batch_results(rdef: RewardDef, kwargs: dict, completions: list, samples: list[dict]) -> list[dict] | None:
    """Results of ``rdef.batch`` for these rows (made finite), or None when the reward has no batch form."""
    if rdef.batch is None or not completions:
        return None
    try:
        outs = rdef.batch([reward_view(rdef, c, s) for c, s in zip(completions, samples, strict=True)], samples,
                          **kwargs)
    except Exception as e:  # noqa: BLE001 - re-raised with context
        ids = [s.get("id") for s in samples[:3]]
        raise UserError(f"reward {rdef.name!r} raised on samples {ids}...: {type(e).__name__}: {e}") from e
    if len(outs) != len(samples):
        raise UserError(f"reward {rdef.name!r} returned {len(outs)} results for {len(samples)} completions")
    return [_finite_result(rdef, o, s) for o, s in zip(outs, samples, strict=True)]


def check_rewards(reward_cfg: Any, dataset_rows: Iterable[dict], caption_df: Any = None) -> dict[str, int]:
    """Pre-flight: run every configured reward once, through the TRL adapter, on a real row of its task.

    Args:
        reward_cfg: the rewards section.
        dataset_rows: GRPO rows (dicts with the dataset's columns); scanned until each task has a row.
        caption_df: as in `make_reward_funcs`.

    Returns:
        ``{task: number of rewards checked}``.

    Raises:
        UserError: no row of a configured task; a column the reward needs is missing (naming the reward, the
            column and the columns present); a reward raises or returns a non-finite or wrong-length result.
    """
    specs = as_specs(reward_cfg)
    first: dict[str, dict] = {}
    for row in dataset_rows:
        t = row.get("task")
        if t in specs and t not in first:
            first[t] = row
            if len(first) == len(specs):
                break
    checked = {}
    for task, task_specs in specs.items():
        row = first.get(task)
        if row is None:
            raise UserError(f"rewards are configured for task {task!r} but the dataset has no {task!r} rows")
        for spec in task_specs:
            rdef = get_reward(spec.name)
            missing = [c for c in rdef.columns if c not in row]
            if missing:
                raise UserError(
                    f"reward {spec.name!r} for task {task!r} needs dataset column(s) {missing}; "
                    f"sample {row.get('sample_id', row.get('id'))!r} has {sorted(row)}"
                )
            (fn,), _ = make_reward_funcs({task: [spec]}, caption_df=caption_df)
            columns = {k: [v] for k, v in row.items() if k not in ("prompt", "completion", "completion_ids")}
            res = fn(prompts=[row.get("prompt")], completions=[_probe_completion(row)], completion_ids=[[]], **columns)
            if len(res) != 1 or res[0] is None or not math.isfinite(res[0]):
                raise UserError(f"reward {spec.name!r} returned {res!r} on sample {row.get('sample_id', row.get('id'))!r}")
        checked[task] = len(task_specs)
    return checked


def _probe_completion(row: dict) -> list[dict]:
    """A conversational completion to probe a reward with (content: the target's answer when it has one)."""
    try:
        target = json.loads(row["target"]) if isinstance(row.get("target"), str) else (row.get("target") or {})
    except (ValueError, TypeError):
        target = {}
    text = str(target.get("answer", target.get("label", "There are none."))) if isinstance(target, dict) else ""
    return [{"role": "assistant", "content": text}]


__all__ = ["RewardSpec", "call_reward", "check_rewards", "make_reward_funcs", "needs_doc_freq"]
