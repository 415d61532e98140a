"""GRPO data: the configured mixture rendered lazily into conversational prompts plus the columns rewards read."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from data_engine.data_config import DataSection
from data_engine.families import Family
from data_engine.lazy import rendered_dataset
from data_engine.mixture import load_sources


def _render_row(row: dict, pos: int, *, family: Family, data: DataSection) -> dict:
    from data_engine.images import set_max_image_pixels
    from data_engine.render import render_grpo
    from rl.zoom import add_zoom_columns

    set_max_image_pixels(data.max_image_pixels)  # per call: data-loader workers may be fresh processes

    rng = np.random.default_rng([data.seed, pos])  # the same prompt renders identically on every rank
    out = render_grpo(row, family, min_pixels=data.min_pixels, max_pixels=data.max_pixels, box_type=data.box_type,
                      mode=data.answer_mode, rng=rng, random_resize=data.random_resize, reasoning=data.reasoning,
                      reasoning_tasks=data.reasoning_tasks, mask_format=data.mask_format)
    # The zoom tool crops from the full-resolution original; every row gets the column (one schema per dataset).
    out["image_path"] = row["images"][0] if row["images"] else ""
    return add_zoom_columns(out)


class GRPOData(NamedTuple):
    """The prompt dataset (a `datasets.Dataset` rendering on access) and what the stage needs to know about it."""

    dataset: Any
    skipped: Any  # SkipCounter filled while rendering
    captions: list[dict]  # distinct caption / change_caption rows (CIDEr-D document frequencies, one table per task)
    tasks: set[str]  # tasks present in the mixture


def build_grpo_dataset(data: DataSection, family: Family) -> GRPOData:
    """The GRPO prompts of the configured mixture. `chat` rows carry no reward target and are left out."""
    sections = [_without_chat(s) for s in data.sources]
    sources, order = load_sources(sections, seed=data.seed, temperature=data.temperature, root=data.root)
    dataset, skipped = rendered_dataset(sources, order, functools.partial(_render_row, family=family, data=data))
    task_cols = [src["task"] for src in sources]  # one column read per source, no row decoding
    tasks = {task_cols[s][r] for s, r in order}
    return GRPOData(dataset, skipped, caption_rows(sources, order), tasks)


def caption_rows(sources, order) -> list[dict]:
    """The distinct rows of the captioning tasks (`rewards.caption.DOC_FREQ_TASKS`) in the mixture: their references
    are the CIDEr-D document-frequency corpora (one table per task)."""
    from rewards.caption import DOC_FREQ_TASKS

    seen = sorted({(s, r) for s, r in order})
    return [row for s, r in seen if (row := sources[s][r])["task"] in DOC_FREQ_TASKS]


def _without_chat(section):
    from copy import copy

    from data_engine.tasks import TASKS

    sec = copy(section)
    sec.tasks = [t for t in (section.tasks or TASKS) if t not in TASKS or TASKS[t].rewardable]
    return sec
