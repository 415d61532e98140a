"""Multi-turn zoom-in chains in GRPO, on TRL's own tool loop (`environment_factory`).

`zoom_vqa` rows are routed (column ``environment``) to a `ZoomEnvironment`, whose one public method
`ZoomEnvironment.image_zoom_in` TRL exposes as the ``image_zoom_in`` tool: TRL parses the model's
``<tool_call>`` JSON, calls the method, appends its multimodal result (the crop and RSCoVLM's crop text) as the next
turn, masks those tokens from the loss (``tool_mask`` 0) and puts the crop into the forward pass. Other rows go to a
`PlainEnvironment` without tools, so their prompts carry no tool block.

Each call's box is in the model frame of the CURRENT view (the full image first, then the previous crop); it is
mapped to original pixels with `data_engine.frames`, cut from the full-resolution original image (``image_path``)
by `data_engine.zoom.crop_view` (the region SFT chains are rendered with) and smart-resized to the run's budget.
Every step is recorded in ``environment.turns`` (``[{"tool_call", "box", "view", "valid", "crop_image", "error"}]``,
boxes in original pixels) for the ``zoom_chain`` reward (`with_zoom_turns`) and the rollout store.

Use from ``rl/train.py``::

    zoom = zoom_trainer_kwargs(family, processor, min_pixels=..., max_pixels=..., max_calls=1)
    dataset = dataset.map(add_zoom_columns)            # rows need ``image_path`` for zoom_vqa
    args = GRPOConfig(..., **zoom["args"])
    trainer = GeoGRPOTrainer(..., reward_funcs=with_zoom_turns(reward_funcs), **zoom["trainer"])

Limitation: a ``<tool_call>`` whose JSON does not parse is not a tool call for TRL's response parser, so it ends
the episode without an error turn (the reward still counts it as a failed call from the text).
"""

from __future__ import annotations

import functools
import json
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from data_engine.answers import ZOOM_CROP_TEXT, ZOOM_TOOL_NAME, ZOOM_TOOL_SYSTEM
from data_engine.errors import UserError
from data_engine.families import Family, get_family
from data_engine.filenames import safe_filename
from data_engine.frames import Frame, from_model
from data_engine.images import load_rgb
from data_engine.zoom import crop_box, crop_view

ZOOM_ENV = "zoom_in"
PLAIN_ENV = "plain"
ZOOM_TASK = "zoom_vqa"
TEMPLATES = Path(__file__).parent / "templates"
# Per family: stock rendering without tools, RSCoVLM's tool layout (the SFT chains' format) with them.
TOOLS_TEMPLATES = {"qwen2_5_vl": TEMPLATES / "qwen2_5_vl_tools.jinja", "qwen3_vl": TEMPLATES / "qwen3_vl_tools.jinja"}


