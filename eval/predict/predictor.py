"""`Predictor`: a checkpoint and a task, applied to any image or georeferenced scene (the core of `georft predict`).

One input (one image, or a before/after pair for change tasks) with one prompt:

1. the target the task's prompt function reads is built from the prompt (`eval.predict.plan.build_target`);
2. the scene is planned into windows (`plan.scene_windows` at the model's pixel budget, or the whole scene);
3. each window is read from the raster (`eval.predict.raster`, windowed, never the whole raster at full size),
   smart-resized to the family's grid inside the budget, and prompted exactly as training and evaluation do
   (`data_engine.render.task_prompt`, the same frame, think-answer framing and mask format);
4. windows are generated in batches on the backend (`rollout.generate`: HF ``generate`` or vLLM), zoom-VQA chains
   through `rollout.zoom_chain` with crops read lazily from the full-resolution raster;
5. each completion is parsed by the task's parser with the window's frame (`eval.parsers.parse`) and shifted into
   scene pixels, and the windows are merged (`eval.predict.merge.merge_windows`).

The backend is created on first use, so building a `Predictor` costs nothing until it predicts; tests pass their
own ``backend`` (anything with ``generate(requests, sampling)``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from data_engine.errors import UserError
from data_engine.families import Family, family_of_checkpoint, get_family
from data_engine.frames import Frame
from data_engine.images import resize_to, smart_size
from data_engine.options import ANSWER_MODES, BOX_TYPES, MASK_FORMATS, check_choice
from data_engine.reasoning import add_instruction, check_reasoning, row_reasoning
from data_engine.render import frame_budget, task_prompt
from data_engine.tasks import get_task
from eval.predict import plan
from eval.predict.merge import merge_windows, shift_prediction
from eval.predict.raster import LazyOriginal, Scene, open_scene

CHUNK_BATCHES = 4  # windows read and held at once = batch_size * CHUNK_BATCHES


@dataclass
class PredictSettings:
    """How a checkpoint is prompted and a scene is cut (the CLI's options; defaults as trained by the demo recipes).

    Attributes:
        classes: class list (detection, classification, multi-label, semantic segmentation, damage, temporal).
        box_type, answer_mode, reasoning, reasoning_tasks, mask_format: as the model was trained (the SFT data
            section / eval suite of the same names).
        min_pixels, max_pixels: the pixel budget of one prompt; None: the checkpoint processor's saved budget.
        window: window side in pixels; None: `plan.window_side` of the budget.
        gap: window overlap in pixels; None: a fifth of the side.
        tiling: "auto" (localisation tasks are tiled when the scene exceeds one window) or "whole" (every task sees
            the whole scene, decimated to the budget).
        batch_size: prompts per generate call.
        max_new_tokens, temperature, seed: decoding (temperature 0 = greedy).
        merge_iou: rotated-NMS IoU of the merge (DOTA's 0.1).
        dtype: HF backend dtype ("auto": bfloat16 on GPU, float32 on CPU).
        zoom_calls: zoom calls allowed per zoom-VQA chain.
        bands: 1-based raster bands read as R, G, B (or one grey band); None: `raster.open_scene`'s choice.
    """

    classes: list[str] | None = None
    box_type: str = "poly"
    answer_mode: str = "text"
    reasoning: str = "none"
    reasoning_tasks: list[str] | None = None
    mask_format: str = "seg_grid"
    min_pixels: int | None = None
    max_pixels: int | None = None
    window: int | None = None
    gap: int | None = None
    tiling: str = "auto"
    batch_size: int = 4
    max_new_tokens: int = 512
    temperature: float = 0.0
    seed: int = 0
    merge_iou: float = 0.1
    dtype: str = "auto"
    zoom_calls: int = 2
    bands: tuple[int, ...] | None = None

    def validate(self) -> None:
        check_choice(self.box_type, BOX_TYPES, "box_type")
        check_choice(self.answer_mode, ANSWER_MODES, "answer_mode")
        check_choice(self.mask_format, MASK_FORMATS, "mask_format")
        check_choice(self.tiling, ("auto", "whole"), "tiling")
        check_reasoning(self.reasoning, tasks=self.reasoning_tasks)
        for name in ("batch_size", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.window is not None and self.window < 1:
            raise UserError(f"window must be >= 1 pixel, got {self.window}")
        if not 0.0 <= self.merge_iou <= 1.0:
            raise UserError(f"merge_iou must be in [0, 1], got {self.merge_iou}")


@dataclass
class PredictResult:
    """One input's prediction for one prompt.

    Attributes:
        task, prompt, target: what was asked (the target the prompt function read).
        images: the input paths (two for change tasks; "<array>" for an in-memory image).
        width, height: scene size in pixels.
        windows: one record per window: ``window`` [x1, y1, x2, y2], ``size`` (the shown w, h), ``frame``
            (`Frame.to_dict`), ``completion``, ``num_tokens``, ``truncated``, ``prediction`` (scene pixels; a mask in
            window pixels) and, for zoom chains, ``turns``.
        merged: the scene prediction (`eval.predict.merge.merge_windows`), scene pixels.
        seconds: wall time of reading, generation, parsing and merging.
        crs, transform: the raster's CRS and geotransform (None / identity for plain images).
        georeferenced: whether ``crs`` and ``transform`` place the scene on the earth.
    """

    task: str
    prompt: str | None
    target: dict
    images: list[str]
    width: int
    height: int
    windows: list[dict] = field(default_factory=list)
    merged: dict = field(default_factory=dict)
    seconds: float = 0.0
    crs: Any = None
    transform: Any = None
    georeferenced: bool = False


class ArrayScene:
    """An in-memory PIL image behind `Scene`'s reading interface (the Python API accepts images, not only paths)."""

    def __init__(self, image: Image.Image) -> None:
        from affine import Affine

        self.image = image.convert("RGB")
        self.width, self.height = self.image.size
        self.path, self.crs, self.transform, self.georeferenced = Path("<array>"), None, Affine.identity(), False

    def read(self, window=None, out_size=None) -> Image.Image:
        x1, y1, x2, y2 = window if window is not None else (0, 0, self.width, self.height)
        im = self.image.crop((int(x1), int(y1), int(x2), int(y2)))
        return resize_to(im, tuple(out_size)) if out_size is not None else im

    def close(self) -> None:
        pass


def check_model_dir(path: str | Path) -> str:
    """"model" (a full checkpoint) or "adapter" (a LoRA adapter folder); a one-line `UserError` for anything else."""
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"checkpoint not found: {p}")
    if (p / "config.json").is_file():
        return "model"
    if (p / "adapter_config.json").is_file():
        return "adapter"
    raise UserError(f"{p} is not a model or adapter folder (no config.json or adapter_config.json): pass the "
                    "folder an SFT/GRPO stage saved, or `georft model tiny --out DIR`")


def _adapter_base(path: Path) -> str:
    try:
        base = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}/adapter_config.json: cannot read base_model_name_or_path ({e})") from None
    if not base:
        raise UserError(f"{path}/adapter_config.json names no base model")
    return str(base)


