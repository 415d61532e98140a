"""The lazily rendered dataset: order respected, failures skipped, counted and replaced."""

from __future__ import annotations

import pytest

from data_engine.errors import UserError
from data_engine.lazy import rendered_dataset


def _render(row, pos):
    if row["id"] == "bad":
        raise OSError("cannot identify image file 'x.png'")
    return {"text": f"{row['id']}@{pos}"}


def test_order_and_skip_replace():
    a = [{"id": "a0"}, {"id": "bad"}]
    b = [{"id": "b0"}]
    ds, skipped = rendered_dataset([a, b], [(1, 0), (0, 1), (0, 0)], _render)
    assert len(ds) == 3
    # Position 1 refers to the bad row: it is replaced by the next position's row (a0 at position 2).
    assert [ds[i]["text"] for i in range(3)] == ["b0@0", "a0@2", "a0@2"]
    assert skipped.total == 1
    assert skipped.as_dict()["by_reason"] == {"OSError: cannot identify image file 'x.png'": 1}
    assert skipped.examples["OSError: cannot identify image file 'x.png'"] == ["bad"]


def test_all_bad_raises_and_empty_is_user_error():
    ds, _ = rendered_dataset([[{"id": "bad"}]], [(0, 0)], _render, max_consecutive_failures=3)
    with pytest.raises(RuntimeError, match="3 consecutive samples failed"):
        ds[0]
    with pytest.raises(UserError, match="mixture is empty"):
        rendered_dataset([[]], [], _render)


def test_skips_in_dataloader_workers_reach_the_parent():
    import torch

    rows = [{"id": "bad" if i % 5 == 0 else f"r{i}"} for i in range(40)]  # 8 bad rows, each skipped once
    ds, skipped = rendered_dataset([rows], [(0, i) for i in range(40)], _render)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=lambda b: [r["text"] for r in b])
    seen = [t for batch in loader for t in batch]
    assert len(seen) == 40 and not any(t.startswith("bad") for t in seen)
    # Every bad position i was replaced by row i + 1, rendered at position i + 1.
    assert seen[0] == "r1@1" and seen[5] == "r6@6"
    assert skipped.total == 8
    assert skipped.as_dict()["by_reason"] == {"OSError: cannot identify image file 'x.png'": 8}
    assert skipped.examples["OSError: cannot identify image file 'x.png'"] == ["bad"] * 8
    ds[0]  # the parent's own skips are counted in memory, beside the workers'
    assert skipped.total == 9
