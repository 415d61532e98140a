"""Every shipped suite of configs/eval loads (typed, validated) and opens with its launch command; the benchmark
recipe's formats exist (issue 29)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from data_engine.adapters import FORMATS
from eval.suite import SUITES_DIR
from georft.commands.eval import load_suite

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted(SUITES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_suite_loads_and_starts_with_its_command(path):
    suite = load_suite(str(path), [])
    suite.validate()
    assert path.read_text().startswith(f"# georft eval --model CKPT --suite {path.stem} ") or path.stem == "demo"


def test_benchmark_recipe_formats_are_registered():
    doc = yaml.safe_load((REPO / "configs" / "recipes" / "benchmarks.yaml").read_text())
    for src in doc["sources"]:
        FORMATS.get(src["format"])  # raises with "did you mean" when unknown
