"""Dependencies flow one way: no package imports a package it may not (module docstrings state the rules)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# package -> GeoRFT packages it may import (README "Layout").
ALLOWED = {
    "data_engine": set(),
    "models": {"data_engine"},
    "rollout": {"data_engine", "models"},
    "eval": {"data_engine", "rollout", "models"},
    "rewards": {"data_engine", "eval"},
    "sft": {"data_engine", "models", "eval"},
    "rl": {"data_engine", "models", "rollout", "eval", "rewards"},
    "dashboard": {"data_engine", "eval", "rollout"},
}
PACKAGES = set(ALLOWED) | {"georft"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & PACKAGES


def test_no_import_runs_against_the_layering():
    violations, checked = [], 0
    for pkg, allowed in ALLOWED.items():
        for f in (REPO / pkg).rglob("*.py"):
            checked += 1
            for target in _imports(f) - {pkg} - allowed:
                violations.append(f"{f.relative_to(REPO)} imports {target}")
    assert checked > 50
    assert violations == []
