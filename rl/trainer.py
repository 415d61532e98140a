"""`GeoGRPOTrainer`: TRL's `GRPOTrainer` plus the rollout store, through public hooks.

The recorder sees a batch through TRL's public reward-function interface: every reward function is wrapped
(`RolloutRecorder.wrap`) so each call hands the recorder the batch's prompts and completions (reward kwargs), the
function's per-row values, and the reward parts our adapters log with the public ``log_extra`` kwarg. The per-row
advantages come from the scored batch TRL returns (`rl/trl_seams.py`, the one module that reaches past TRL's public
API); from them the recorder appends one row per completion to `<output_dir>/rollouts/`. Logged conversations are
turned into JSON strings, which keeps wandb's completions table from crashing on multimodal prompts. In vLLM
colocate mode the trainer also installs the unexpanded-prompt fix for huggingface/trl#6294 (`rl/trl_seams.py`).

The file writes (PNG encoding of the images the model saw, the step's Parquet file and index line) run on one
background thread, in submission order, while the step's update runs: PNG encoding and Parquet release the GIL,
and they were most of the recorder's time. A callback waits for them at the end of every optimizer step, so a
step's rollouts are on disk before the step is done (and before any checkpoint of it).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from trl import GRPOTrainer

from data_engine.filenames import safe_filename
from eval.parsers import completion_text
from rl.task_scaling import TaskScaledRewards
from rl.trl_seams import DynamicSamplingHook, ScoredBatchHook, fix_colocate_prompts, jsonify_logged_conversations
from rollout.store import RolloutWriter, run_relative


def conversation_json(messages: Any) -> str:
    """A conversation as a JSON string with image objects dropped (strings pass through)."""
    if isinstance(messages, str):
        return messages
    from trl.trainer.utils import strip_images_from_messages

    return json.dumps(strip_images_from_messages(messages), ensure_ascii=False, default=str)


class GeoGRPOTrainer(DynamicSamplingHook, ScoredBatchHook, TaskScaledRewards, GRPOTrainer):
    """GRPOTrainer that records every completion in the rollout store (with dynamic sampling on: every attempt,
    and whether each group made the batch, column ``kept``).

    Args:
        record: a `RolloutRecorder` (None disables the store); it wraps the reward functions.
        mm_processor_kwargs: the run's pixel budget (``{"min_pixels", "max_pixels"}``) for vLLM colocate requests.
        Other arguments are GRPOTrainer's.
    """

    def __init__(self, *args, record: RolloutRecorder | None = None, mm_processor_kwargs: dict | None = None,
                 **kwargs) -> None:
        if record is not None:
            if "reward_funcs" in kwargs:
                kwargs["reward_funcs"] = record.wrap(kwargs["reward_funcs"])
            else:
                args = (args[0], record.wrap(args[1]), *args[2:])
        super().__init__(*args, **kwargs)
        self.recorder = record
        fix_colocate_prompts(self, mm_processor_kwargs)
        if record is not None:
            self.add_callback(_FlushRollouts(record))

    def on_scored_batch(self, inputs: list[dict], output: dict) -> None:
        from accelerate.utils import gather_object

        n = len(inputs) * self.accelerator.num_processes
        jsonify_logged_conversations(self, n, conversation_json)
        if self.recorder is None:
            return
        local = self.recorder.local_rows(inputs, output, self)
        rows = gather_object(local)
        if self.accelerator.is_main_process:
            self.recorder.write(self, rows, n)

    def on_groups_chosen(self, kept: list) -> None:
        if self.recorder is not None and self.accelerator.is_main_process:
            self.recorder.mark_kept(self, [bool(k) for per_attempt in kept for k in per_attempt])


class _FlushRollouts(TrainerCallback):
    """Waits for the recorder's background writes at the end of each optimizer step and of training."""

    def __init__(self, recorder: RolloutRecorder) -> None:
        self.recorder = recorder

    def on_step_end(self, args, state, control, **kwargs):
        self.recorder.flush()

    def on_train_end(self, args, state, control, **kwargs):
        self.recorder.flush()


