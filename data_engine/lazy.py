"""A lazily rendered view over built datasets: the row order is fixed up front, rendering happens per item.

Both training stages wrap the mixture in `RenderedView`, so the trainer's data loader pays for image decode, resize
and conversation building item by item, and nothing is rendered for rows a run never reaches. A row that fails to
render (missing or corrupt image) is skipped, counted by reason, and replaced by the next row that renders, so a
multi-hour run does not die on one bad file and the batch shape stays intact.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)


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


class RenderedView:
    """Map-style dataset: item i = render(rows[order[i]]).

    Args:
        rows: a sequence of schema rows (e.g. a `datasets.Dataset`, indexed lazily) or several, addressed as
            (source index, row index) pairs in `order`.
        order: the row order, a list of (source, row) pairs (from the mixture).
        render: sample dict -> rendered dict; may raise OSError/ValueError for a bad image.
        max_consecutive_failures: give up (raise) after this many failures in a row: the data is broken, not a file.
    """

    def __init__(
        self,
        sources: Sequence[Sequence[dict]],
        order: Sequence[tuple[int, int]],
        render: Callable[[dict, int], dict],
        max_consecutive_failures: int = 100,
    ) -> None:
        if not order:
            from data_engine.errors import UserError

            raise UserError("the data mixture is empty: check data.sources (paths, split and tasks filters)")
        self.sources = sources
        self.order = list(order)
        self.render = render
        self.skipped = SkipCounter()
        self.max_consecutive_failures = max_consecutive_failures

    def __len__(self) -> int:
        return len(self.order)

    def row(self, i: int) -> dict:
        """The raw schema row at position i (not rendered)."""
        s, r = self.order[i]
        return self.sources[s][r]

    def __getitem__(self, i: int) -> dict:
        if i < 0 or i >= len(self.order):
            raise IndexError(i)
        for attempt in range(self.max_consecutive_failures):
            j = (i + attempt) % len(self.order)
            row = self.row(j)
            try:
                # The index seeds per-item randomness (augmentation), so item i renders the same on every rank.
                return self.render(row, j)
            except (OSError, ValueError, SyntaxError) as e:  # PIL raises these for missing/corrupt/truncated images
                reason = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}" if str(e) else type(e).__name__
                self.skipped.add(reason, str(row.get("id")))
                log.warning("skipping sample %s: %s", row.get("id"), reason)
        raise RuntimeError(
            f"{self.max_consecutive_failures} consecutive samples failed to render (last: {self.skipped.as_dict()})"
        )

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]
