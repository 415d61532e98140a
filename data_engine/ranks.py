"""Which process of a distributed launch this is: the one check every rank-0-only print and write uses.

`accelerate launch` and torchrun set ``RANK`` in every process; a plain run has none and is rank 0.
"""

from __future__ import annotations

import os


def rank() -> int:
    """The global rank from ``RANK`` (0 when unset or not a number: a plain single-process run)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def is_main_process() -> bool:
    """True on rank 0, the process that prints summaries and writes markers, configs and merged outputs."""
    return rank() == 0