class ZoomEnvironment:
    """One zoom-in episode: the current view, the step budget and the record of every call.

    Args:
        family: model family (resize factor and coordinate frame of each crop).
        min_pixels, max_pixels: the run's pixel budget, for smart-resizing crops.
        max_calls: zoom calls allowed per episode (later calls get an error turn).
        crop_dir: where to save each crop as PNG (its path goes into ``turns``); None keeps them in memory only.

    Attributes:
        turns: one dict per call of this episode (see the module docstring).
        crops: the crop images fed back to the model, in call order (valid calls only).
    """

    def __init__(
        self, family: Family, min_pixels: int, max_pixels: int, max_calls: int, crop_dir: str | Path | None = None
    ) -> None:
        self._family = family
        self._budget = (int(min_pixels), int(max_pixels))
        self._max_calls = int(max_calls)
        self._crop_dir = Path(crop_dir) if crop_dir else None
        self.turns: list[dict] = []
        self.crops: list[Image.Image] = []

    def reset(self, **row: Any) -> None:
        """Start an episode on a GRPO row (needs ``frame`` and ``image_path``); the prompt is left unchanged."""
        self.turns, self.crops = [], []
        frame = row.get("frame")
        frame = Frame.from_dict(json.loads(frame) if isinstance(frame, str) else frame)
        path = row.get("image_path")
        if not path:
            raise UserError(f"zoom row {row.get('sample_id')!r} has no image_path (the full-resolution original)")
        self._path = str(path)
        self._original: Image.Image | None = None
        self._sample_id = str(row.get("sample_id", "sample"))
        # The current view: its region in original pixels and the frame the model writes boxes in for it.
        self._view = [0.0, 0.0, float(frame.orig_w), float(frame.orig_h)]
        self._orig_size = (round(frame.orig_w), round(frame.orig_h))
        self._frame = frame
        return None

    def image_zoom_in(self, bbox: list[int]) -> list[dict]:
        """Zoom in to the region of interest on the given image and return the zoomed-in image.

        Args:
            bbox: The bounding box of the region of interest as an array [x1, y1, x2, y2], where (x1, y1) and (x2, y2)
                are the left top and right down corners, in the coordinates of the current image.
        """
        turn = {
            "tool_call": _call_text(bbox),
            "box": None,
            "view": list(self._view),
            "valid": False,
            "crop_image": None,
            "error": None,
        }
        self.turns.append(turn)
        try:
            box = self._box_in_original(bbox)
            crop = self._crop(box)
        except UserError as e:
            # Raised on to TRL, which renders it as an error tool turn and counts it in tools/failure_frequency.
            turn["error"] = str(e)
            raise
        turn.update(box=box, valid=True)
        if self._crop_dir is not None:
            self._crop_dir.mkdir(parents=True, exist_ok=True)
            p = self._crop_dir / f"{safe_filename(self._sample_id, 80)}_{uuid.uuid4().hex[:8]}_{len(self.turns) - 1}.png"
            crop.save(p, format="PNG")
            turn["crop_image"] = str(p)
        self.crops.append(crop)
        # The next call is read in the frame of this crop as the model sees it.
        self._view = [float(v) for v in box]
        self._frame = Frame.for_family(
            self._family.coord_frame, box[2] - box[0], box[3] - box[1], crop.width, crop.height
        )
        return [{"type": "image", "image": crop}, {"type": "text", "text": ZOOM_CROP_TEXT}]

    def _box_in_original(self, bbox: Any) -> list[int]:
        """Model-frame box of the current view -> integer original-pixel box (clipped to the view), or UserError."""
        if len(self.turns) > self._max_calls:
            raise UserError(f"zoom budget exhausted: at most {self._max_calls} zoom-in call(s) per question")
        ok = isinstance(bbox, (list, tuple)) and len(bbox) == 4
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bbox)
        if not ok:
            raise UserError(f"bbox must be [x1, y1, x2, y2] with four numbers, got {bbox!r}")
        x1, y1, x2, y2 = (float(v) for v in bbox)
        if not (x1 < x2 and y1 < y2):
            raise UserError(f"bbox {list(bbox)} has zero size (need x1 < x2 and y1 < y2)")
        fr = self._frame
        cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, fr.model_w), min(y2, fr.model_h)
        if not (cx1 < cx2 and cy1 < cy2):
            raise UserError(f"bbox {list(bbox)} is outside the current image (0, 0, {fr.model_w:g}, {fr.model_h:g})")
        bx1, by1, bx2, by2 = from_model([cx1, cy1, cx2, cy2], fr).tolist()
        vx1, vy1 = self._view[:2]
        # The region the data engine cuts for the same box (rounded outwards, >= 28 px a side), so rollout crops
        # equal the crops the SFT chains were rendered with.
        return list(crop_box([vx1 + bx1, vy1 + by1, vx1 + bx2, vy1 + by2], *self._orig_size))

    def _crop(self, box: list[int]) -> Image.Image:
        if self._original is None:
            # Decoded once per episode: a multi-step chain crops the same (possibly gigapixel) original.
            self._original = load_rgb(self._path)
            if self._original.size != self._orig_size:
                raise UserError(
                    f"{self._path}: image is {self._original.size}, but the row's frame says {self._orig_size}"
                )
        return crop_view(
            self._original, box, family=self._family, min_pixels=self._budget[0], max_pixels=self._budget[1]
        )


class PlainEnvironment:
    """Environment of non-zoom rows: no tools, so their prompts render without a tool block."""

    def reset(self, **row: Any) -> None:
        """Nothing to set up; the prompt is left unchanged."""
        return None


def _call_text(bbox: Any) -> str:
    # The parsed call re-serialised (the environment never sees the raw text): the canonical RSCoVLM form.
    call = json.dumps({"name": ZOOM_TOOL_NAME, "arguments": {"bbox": bbox}}, default=str)
    return f"<tool_call>\n{call}\n</tool_call>"


def _processor_budget(processor) -> tuple[int | None, int | None]:
    ip = processor.image_processor
    size = getattr(ip, "size", None)
    get = size.get if isinstance(size, dict) else (lambda k: getattr(size, k, None))
    lo = get("shortest_edge") if size is not None else None
    hi = get("longest_edge") if size is not None else None
    return (lo if lo is not None else getattr(ip, "min_pixels", None)), (
        hi if hi is not None else getattr(ip, "max_pixels", None)
    )