class RolloutRecorder:
    """Builds rollout-store rows from a scored generation batch; files are written on a background thread.

    Args:
        output_dir: the run directory.
        parse: (task, completion text, frame dict, target dict, mask format) -> prediction dict (the eval parsers).
        num_generations: group size G (rows of one prompt are contiguous).
    """

    def __init__(self, output_dir: str | Path, parse, num_generations: int) -> None:
        self.writer = RolloutWriter(output_dir)
        self.run_dir = Path(output_dir).resolve()
        self.image_dir = self.run_dir / "rollouts" / "images"  # written here; recorded relative to the run
        self.image_dir.mkdir(parents=True, exist_ok=True)
        self.parse = parse
        self.G = num_generations
        self._step_rows: dict[int, list[dict]] = {}
        # One thread: writes land in submission order (a step's images before its Parquet file).
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout-store")
        self._pending: list[Future] = []
        self._queued: set[Path] = set()  # images queued since the last flush (a sample repeats G times a batch)
        self._batch = _BatchLog()

    def wrap(self, reward_funcs: list[Callable]) -> list[Callable]:
        """Reward functions that also hand this recorder what TRL passes them and what they return.

        Each call records the batch's ``prompts`` and ``completions`` (reward kwargs), the function's per-row values
        under its ``__name__`` (TRL's reward name), and every ``log_extra(column, values)`` the function makes.
        """
        return [self._wrap_one(f) for f in reward_funcs]

    def _wrap_one(self, fn: Callable) -> Callable:
        name = getattr(fn, "__name__", None)
        if name is None or not callable(fn):
            raise TypeError(f"the rollout store records callable reward functions only, got {fn!r}")
        log = self._batch

        def before(kwargs: dict) -> dict:
            log.prompts, log.completions = kwargs.get("prompts"), kwargs.get("completions")
            trl_extra = kwargs.get("log_extra")
            if trl_extra is not None:
                def log_extra(column: str, values: list) -> None:
                    log.extras[column] = list(values)
                    trl_extra(column, values)

                kwargs = {**kwargs, "log_extra": log_extra}
            return kwargs

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_reward(*args, **kwargs):
                values = await fn(*args, **before(kwargs))
                log.rewards[name] = list(values)
                return values

            return async_reward

        @functools.wraps(fn)
        def reward(*args, **kwargs):
            values = fn(*args, **before(kwargs))
            log.rewards[name] = list(values)
            return values

        return reward

    def _submit(self, fn, *args) -> None:
        self._raise_failed()
        self._pending.append(self._io.submit(fn, *args))

    def _raise_failed(self) -> None:
        """Re-raise the first error of a finished background write (a full disk must stop the run, not hide)."""
        done = [f for f in self._pending if f.done()]
        self._pending = [f for f in self._pending if not f.done()]
        for f in done:
            f.result()

    def flush(self) -> None:
        """Wait for every queued write; raises the first write error."""
        pending, self._pending = self._pending, []
        for f in pending:
            f.result()
        self._queued.clear()  # every queued image now exists on disk: `exists()` answers from here on

    def _image_paths(self, row: dict) -> list[str]:
        """Save the exact (pre-resized) images the model saw, once per sample and size; return their paths."""
        paths = []
        for k, img in enumerate(row.get("images") or []):
            if not hasattr(img, "save"):
                paths.append(str(img))
                continue
            p = self.image_dir / f"{safe_filename(row.get('sample_id', 'x'))}_{k}_{img.width}x{img.height}.png"
            if p not in self._queued:
                self._queued.add(p)
                if not p.exists():  # a resumed run keeps the files it already wrote
                    self._submit(_save_png, img.copy(), p)  # a copy: the trainer may release the original
            paths.append(p.relative_to(self.run_dir).as_posix())  # relative: a copied or rsynced run stays whole
        return paths

    def _relative_turns(self, turns: list | None) -> list:
        """Zoom turns with their crop paths relative to the run (the environment saves crops under it)."""
        out = []
        for t in turns or []:
            if isinstance(t, dict) and t.get("crop_image"):
                t = {**t, "crop_image": run_relative(t["crop_image"], self.run_dir)}
            out.append(t)
        return out

    def local_rows(self, inputs: list[dict], output: dict, trainer) -> list[dict]:
        """Per-process part of a scored batch: sample columns, what the wrapped rewards saw and returned, the
        advantages TRL computed, image paths, token lengths and truncation."""
        log = self._batch.take()
        mask = output["completion_mask"]
        ids = output["completion_ids"]
        advantages = output["advantages"].tolist()
        tok = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
        eos = set(trainer.eos_token_ids) | {tok.pad_token_id}
        if log.prompts is None or len(log.prompts) != len(inputs):
            raise RuntimeError(f"rollout store: the reward functions saw {len(log.prompts or [])} rows of this batch, "
                               f"the trainer scored {len(inputs)}")
        from rl.zoom import zoom_turns

        turns = zoom_turns(getattr(trainer, "environments", None))
        rows = []
        for i, x in enumerate(inputs):
            length = int(mask[i].sum())
            last = int(ids[i][length - 1]) if length else None
            rows.append({
                "sample_id": str(x.get("sample_id", "")),
                "task": str(x.get("task", "")),
                "source": str(x.get("source", "")),
                "target": x.get("target") if isinstance(x.get("target"), str) else json.dumps(x.get("target")),
                "frame": x.get("frame"),
                "reasoning": str(x.get("reasoning") or "none"),
                "mask_format": x.get("mask_format"),
                "prompt": conversation_json(log.prompts[i]),
                # The assistant text exactly as the rewards and parsers read it (tool turns left out).
                "completion": completion_text(log.completions[i]),
                "funcs": {name: vals[i] for name, vals in log.rewards.items()},
                "advantage": float(advantages[i]),
                "images": self._image_paths(x),
                "width": _orig_size(x.get("frame"))[0],
                "height": _orig_size(x.get("frame"))[1],
                "length": length,
                "truncated": last is not None and last not in eos,
                "turns": json.dumps(self._relative_turns((turns[i] if i < len(turns) else None) or x.get("turns")),
                                    default=str),
                # Reward parts our adapters logged as "<task>/<reward>/<part>", for this row.
                "parts": {k: v[i] for k, v in log.extras.items() if k.count("/") >= 2 and v[i] is not None},
            })
        return rows

    def write(self, trainer, rows: list[dict], n: int) -> None:
        """Main process: the gathered rows of one generation batch (all ranks, in rank order) to the step file."""
        weights = trainer.reward_weights.tolist()
        step = int(trainer.state.global_step)
        out = []
        # Group numbers run on over the generation batches of one step (dynamic sampling's attempts, or several
        # batches per optimizer step), so a group id names one prompt's completions in the step.
        offset = len(self._step_rows.get(step, []))
        for j, r in enumerate(rows[:n], start=offset):
            funcs = [r["funcs"].get(name) for name in trainer.reward_func_names]
            applied = [(w, v) for w, v in zip(weights, funcs, strict=True) if v is not None and v == v]
            rec = {
                "step": step,
                "group": f"{step}:{j // self.G}",
                "sample_id": r["sample_id"],
                "task": r["task"],
                "source": r["source"],
                "generation": j % self.G,
                "prompt": r["prompt"],
                "completion": r["completion"],
                "turns": r["turns"],
                "prediction": json.dumps(self.parse(r["task"], r["completion"], r["frame"], r["target"],
                                                    r["reasoning"], r.get("mask_format")),
                                         default=str),
                "target": r["target"],
                "reward": sum(w * v for w, v in applied) if applied else None,
                "advantage": r["advantage"],
                "images": r["images"],
                "width": r["width"],
                "height": r["height"],
                "length": r["length"],
                "truncated": r["truncated"],
                "kept": None,
                **think_columns(r["completion"], r["reasoning"]),
            }
            rec.update({f"reward/{name}": v for name, v in r["parts"].items()})
            out.append(rec)
        # Several generation batches may share one optimizer step: the step file holds all of them.
        self._step_rows.setdefault(step, []).extend(out)
        for s in [s for s in self._step_rows if s < step]:
            del self._step_rows[s]
        self._submit(self.writer.write_step, step, list(self._step_rows[step]))

    def mark_kept(self, trainer, groups: list[bool]) -> None:
        """Dynamic sampling chose the batch: `groups` says, for the step's last ``len(groups)`` groups (every
        attempt, in generation order), whether the group is trained on; the step file is rewritten with it."""
        step = int(trainer.state.global_step)
        rows = self._step_rows.get(step, [])
        tail = rows[len(rows) - len(groups) * self.G:]
        if len(tail) != len(groups) * self.G:
            raise RuntimeError(f"rollout store: dynamic sampling chose among {len(groups)} groups, the store holds "
                               f"{len(rows) // self.G} for step {step}")
        for k, r in enumerate(tail):
            r["kept"] = groups[k // self.G]
        self._submit(self.writer.write_step, step, list(rows))


class _BatchLog:
    """What the wrapped reward functions saw and returned for the current generation batch (local rows)."""

    def __init__(self) -> None:
        self.prompts: list | None = None
        self.completions: list | None = None
        self.rewards: dict[str, list] = {}
        self.extras: dict[str, list] = {}

    def take(self) -> _BatchLog:
        """A copy of this batch's record; this one is cleared for the next batch (the wrappers keep writing here)."""
        copy = _BatchLog()
        copy.__dict__.update(self.__dict__)
        self.__init__()
        return copy



def think_columns(text: str, reasoning: str) -> dict:
    """The store's think-then-answer columns of one completion (nulls when the row is not in that frame)."""
    from eval.parsers import is_well_formed, reasoning_chars

    if reasoning != "think_answer":
        return {"reasoning": reasoning, "think_ok": None, "reasoning_chars": None}
    return {"reasoning": reasoning, "think_ok": is_well_formed(text), "reasoning_chars": reasoning_chars(text)}


def parse_prediction(task: str, text: str, frame: Any, target: Any, reasoning: str = "none",
                     mask_format: str | None = None) -> dict:
    """The parsed prediction of a completion, in original pixels, as the eval parsers see it (never raises).
    ``mask_format``: the row's mask answer format (the GRPO row's column; None: ``seg_grid``)."""
    from data_engine.frames import Frame
    from eval.parsers import parse

    try:
        fr = Frame.from_dict(json.loads(frame) if isinstance(frame, str) else frame) if frame else None
        tgt = json.loads(target) if isinstance(target, str) else (target or {})
    except (ValueError, TypeError):
        fr, tgt = None, {}
    classes = tgt.get("classes") if isinstance(tgt, dict) else None
    choices = tgt.get("choices") if isinstance(tgt, dict) else None
    try:
        return parse(task, text, frame=fr, classes=classes, choices=choices, reasoning=reasoning,
                     mask_format=mask_format or "seg_grid")
    except Exception as e:  # noqa: BLE001 - an unknown task must not kill a training step; recorded instead
        return {"format_ok": False, "error": f"{type(e).__name__}: {e}"}


def _orig_size(frame: Any) -> tuple[int | None, int | None]:
    """Original image size recorded in a row's frame (JSON string or dict)."""
    try:
        d = json.loads(frame) if isinstance(frame, str) else frame
        return int(d["orig_w"]), int(d["orig_h"])
    except (TypeError, ValueError, KeyError):
        return None, None


def _save_png(img, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    img.save(tmp, format="PNG", compress_level=1)  # speed over size: written every step
    tmp.replace(path)


