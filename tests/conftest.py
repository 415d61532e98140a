"""Shared test setup: single-threaded torch (set before torch is imported) and the tiny models, built once."""

from __future__ import annotations

import os

# On 2 cores, OpenMP spin-waiting makes tiny-model steps 20-30x slower; must precede any torch import.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

import pytest  # noqa: E402

ARCHS = ("qwen2_5_vl", "qwen3_vl")


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> dict[str, str]:
    """{arch: path} of the default tiny models, built once per test session (~10 s for both)."""
    from models.tiny import build_tiny

    root = tmp_path_factory.mktemp("tiny_models")
    return {arch: str(build_tiny(arch, root / arch, seed=0)) for arch in ARCHS}


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    """(recipe path, build dir) of the tiny synthetic world (seed 0), built once per test session."""
    from data_engine.build import build
    from data_engine.synth import synthesize

    root = tmp_path_factory.mktemp("world")
    recipe = synthesize(root / "raw", seed=0, size="tiny")
    build(recipe, root / "built", progress=False)
    return recipe, root / "built"
