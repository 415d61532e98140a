"""SFT data: the configured mixture of built datasets, rendered lazily into `messages` + `images` rows."""

from __future__ import annotations

import functools

import numpy as np

from data_engine.data_config import DataSection
from data_engine.errors import UserError
from data_engine.families import Family
from data_engine.lazy import rendered_dataset
from data_engine.mixture import load_sources


def _render_row(row: dict, pos: int, *, family: Family, data: DataSection) -> dict:
    from data_engine.images import set_max_image_pixels
    from data_engine.render import render_sft

    set_max_image_pixels(data.max_image_pixels)  # per call: data-loader workers may be fresh processes

    # Per-item seed: the same row renders identically on every rank and after a resume.
    rng = np.random.default_rng([data.seed, pos])
    return render_sft(row, family, min_pixels=data.min_pixels, max_pixels=data.max_pixels, box_type=data.box_type,
                      mode=data.answer_mode, rng=rng, random_resize=data.random_resize, reasoning=data.reasoning,
                      reasoning_tasks=data.reasoning_tasks, mask_format=data.mask_format)


def build_sft_dataset(data: DataSection, family: Family):
    """The training dataset (a `datasets.Dataset` rendering on access) and its skip counter.

    Returns:
        (dataset, skipped, sources): `sources` are the loaded built datasets (for summaries and checks).
    """
    sources, order = load_sources(data.sources, seed=data.seed, temperature=data.temperature, root=data.root)
    dataset, skipped = rendered_dataset(sources, order, functools.partial(_render_row, family=family, data=data))
    return dataset, skipped, sources


def check_max_length(max_length: int | None, dataset, processor, probe: int = 32) -> None:
    """Fail before training when a `max_length` bound would cut a sample (and so possibly its image tokens).

    TRL truncates sequences longer than `max_length`; for vision data that can drop image tokens and break the
    image-feature alignment, so we refuse a bound the first `probe` rendered samples already exceed.
    """
    if max_length is None:
        return
    for i in range(min(probe, len(dataset))):
        row = dataset[i]
        text = processor.apply_chat_template(row["messages"])
        n = len(processor(text=[text], images=row["images"] or None, return_tensors="pt")["input_ids"][0])
        if n > max_length:
            raise UserError(
                f"trainer.max_length={max_length} would truncate sample {i} ({n} tokens incl. image tokens); "
                "set trainer.max_length=null (the default here) or raise it"
            )
