"""A lazily rendered view over built datasets: the row order is fixed up front, rendering happens per item.

Both training stages wrap the mixture with `rendered_dataset`, a `datasets.Dataset` of (source, row) references
whose transform renders each row when the trainer's data loader asks for it: image decode, smart resize and
conversation building are paid item by item, and nothing is rendered for rows a run never reaches. TRL's trainers
take it as they take any dataset (GRPO requires a `datasets.Dataset`).

A row that fails to render (missing or corrupt image) is skipped, counted by reason, and replaced by the next row
of the order that renders, so a multi-hour run does not die on one bad file and batch shapes stay intact. Counts
live in the process that rendered (keep `dataloader_num_workers=0`, the default here, to see them in the summary).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from data_engine.errors import UserError

log = logging.getLogger(__name__)

# Exceptions PIL and our loaders raise for a missing, corrupt or truncated image.
RENDER_ERRORS = (OSError, ValueError, SyntaxError)


class SkipCounter:
    """Counts skipped rows by reason and keeps the first few sample ids per reason for the run summary."""

    def __init__(self, keep: int = 20) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.keep = keep

    def add(self, reason: str, sample_id: str) -> None:
        self.counts[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < self.keep:
            ex.append(sample_id)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "by_reason": dict(self.counts), "examples": self.examples}


class _Renderer:
    """The transform: (source, row, position) references -> rendered rows, with skip-and-replace on failure."""

    def __init__(self, sources, order, render, skipped: SkipCounter, max_consecutive_failures: int) -> None:
        self.sources, self.order, self.render = sources, order, render
        self.skipped, self.max_failures = skipped, max_consecutive_failures

    def one(self, pos: int) -> dict:
        for attempt in range(self.max_failures):
            j = (pos + attempt) % len(self.order)
            s, r = self.order[j]
            row = self.sources[s][r]
            try:
                # The position seeds per-item randomness (augmentation): item i renders the same on every rank.
                return self.render(row, j)
            except RENDER_ERRORS as e:
                reason = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}" if str(e) else type(e).__name__
                self.skipped.add(reason, str(row.get("id")))
                log.warning("skipping sample %s: %s", row.get("id"), reason)
        raise RuntimeError(
            f"{self.max_failures} consecutive samples failed to render; the data is broken: {self.skipped.as_dict()}"
        )

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        rendered = [self.one(int(p)) for p in batch["_pos"]]
        return {k: [r[k] for r in rendered] for k in rendered[0]}


def rendered_dataset(
    sources: Sequence[Sequence[dict]],
    order: Sequence[tuple[int, int]],
    render: Callable[[dict, int], dict],
    max_consecutive_failures: int = 100,
):
    """A `datasets.Dataset` whose item i is `render(sources[s][r], i)` for `(s, r) = order[i]`.

    Args:
        sources: sequences of schema rows (e.g. `datasets.Dataset`s from `load_from_disk`, indexed lazily).
        order: the mixture's row order as (source index, row index) pairs.
        render: (schema row, position) -> dict of rendered columns (the same keys for every row).
        max_consecutive_failures: raise after this many failures in a row (the data is broken, not one file).

    Returns:
        (dataset, skipped): the dataset and the `SkipCounter` its transform fills.
    """
    from datasets import Dataset

    if not order:
        raise UserError("the data mixture is empty: check data.sources (paths, split and tasks filters)")
    skipped = SkipCounter()
    refs = Dataset.from_dict({"_pos": list(range(len(order)))})
    return refs.with_transform(_Renderer(sources, list(order), render, skipped, max_consecutive_failures)), skipped
