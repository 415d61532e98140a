"""Online rendering: a schema row -> what a model sees, shared by SFT, GRPO and evaluation.

Every image is decoded and smart-resized HERE, to sides that are multiples of the family's factor inside
``[min_pixels, max_pixels]``, so TRL's processor and vLLM both see an already valid size and count the same image
tokens. The coordinate frame of the shown image is built once (`Frame.for_family`) and used for the answer text;
GRPO rows carry it as the JSON `frame` column so rewards parse with the very frame the prompt was rendered with.

Prompts are the same at training and evaluation time: each task's declared prompt and answer functions
(`data_engine.tasks`, written in `data_engine.task_render` from the strings of `data_engine.answers`):

| task | system | user text (after the image block) | answer |
|---|---|---|---|
| detection | RSCoVLM prompt of the box type (text mode) | ``find the {categories}`` | `format_detection` |
| grounding | RSCoVLM HBB prompt (text mode) | ``find the {expression}`` | `format_grounding` |
| vqa | - | the question verbatim (MCQ rewrite with `choices`) | `format_vqa` |
| caption | - | `task_render.CAPTION_PROMPT` | one reference (`format_caption`) |
| region_caption | - | the region as ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` in the model frame + ask for a phrase | one reference |
| classification | - | ``Classify the image within one of the given classes:{classes}.`` | `format_classification` |
| zoom_vqa | zoom tool block | question + zoom instruction | tool call(s), crop turn(s), answer (`data_engine.zoom`) |
| chat | - | the conversation's turns (images in the first user turn) | its assistant turns |
| referring_segmentation | - | ``Locate the {expression}, output the segmentation mask`` | `seg_answers.format_seg_grid` (or `seg_polygons.format_seg_polygon`, ``mask_format``) |
| semantic_segmentation | - | ``Locate the {class}, output the segmentation mask`` | as referring_segmentation |
| change_caption | - | `change_text.CHANGE_CAPTION_PROMPT` | one reference (`format_caption`) |
| change_detection | as detection | `change_text.CHANGE_DETECTION_PREFIX` + ``find the {categories}`` | `format_detection` |
| damage | - | `change_text.DAMAGE_PREFIX` + question (box in the model frame) + class list | the class name |
| temporal_classification | - | `change_text.TEMPORAL_PREFIX` + the classification prompt | `format_classification` |

Multi-image rows (the last four, chat with several images) name each frame before its image block
(``Image 1: ``, ``Image 2: `` ...) and share one pixel budget across their frames (`frame_budget`,
docs/multi-image.md §1).

JSON answer mode uses the JSON prompts and no system prompt. Think-then-answer mode (``reasoning="think_answer"``,
`data_engine.reasoning`) appends its instruction to the user text of every single-turn task and wraps the answer as
``<think></think>\n<answer>…</answer>``. Content blocks follow TRL: ``{"type": "image"}`` and
``{"type": "text", "text": ...}``.

Random-resize augmentation (optional, every task): the image is shown as if its original were scaled by
``s ~ U[min_scale, max_scale]`` before smart resize; since answers are computed from original pixels through the
frame of the shown size, boxes follow the image automatically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from data_engine.errors import UserError
from data_engine.families import Family, get_family
from data_engine.frames import Frame
from data_engine.images import open_image, resize_to, smart_size
from data_engine.options import ANSWER_MODES, BOX_TYPES, MASK_FORMATS, check_choice
from data_engine.reasoning import add_instruction, check_reasoning, row_reasoning, wrap_answer
from data_engine.schema import load_target
from data_engine.task_render import text_block as _text
from data_engine.task_render import user_turn
from data_engine.tasks import get_task


def _family(family: Family | str) -> Family:
    return get_family(family) if isinstance(family, str) else family


def _resize_scale(rng: np.random.Generator | None, random_resize: Any) -> float:
    """Scale of the random-resize augmentation (1.0 when off).

    `random_resize` is any object or mapping with `prob`, `min_scale`, `max_scale` (e.g. the SFT config section).
    """
    if rng is None or random_resize is None:
        return 1.0
    get = random_resize.get if isinstance(random_resize, dict) else lambda k, d=None: getattr(random_resize, k, d)
    prob, lo, hi = float(get("prob", 0.0)), float(get("min_scale", 1.0)), float(get("max_scale", 1.0))
    if not 0 < lo <= hi:
        raise UserError(f"random_resize needs 0 < min_scale <= max_scale, got {lo}, {hi}")
    if prob <= 0 or rng.random() >= prob:
        return 1.0
    return float(rng.uniform(lo, hi))


def load_view(path: str | Path, region: tuple[int, int, int, int] | None, size: tuple[int, int],
              expect: tuple[int, int]) -> Image.Image:
    """Decode `path` and return `region` (None = whole image) resized to `size` (w, h).

    JPEGs are decoded at a reduced DCT scale when the whole image is shown smaller (several times faster on large
    images). Raises ValueError when the file's size differs from the recorded one (the build is stale).
    """
    im = open_image(path)  # header only: an image over the pixel limit is refused before any decode
    if im.size != tuple(expect):
        raise ValueError(f"{path}: image is {im.size[0]}x{im.size[1]}, the dataset recorded {expect[0]}x{expect[1]}")
    if region is None:
        if im.format == "JPEG":
            im.draft("RGB", size)
        if im.mode == "RGB":
            im.load()  # convert() would copy an already-RGB image
        else:
            im = im.convert("RGB")
    else:
        im = im.convert("RGB").crop(region)  # beyond the border: black padding, like DOTA's edge patches
    return resize_to(im, size)


def frame_budget(n_frames: int, min_pixels: int, max_pixels: int, factor: int) -> tuple[int, int]:
    """The (min_pixels, max_pixels) each frame of an ``n_frames``-image sample is smart-resized within.

    The sample's budget is shared: each frame gets ``1/n`` of it (never less than one ``factor x factor`` token),
    so the frames of a sample together never hold more than ``max_pixels`` pixels and N frames never cost N times
    the image tokens of one (docs/multi-image.md §1).
    """
    n = int(n_frames)
    if n <= 1:
        return int(min_pixels), int(max_pixels)
    hi = max(factor * factor, int(max_pixels) // n)
    lo = min(hi, max(factor * factor, int(min_pixels) // n)) if min_pixels > 0 else 0
    return lo, hi


def prepare_images(sample: dict, target: dict, fam: Family, min_pixels: int, max_pixels: int,
                   scale: float = 1.0) -> tuple[list[Image.Image], Frame]:
    """The shown images of a row and the first one's frame.

    The first image is cut to its patch window when the row is a patch. A multi-image row (bi-temporal pair,
    time series) shares one pixel budget across its frames (`frame_budget`); each frame is smart-resized on its own
    inside its share (frames of one sample may differ in size) with the same random-resize ``scale``, so
    co-registered frames of equal size come out equal and the first image's frame holds for all of them.
    """
    patch = target.get("patch")
    w, h = int(sample["width"]), int(sample["height"])
    region = None
    first_expect = (w, h)
    if patch:
        x, y, s = int(patch["x"]), int(patch["y"]), int(patch["size"])
        region, (w, h) = (x, y, x + s, y + s), (s, s)
        first_expect = None
    lo, hi = frame_budget(len(sample["images"]), min_pixels, max_pixels, fam.factor)
    size = smart_size(max(1, round(w * scale)), max(1, round(h * scale)), fam.factor, lo, hi)
    images = []
    for k, path in enumerate(sample["images"]):
        if k == 0:
            if first_expect is None:
                im = open_image(path).convert("RGB").crop(region)
                images.append(resize_to(im, size))
            else:
                images.append(load_view(path, None, size, first_expect))
            continue
        with open_image(path) as probe:
            ow, oh = probe.size
        sz = size if (ow, oh) == first_expect else smart_size(max(1, round(ow * scale)), max(1, round(oh * scale)),
                                                               fam.factor, lo, hi)
        images.append(load_view(path, None, sz, (ow, oh)))
    return images, Frame.for_family(fam.coord_frame, w, h, size[0], size[1], fam.factor)


def _check_format(box_type: str, mode: str) -> None:
    """A configuration mistake (a UserError, never a counted skip): validated configs never reach it."""
    check_choice(box_type, BOX_TYPES, "box_type")
    check_choice(mode, ANSWER_MODES, "answer mode")


def task_prompt(task: str, target: dict, n_images: int, box_type: str, mode: str,
                frame: Frame | None = None) -> list[dict]:
    """System (when the task has one) and user messages of a task's first turn (its declared prompt function).

    ``frame`` (the first image's) reaches the prompt function of a task that declares ``region_box``, which writes
    its region box in the model's frame.
    """
    _check_format(box_type, mode)
    t = get_task(task)
    if t.prompt is None:
        raise UserError(f"task {task!r} has no single-turn prompt")
    if t.region_box:
        if frame is None:
            raise UserError(f"task {task!r} writes a region in its prompt: task_prompt needs the image's frame")
        return t.prompt(target, n_images, box_type, mode, frame=frame)
    return t.prompt(target, n_images, box_type, mode)


def task_answer(task: str, target: dict, frame: Frame, box_type: str, mode: str,
                rng: np.random.Generator | None = None, mask_format: str = "seg_grid") -> str:
    """The assistant text of a single-turn task (a zoom chain's final answer) — its declared answer function.
    ``mask_format`` (`options.MASK_FORMATS`) reaches the answer function of a mask task (docs/formats.md §6, §7)."""
    _check_format(box_type, mode)
    check_choice(mask_format, MASK_FORMATS, "mask_format")
    decl = get_task(task)
    if decl.answer is None:
        raise UserError(f"task {task!r} has no single-turn answer")
    if decl.parser == "segmentation":
        return decl.answer(target, frame, box_type, mode, rng, mask_format=mask_format)
    return decl.answer(target, frame, box_type, mode, rng)


def _chat_messages(target: dict, n_images: int) -> list[dict]:
    msgs, placed = [], False
    for m in target["messages"]:
        content = [_text(str(m["content"]))]
        if m["role"] == "user" and not placed:
            content = user_turn(n_images, str(m["content"]))["content"]  # several frames: named "Image k: "
            placed = True
        msgs.append({"role": m["role"], "content": content})
    return msgs


def render_sft(sample: dict, family: Family | str, *, min_pixels: int, max_pixels: int, box_type: str = "poly",
               mode: str = "text", rng: np.random.Generator | None = None, random_resize: Any = None,
               zoom_steps: int = 1, multi_evidence: str = "union", reasoning: str = "none",
               reasoning_tasks: list[str] | None = None, mask_format: str = "seg_grid") -> dict:
    """A row -> ``{"messages": [...], "images": [PIL, ...]}`` for TRL's SFTTrainer.

    Args:
        sample: a schema row (`target` JSON or dict).
        family: model family or its name.
        min_pixels, max_pixels: pixel budget of the smart resize.
        box_type: "poly", "obb" or "hbb" (detection answers).
        mode: "text" or "json" answer mode.
        rng: randomness for augmentation and the caption reference (None: deterministic, first reference).
        random_resize: {prob, min_scale, max_scale} (object or mapping) for random-resize augmentation.
        zoom_steps, multi_evidence: zoom chain options (see `data_engine.zoom.build_zoom_conversation`).
        reasoning: "none" or "think_answer" (`data_engine.reasoning`: the instruction in the prompt, the answer in
            an answer block after an empty think block; single-turn tasks only, and only ``reasoning_tasks`` when
            that list is given).
        mask_format: mask answers, one of `data_engine.options.MASK_FORMATS` (docs/formats.md §6, §7).
    """
    fam = _family(family)
    target = load_target(sample)
    task = sample["task"]
    interaction = get_task(task).interaction
    scale = _resize_scale(rng, random_resize)
    if interaction == "zoom_chain":
        from data_engine.zoom import build_zoom_conversation

        conv = build_zoom_conversation(sample, fam, min_pixels=min_pixels, max_pixels=max_pixels, steps=zoom_steps,
                                       multi_evidence=multi_evidence, scale=scale)
        return {"messages": conv["messages"], "images": conv["images"]}
    images, frame = prepare_images(sample, target, fam, min_pixels, max_pixels, scale)
    if interaction == "chat":
        return {"messages": _chat_messages(target, len(images)), "images": images}
    messages = task_prompt(task, target, len(images), box_type, mode, frame)
    answer = task_answer(task, target, frame, box_type, mode, rng, mask_format)
    if row_reasoning(task, check_reasoning(reasoning), reasoning_tasks) == "think_answer":
        messages, answer = add_instruction(messages), wrap_answer(answer)
    messages.append({"role": "assistant", "content": [_text(answer)]})
    return {"messages": messages, "images": images}


def render_grpo(sample: dict, family: Family | str, *, min_pixels: int, max_pixels: int, box_type: str = "poly",
                mode: str = "text", rng: np.random.Generator | None = None, random_resize: Any = None,
                reasoning: str = "none", reasoning_tasks: list[str] | None = None,
                mask_format: str = "seg_grid") -> dict:
    """A row -> a GRPO row: conversational `prompt`, `images` and the columns rewards read.

    Returns:
        {"prompt": [...], "images": [PIL], "task": str, "target": JSON str, "frame": JSON str of
        `Frame.to_dict` (the first image's frame), "sample_id": str, "source": str, "reasoning": the row's answer
        framing (`data_engine.reasoning.row_reasoning`: rewards and eval parse the completion by it), "mask_format":
        str (how mask answers are written and read, like ``frame``)}. For zoom_vqa
        the prompt is the chain's opening (tool block + question) and `frame` is the full view's.
    """
    fam = _family(family)
    target = load_target(sample)
    task = sample["task"]
    if not get_task(task).rewardable:
        raise UserError(f"sample {sample.get('id')!r}: {task} rows have no reward target; leave them out of GRPO")
    images, frame = prepare_images(sample, target, fam, min_pixels, max_pixels, _resize_scale(rng, random_resize))
    framing = row_reasoning(task, check_reasoning(reasoning), reasoning_tasks)
    prompt = task_prompt(task, target, len(images), box_type, mode, frame)
    return {
        "prompt": add_instruction(prompt) if framing == "think_answer" else prompt,
        "images": images,
        "task": task,
        "target": json.dumps(target, ensure_ascii=False),  # a patch row's objects are in patch pixels
        "frame": json.dumps(frame.to_dict()),
        "sample_id": sample["id"],
        "source": sample["source"],
        "reasoning": framing,
        "mask_format": mask_format,
    }