def tools_chat_template(family: Family | str) -> str | None:
    """The chat template to train zoom chains with: the family's stock rendering without tools, and with tools the
    layout SFT chains use (RSCoVLM's tool block, plain user turn for the crop); None keeps the stock template.

    Qwen2.5-VL's stock template rejects tools; Qwen3-VL's accepts them but writes its own tool block and
    ``<tool_response>`` turns, which the SFT chains never showed the model.
    """
    fam = get_family(family) if isinstance(family, str) else family
    path = TOOLS_TEMPLATES.get(fam.name)
    return path.read_text(encoding="utf-8") if path else None


def zoom_trainer_kwargs(
    family: Family | str,
    processor,
    *,
    min_pixels: int,
    max_pixels: int,
    max_calls: int,
    crop_dir: str | Path | None = None,
) -> dict:
    """Set up a processor for zoom chains and return what the trainer and its config need.

    The processor is changed in place: both families get a template that renders stock without tools and the SFT
    chains' tool layout with them (`tools_chat_template`), and Qwen's ``<tool_call>`` JSON response parser on the
    tokenizer.

    Args:
        family: model family (name or `Family`).
        processor: the run's processor; its pixel budget must equal min_pixels/max_pixels, so crops pass through
            the processor unchanged.
        min_pixels, max_pixels: the run's pixel budget for crops.
        max_calls: zoom calls per episode (TRL's ``max_tool_calling_iterations`` and the environment's budget).
        crop_dir: optional folder to save every crop in (paths go into ``turns``).

    Returns:
        ``{"trainer": {"environment_factory": ...}, "args": {"max_tool_calling_iterations": max_calls}}``.
    """
    from trl.chat_template_utils import qwen3_template

    fam = get_family(family) if isinstance(family, str) else family
    if int(max_calls) < 1:
        raise UserError(f"zoom max_calls must be >= 1, got {max_calls}")
    lo, hi = _processor_budget(processor)
    if (lo, hi) != (int(min_pixels), int(max_pixels)):
        raise UserError(
            f"processor pixel budget ({lo}, {hi}) differs from the zoom crop budget ({min_pixels}, {max_pixels}); "
            "load the processor with the run's min_pixels/max_pixels"
        )
    template = tools_chat_template(fam)
    if template is not None:
        processor.chat_template = template
    tokenizer = getattr(processor, "tokenizer", processor)
    if getattr(tokenizer, "response_template", None) is None:
        # Qwen's tool-call format (<tool_call>\n{json}\n</tool_call>) for both families; TRL only knows Qwen3-VL's.
        tokenizer.response_template = qwen3_template
    zoom = functools.partial(ZoomEnvironment, fam, min_pixels, max_pixels, max_calls, crop_dir)
    # None: rows without an `environment` column run as plain rows.
    factories = {ZOOM_ENV: zoom, PLAIN_ENV: PlainEnvironment, None: PlainEnvironment}
    return {"trainer": {"environment_factory": factories}, "args": {"max_tool_calling_iterations": int(max_calls)}}


def add_zoom_columns(row: dict) -> dict:
    """Route a GRPO row: ``environment`` is ``zoom_in`` for ``zoom_vqa`` rows and ``plain`` otherwise.

    Zoom rows need ``image_path`` (the full-resolution original) and ``frame``; a system message equal to the
    RSCoVLM tool block is dropped, because the chat template renders the tool block from the tools.
    """
    row = dict(row)
    if row.get("task") == ZOOM_TASK:
        if not row.get("image_path"):
            raise UserError(f"zoom_vqa row {row.get('sample_id')!r} needs an image_path column (full-res original)")
        if row.get("frame") is None:
            raise UserError(f"zoom_vqa row {row.get('sample_id')!r} needs a frame column")
        prompt = row.get("prompt")
        if isinstance(prompt, list) and prompt and prompt[0].get("role") == "system":
            if _text_of(prompt[0].get("content")).strip() == ZOOM_TOOL_SYSTEM:
                row["prompt"] = prompt[1:]
        row["environment"] = ZOOM_ENV
    else:
        row["environment"] = PLAIN_ENV
        row.setdefault("image_path", None)
    return row


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text") or "" for b in content if isinstance(b, dict))
    return ""


def zoom_turns(environments: list | None) -> list[list[dict] | None]:
    """Per completion: its zoom turns (`ZoomEnvironment.turns`, a copy), or None for non-zoom rollouts."""
    return [list(e.turns) if isinstance(e, ZoomEnvironment) else None for e in (environments or [])]


def with_zoom_turns(reward_funcs: list[Callable]) -> list[Callable]:
    """Wrap TRL reward functions so they receive a ``turns`` column from the environments (for ``zoom_chain``)."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def reward(*args, **kwargs):
            if kwargs.get("environments") is not None and "turns" not in kwargs:
                kwargs["turns"] = zoom_turns(kwargs["environments"])
            return fn(*args, **kwargs)

        return reward

    return [wrap(f) for f in reward_funcs]