def saved_budget(path: str | Path, factor: int) -> tuple[int, int]:
    """(min_pixels, max_pixels) of a checkpoint's saved image processor; (4, 1024) tokens of ``factor`` when it
    records none."""
    p = Path(path)
    for name in ("processor_config.json", "preprocessor_config.json"):
        f = p / name
        if not f.is_file():
            continue
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        ip = doc.get("image_processor", doc) if isinstance(doc, dict) else {}
        size = ip.get("size") if isinstance(ip.get("size"), dict) else {}
        lo = ip.get("min_pixels") or size.get("shortest_edge")
        hi = ip.get("max_pixels") or size.get("longest_edge")
        if isinstance(lo, int) and isinstance(hi, int) and 0 < lo <= hi:
            return lo, hi
    return 4 * factor * factor, 1024 * factor * factor


class Predictor:
    """A checkpoint and a task, ready to predict on images and scenes.

    Args:
        model: checkpoint directory (a full model or a LoRA adapter folder; HF format as the stages save it).
        task: one of `eval.predict.plan.PREDICT_TASKS`.
        backend: "hf" (CPU or GPU) or "vllm" (GPU), or an object with ``generate(requests, sampling)``.
        settings: `PredictSettings` (None: defaults); keyword arguments override its fields.
        family: the model family (default: from the checkpoint's config.json).

    Example::

        p = Predictor("runs/demo/sft", "detection", classes=["ship", "harbor"])
        result = p.predict("scene.tif")      # PredictResult; result.merged["objects"] in scene pixels
    """

    def __init__(self, model: str | Path, task: str, backend: Any = "hf", settings: PredictSettings | None = None,
                 family: Family | str | None = None, **overrides: Any) -> None:
        self.task = plan.check_task(task)
        self.settings = settings or PredictSettings()
        for k, v in overrides.items():
            if not hasattr(self.settings, k):
                raise UserError(f"unknown predict setting {k!r}")
            setattr(self.settings, k, v)
        self.settings.validate()
        self.model = str(model)
        self._backend = None if isinstance(backend, str) else backend
        self.backend_name = backend if isinstance(backend, str) else type(backend).__name__
        if isinstance(backend, str):
            from rollout.generate import BACKENDS

            BACKENDS.get(backend)  # an unknown backend fails before anything is read
        self.kind = check_model_dir(model) if self._backend is None else "model"
        if family is not None:
            self.family = get_family(family) if isinstance(family, str) else family
        else:
            folder = Path(_adapter_base(Path(model))) if self.kind == "adapter" else Path(model)
            self.family = family_of_checkpoint(folder)
        lo, hi = saved_budget(model, self.family.factor)
        self.min_pixels = int(self.settings.min_pixels or lo)
        self.max_pixels = int(self.settings.max_pixels or hi)
        if self.min_pixels > self.max_pixels:
            raise UserError(f"min_pixels ({self.min_pixels}) > max_pixels ({self.max_pixels})")

    # ------------------------------------------------------------------ backend

    @property
    def backend(self):
        """The generation backend, loaded on first use (every load failure is one `UserError` line)."""
        if self._backend is None:
            self._backend = self._open_backend()
        return self._backend

    def _open_backend(self):
        from models.loading import ModelSection, load_model, load_processor
        from rollout.generate import HFBackend, VLLMBackend

        path = Path(self.model)
        try:
            if self.backend_name == "vllm":
                if self.kind == "adapter":
                    raise UserError(f"{path} is a LoRA adapter: the vllm backend needs a merged model folder "
                                    "(use --backend hf, or merge it with peft's merge_and_unload)")
                processor = load_processor(str(path), self.min_pixels, self.max_pixels)
                return VLLMBackend(str(path), processor, max_images_per_prompt=max(2, 1 + self.settings.zoom_calls),
                                   min_pixels=self.min_pixels, max_pixels=self.max_pixels)
            if self.kind == "adapter":
                from peft import PeftModel

                base = _adapter_base(path)
                model = PeftModel.from_pretrained(load_model(ModelSection(path=base, dtype=self.settings.dtype)),
                                                  str(path)).merge_and_unload()
                has_proc = any((path / n).is_file() for n in ("processor_config.json", "preprocessor_config.json"))
                processor = load_processor(str(path) if has_proc else base, self.min_pixels, self.max_pixels)
            else:
                model = load_model(ModelSection(path=str(path), dtype=self.settings.dtype))
                processor = load_processor(str(path), self.min_pixels, self.max_pixels)
        except UserError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError) as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"cannot load checkpoint {path}: {msg}") from None
        return HFBackend(model, processor, self.settings.batch_size)

    # ------------------------------------------------------------------ planning

    def windows_for(self, width: int, height: int, n_frames: int = 1) -> np.ndarray:
        """(K, 4) windows [x1, y1, x2, y2] this predictor shows of a ``width x height`` scene."""
        tiled = self.task in plan.TILED_TASKS and self.settings.tiling == "auto"
        side = self.settings.window or plan.window_side(self.max_pixels, self.family.factor, n_frames)
        if not tiled or (width <= side and height <= side):
            return np.array([[0, 0, width, height]], dtype=np.int64)
        return plan.scene_windows(width, height, side, self.settings.gap)

    def _render(self, frames: list, window, target: dict) -> tuple[list[dict], list[Image.Image], Frame, tuple]:
        """Messages, shown images, frame and shown size of one window (as `data_engine.render.render_grpo` does)."""
        fam = self.family
        x1, y1, x2, y2 = (int(v) for v in window)
        w, h = x2 - x1, y2 - y1
        lo, hi = frame_budget(len(frames), self.min_pixels, self.max_pixels, fam.factor)
        size = smart_size(w, h, fam.factor, lo, hi)
        images = [frames[0].read((x1, y1, x2, y2), size)]
        for f in frames[1:]:
            same = (f.width, f.height) == (frames[0].width, frames[0].height)
            if same:
                images.append(f.read((x1, y1, x2, y2), size))
            else:  # frames of other sizes (time series without coordinates): each its own smart size, whole
                images.append(f.read(None, smart_size(f.width, f.height, fam.factor, lo, hi)))
        frame = Frame.for_family(fam.coord_frame, w, h, size[0], size[1], fam.factor)
        s = self.settings
        messages = task_prompt(self.task, target, len(images), s.box_type, s.answer_mode, frame)
        if row_reasoning(self.task, s.reasoning, s.reasoning_tasks) == "think_answer":
            messages = add_instruction(messages)
        return messages, images, frame, size

    def _parse(self, text: str, frame: Frame | None, target: dict) -> dict:
        from eval.parsers import parse
        from eval.runner import parse_kwargs

        return parse(self.task, text, frame=frame, mask_format=self.settings.mask_format,
                     **parse_kwargs(self.task, target, self.settings))

    # ------------------------------------------------------------------ predicting

    def open_frames(self, image: Any, after: Any = None) -> list:
        """The opened frames of one input: ``[image]``, or ``[before, after]`` for a change task."""
        items = [image] if after is None else [image, after]
        if self.task in plan.PAIR_TASKS and len(items) < 2:
            raise UserError(f"task {self.task} compares two images: give the before image and after=... "
                            "(--input-before/--input-after)")
        if self.task not in plan.PAIR_TASKS and len(items) > 1:
            raise UserError(f"task {self.task} takes one image, got a before/after pair")
        frames = []
        try:
            for it in items:
                if isinstance(it, (Scene, ArrayScene)):
                    frames.append(it)
                elif isinstance(it, Image.Image):
                    frames.append(ArrayScene(it))
                else:
                    frames.append(open_scene(it, self.settings.bands))
        except BaseException:
            for f in frames:
                f.close()
            raise
        if get_task(self.task).coregistered and len({(f.width, f.height) for f in frames}) > 1:
            sizes = " vs ".join(f"{f.width}x{f.height}" for f in frames)
            for f in frames:
                f.close()
            raise UserError(f"{self.task} needs co-registered frames of one size, got {sizes} "
                            f"({', '.join(str(f.path) for f in frames)})")
        return frames

    def predict(self, image: Any, prompt: str | None = None, *, after: Any = None,
                progress: Callable[[int], None] | None = None) -> PredictResult:
        """Predict on one image or scene (or a before/after pair).

        Args:
            image: a path (any raster GDAL reads), a PIL image, or an opened `Scene`; the before image of a pair.
            prompt: the task's prompt (`eval.predict.plan.build_target`): text or a JSON object of target keys.
            after: the after image of a change task.
            progress: called with the number of windows finished after each batch.

        Returns:
            A `PredictResult` with every window and the merged prediction in scene pixels.
        """
        target = plan.build_target(self.task, prompt, self.settings.classes)
        frames = self.open_frames(image, after)
        given = [image, after]
        try:
            return self._predict(frames, target, prompt, progress)
        finally:
            for f in frames:
                if not any(f is g for g in given):  # the caller's own opened scenes stay open
                    f.close()

    def _predict(self, frames: list, target: dict, prompt: str | None, progress) -> PredictResult:
        t0 = time.perf_counter()
        first = frames[0]
        res = PredictResult(self.task, prompt, target, [str(f.path) for f in frames], first.width, first.height,
                            crs=first.crs, transform=first.transform, georeferenced=bool(first.georeferenced))
        if get_task(self.task).interaction == "zoom_chain":
            res.windows = self._zoom(first, target)
            if progress:
                progress(1)
        else:
            windows = self.windows_for(first.width, first.height, len(frames))
            chunk = self.settings.batch_size * CHUNK_BATCHES
            for i in range(0, len(windows), chunk):
                res.windows += self._run_windows(frames, windows[i: i + chunk], target)
                if progress:
                    progress(len(windows[i: i + chunk]))
        res.merged = merge_windows(self.task, res.windows, first.width, first.height, self.settings.merge_iou)
        res.seconds = time.perf_counter() - t0
        return res

    def _sampling(self):
        from rollout.generate import SamplingSpec

        s = self.settings
        return SamplingSpec(max_new_tokens=s.max_new_tokens, temperature=s.temperature, seed=s.seed)

    def _run_windows(self, frames: list, windows: np.ndarray, target: dict) -> list[dict]:
        from rollout.generate import Request

        rendered = [self._render(frames, w, target) for w in windows]
        gens = self.backend.generate([Request(m, ims) for m, ims, _, _ in rendered], self._sampling())
        out = []
        for w, (_, _, frame, size), g in zip(windows, rendered, gens, strict=True):
            x1, y1 = int(w[0]), int(w[1])
            pred = shift_prediction(self.task, self._parse(g.text, frame, target), x1, y1)
            out.append({"window": [int(v) for v in w], "size": [int(size[0]), int(size[1])],
                        "frame": frame.to_dict(), "completion": g.text, "num_tokens": g.num_tokens,
                        "truncated": g.truncated, "prediction": pred})
        return out

    def _zoom(self, scene, target: dict) -> list[dict]:
        """One zoom-in chain on the whole scene; crops are windowed reads of the full-resolution raster."""
        from data_engine.zoom import make_view
        from eval.runner import read_call
        from rollout.zoom_chain import ZoomEpisode, run_zoom_chains

        fam = self.family
        view = make_view((0, 0, scene.width, scene.height), fam, self.min_pixels, self.max_pixels)
        messages = task_prompt("zoom_vqa", target, 1, self.settings.box_type, self.settings.answer_mode, view.frame)
        shown = scene.read(None, view.size)
        original = LazyOriginal(scene, max_side=4 * plan.window_side(self.max_pixels, fam.factor))
        (res,) = run_zoom_chains(self.backend, [ZoomEpisode(messages, [shown], original, view)], self._sampling(),
                                 family=fam, min_pixels=self.min_pixels, max_pixels=self.max_pixels,
                                 read_call=read_call, max_calls=self.settings.zoom_calls)
        pred = self._parse(res.completion, None, target)
        for call, st in zip(pred.get("calls") or [], res.steps, strict=False):
            call["box"] = st.box  # later calls are written in their crop's frame: the executor's boxes are true
        turns = [{"tool_call": st.tool_call, "box": st.box, "view": st.view, "valid": st.valid,
                  "crop_region": st.crop_region} for st in res.steps]
        return [{"window": [0, 0, scene.width, scene.height], "size": list(view.size),
                 "frame": view.frame.to_dict(), "completion": res.completion, "num_tokens": res.num_tokens,
                 "truncated": res.truncated, "prediction": pred, "turns": turns, "stop": res.stop}]
