"""A lazily rendered view over built datasets: the row order is fixed up front, rendering happens per item.

Both training stages wrap the mixture with `rendered_dataset`, a `datasets.Dataset` of (source, row) references
whose transform renders each row when the trainer's data loader asks for it: image decode, smart resize and
conversation building are paid item by item, and nothing is rendered for rows a run never reaches. TRL's trainers
take it as they take any dataset (GRPO requires a `datasets.Dataset`).

A row that fails to render (missing or corrupt image, an image over the pixel limit, a bad record: a `DataError`)
is skipped, counted by reason, and replaced by the next row of the order that renders, so a multi-hour run does not die on one bad file and batch shapes stay intact. Skips
counted in data-loader worker processes (`dataloader_num_workers > 0`, which takes rendering off the training
step's critical path) reach the run summary through a spool directory, one small file per worker (see
`SkipCounter`). A configuration mistake (any other `UserError`, e.g. an unknown box type) is never counted as a
skip: it stops the run with its one-line message.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from data_engine.errors import DataError, UserError

log = logging.getLogger(__name__)

# Exceptions PIL and our loaders raise for a missing, corrupt, truncated or oversized image, and our bad records.
# `UserError` is a ValueError too; those that are not `DataError`s are configuration mistakes and re-raised.
RENDER_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


class SkipCounter:
    """Counts skipped rows by reason and keeps the first few sample ids per reason for the run summary.

    Works across data-loader workers: the process that created the counter counts in memory; any other process
    (a worker holding a forked or pickled copy) appends one JSON line per skip to its own file in a spool
    directory, which `counts`/`examples`/`as_dict` merge on read. Skips are rare, so an append per skip is cheap,
    and nothing is shared that a worker could block on.
    """

    def __init__(self, keep: int = 20) -> None:
        self._counts: Counter[str] = Counter()
        self._examples: dict[str, list[str]] = {}
        self.keep = keep
        self._owner = os.getpid()
        self._spool = tempfile.mkdtemp(prefix="georft-skips-")
        weakref.finalize(self, _remove_spool, self._spool, self._owner)

    def add(self, reason: str, sample_id: str) -> None:
        if os.getpid() == self._owner:
            _count(self._counts, self._examples, self.keep, reason, sample_id)
            return
        with open(Path(self._spool) / f"{os.getpid()}.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps([reason, sample_id]) + "\n")

    def _merged(self) -> tuple[Counter[str], dict[str, list[str]]]:
        counts, examples = Counter(self._counts), {k: list(v) for k, v in self._examples.items()}
        spool = Path(self._spool)
        for path in sorted(spool.glob("*.jsonl")) if spool.is_dir() else []:
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    reason, sample_id = json.loads(line)
                except ValueError:  # a worker killed mid-write: its last line is incomplete
                    reason, sample_id = "unreadable skip record (worker killed mid-write)", ""
                _count(counts, examples, self.keep, str(reason), str(sample_id))
        return counts, examples

    @property
    def counts(self) -> Counter[str]:
        return self._merged()[0]

    @property
    def examples(self) -> dict[str, list[str]]:
        return self._merged()[1]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        counts, examples = self._merged()
        return {"total": sum(counts.values()), "by_reason": dict(counts), "examples": examples}


def _count(counts: Counter[str], examples: dict[str, list[str]], keep: int, reason: str, sample_id: str) -> None:
    counts[reason] += 1
    ex = examples.setdefault(reason, [])
    if len(ex) < keep:
        ex.append(sample_id)


def _remove_spool(path: str, owner: int) -> None:
    # Forked workers inherit the finaliser: only the creating process removes the directory.
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


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
            except UserError as e:
                if not isinstance(e, DataError):
                    raise  # a configuration mistake: never a skipped sample
                self._skip(row, e)
            except RENDER_ERRORS as e:
                self._skip(row, e)
        raise RuntimeError(
            f"{self.max_failures} consecutive samples failed to render; the data is broken: {self.skipped.as_dict()}"
        )

    def _skip(self, row: dict, e: BaseException) -> None:
        reason = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}" if str(e) else type(e).__name__
        self.skipped.add(reason, str(row.get("id")))
        log.warning("skipping sample %s: %s", row.get("id"), reason)

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
