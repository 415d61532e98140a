"""SFT data: the configured mixture of built datasets, rendered lazily into `messages` + `images` rows."""

from __future__ import annotations

import functools

import numpy as np

from data_engine.families import Family
from data_engine.lazy import rendered_dataset
from data_engine.mixture import load_sources
from sft.config import DataSection


def _render_row(row: dict, pos: int, *, family: Family, data: DataSection) -> dict:
    from data_engine.render import render_sft

    # Per-item seed: the same row renders identically on every rank and after a resume.
    rng = np.random.default_rng([data.seed, pos])
    return render_sft(row, family, min_pixels=data.min_pixels, max_pixels=data.max_pixels, box_type=data.box_type,
                      mode=data.answer_mode, rng=rng, random_resize=data.random_resize)


def build_sft_dataset(data: DataSection, family: Family):
    """The training dataset (a `datasets.Dataset` rendering on access) and its skip counter.

    Returns:
        (dataset, skipped, sources): `sources` are the loaded built datasets (for summaries and checks).
    """
    sources, order = load_sources(data.sources, seed=data.seed, temperature=data.temperature)
    dataset, skipped = rendered_dataset(sources, order, functools.partial(_render_row, family=family, data=data))
    return dataset, skipped, sources
