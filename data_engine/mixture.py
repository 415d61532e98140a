"""Mixtures: which rows of which built datasets a run sees, in a seeded order that is the same on every rank.

Each source is a built dataset (`georft data build` output) with optional `split` / `tasks` filters and a weight:

- ``"*N"`` repeats the source's rows N times (N may be fractional: ``"*2.5"`` = twice, plus a seeded half);
- ``"%P"`` keeps a seeded P percent of its rows;
- a plain number ``w`` is a sampling weight: with temperature T, source i contributes
  ``round(total * p_i)`` rows drawn with replacement only when it must, where ``p_i ∝ (w_i * n_i) ** (1 / T)`` and
  total is the sum of the sources' sizes (T = 1: proportional to size x weight; large T: towards uniform).

The order is a list of (source index, row index) pairs, shuffled with one seed; images are not touched here (the
lazy view in `data_engine.lazy` loads them when an item is rendered). Unlike RSCoVLM's loader, ``%P`` subsampling is
always seeded, so every rank draws the same subset.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.errors import UserError

_REPEAT = re.compile(r"^\*\s*(\d+(?:\.\d+)?)$")
_PERCENT = re.compile(r"^%\s*(\d+(?:\.\d+)?)$")


def parse_weight(weight: Any) -> tuple[str, float]:
    """'*N' -> ("repeat", N); '%P' -> ("percent", P); a number -> ("weight", w)."""
    text = str(weight).strip()
    if m := _REPEAT.match(text):
        return "repeat", float(m.group(1))
    if m := _PERCENT.match(text):
        p = float(m.group(1))
        if not 0 < p <= 100:
            raise UserError(f"mixture weight {weight!r}: a percentage must be in (0, 100]")
        return "percent", p
    try:
        w = float(text)
    except ValueError:
        raise UserError(f"mixture weight {weight!r} is not '*N', '%P' or a number") from None
    if not (math.isfinite(w) and w > 0):  # float() reads "nan" and "inf", and NaN fails no comparison
        raise UserError(f"mixture weight {weight!r} must be a finite positive number")
    return "weight", w


def _take(indices: np.ndarray, count: float, rng: np.random.Generator) -> np.ndarray:
    """`count` rows from `indices`: whole copies first, then a seeded subset without replacement for the rest."""
    whole, frac = int(count // len(indices)), count % len(indices)
    parts = [indices] * whole
    k = int(round(frac))
    if k:
        parts.append(rng.choice(indices, size=k, replace=False))
    return np.concatenate(parts) if parts else indices[:0]


def mixture_order(sizes: Sequence[int], weights: Sequence[Any], seed: int = 0, temperature: float = 1.0,
                  row_indices: Sequence[np.ndarray] | None = None) -> list[tuple[int, int]]:
    """The seeded (source, row) order of a mixture.

    Args:
        sizes: rows available per source (after filters).
        weights: one weight spec per source ('*N', '%P' or a number).
        seed: one seed for subsampling and the final shuffle.
        temperature: temperature for plain-number weights (must be > 0).
        row_indices: per source, the row indices to draw from (default: 0..size-1).

    Returns:
        List of (source index, row index) pairs.
    """
    if temperature <= 0:
        raise UserError(f"mixture temperature must be > 0, got {temperature}")
    rng = np.random.default_rng(seed)
    pools = [np.asarray(r if row_indices is not None else np.arange(n), dtype=np.int64)
             for r, n in zip(row_indices or [None] * len(sizes), sizes, strict=True)]
    specs = [parse_weight(w) for w in weights]
    sampled = [i for i, (kind, _) in enumerate(specs) if kind == "weight" and len(pools[i])]
    counts = {}
    if sampled:
        mass = np.array([(specs[i][1] * len(pools[i])) ** (1.0 / temperature) for i in sampled])
        total = sum(len(pools[i]) for i in sampled)
        for i, p in zip(sampled, mass / mass.sum(), strict=True):
            counts[i] = total * p
    order = []
    for i, (kind, value) in enumerate(specs):
        pool = pools[i]
        if not len(pool):
            continue
        n = {"repeat": value * len(pool), "percent": value / 100 * len(pool)}.get(kind, counts.get(i, 0.0))
        rows = _take(pool, n, rng)
        order.extend((i, int(r)) for r in rows)
    perm = rng.permutation(len(order))
    return [order[k] for k in perm]


def filter_rows(dataset, split: str | None, tasks: Sequence[str] | None,
                names: Sequence[str] | None = None) -> np.ndarray:
    """Row indices of a built dataset matching a split, tasks and source names (None = all); reads three columns."""
    cols = zip(dataset["split"], dataset["task"], dataset["source"], strict=True)
    keep = [i for i, (s, t, n) in enumerate(cols)
            if (split is None or s == split) and (tasks is None or t in tasks) and (names is None or n in names)]
    return np.asarray(keep, dtype=np.int64)


def source_path(root: str, path: str) -> Path:
    """Where a `data.sources[]` entry lives: `path` inside `root` (`data.root`) unless absolute or no root is set."""
    return Path(root) / path if root and not Path(path).is_absolute() else Path(path)


def load_sources(sections: Sequence[Any], seed: int = 0, temperature: float = 1.0, root: str = ""):
    """Load the built datasets of a mixture and compute its order.

    Args:
        sections: objects with `path`, `weight`, `split`, `tasks` and optionally `names` (the `data.sources`
            config entries).
        seed, temperature: see `mixture_order`.
        root: folder that relative source paths are resolved against ("" = the working directory).

    Returns:
        (datasets, order): the loaded `datasets.Dataset`s and the (source, row) order.
    """
    from data_engine.build import load_built

    datasets, pools = [], []
    for sec in sections:
        path = source_path(root, sec.path)
        ds = load_built(path)
        names = getattr(sec, "names", None)
        rows = filter_rows(ds, sec.split, list(sec.tasks) if sec.tasks else None, list(names) if names else None)
        if not len(rows):
            raise UserError(f"data source {path}: no rows with split={sec.split!r}, tasks={sec.tasks!r}"
                            f" and names={names!r}")
        datasets.append(ds)
        pools.append(rows)
    order = mixture_order([len(p) for p in pools], [s.weight for s in sections], seed, temperature, pools)
    return datasets, order
