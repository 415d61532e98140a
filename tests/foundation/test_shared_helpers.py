"""One helper each for file names made from user data and for rank-0 checks; no module shadows the stdlib
(issue 20, item 6)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from data_engine.filenames import safe_filename
from data_engine.ranks import is_main_process

REPO = Path(__file__).resolve().parents[2]


def _grep(pattern: str) -> list[str]:
    out = subprocess.run(["git", "grep", "-nE", pattern, "--", "*.py", ":!tests"], cwd=REPO, capture_output=True,
                         text=True).stdout
    return out.splitlines()


def test_safe_filename():
    assert safe_filename("dota/P0001__1024__0___0#2") == "dota_P0001__1024__0___0_2"
    assert safe_filename("..") == "_." and safe_filename(".hidden") == "_hidden" and safe_filename("") == "_"
    assert safe_filename("a b/c", max_len=3) == "a_b" and safe_filename(12) == "12"
    assert safe_filename("vé") == "v_"


def test_rank(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert is_main_process()
    monkeypatch.setenv("RANK", "3")
    assert not is_main_process()


def test_no_hand_written_copies():
    assert [x for x in _grep(r"def _safe\b|isalnum\(\) or c in") if "data_engine/filenames.py" not in x] == []
    rank_reads = [x for x in _grep(r"environ\.get\(\"RANK\"") if not x.startswith(("data_engine/ranks.py",
                                                                                      "eval/runner_io.py"))]
    assert rank_reads == []  # runner_io reads RANK with WORLD_SIZE to shard, and validates both
    assert _grep(r"import \w+ as (io|os|re|json|sys|types|time)\b") == []
