"""Configs compose with `_base_`: merge rules, errors, and what the demo pipeline runs = its stage configs plus the
overrides it declares, each fact written once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from data_engine.errors import UserError
from georft.config import load_config, read_yaml

REPO = Path(__file__).resolve().parents[2]


def _w(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_base_merges_mappings_replaces_lists_and_is_relative_to_its_file(tmp_path):
    _w(tmp_path / "stage" / "a.yaml", "x: 1\nopt: {lr: 0.1, betas: [1, 2]}\nkeep: k\n")
    top = _w(tmp_path / "pipe" / "p.yaml", "s:\n  _base_: ../stage/a.yaml\n  opt: {betas: [3]}\n  x: 2\nother: 5\n")
    assert read_yaml(top) == {"s": {"x": 2, "opt": {"lr": 0.1, "betas": [3]}, "keep": "k"}, "other": 5}


def test_base_chain_and_top_level_base(tmp_path):
    _w(tmp_path / "a.yaml", "a: 1\nb: 1\nc: 1\n")
    _w(tmp_path / "b.yaml", "_base_: a.yaml\nb: 2\n")
    top = _w(tmp_path / "c.yaml", "_base_: b.yaml\nc: 3\n")
    assert read_yaml(top) == {"a": 1, "b": 2, "c": 3}


def test_base_errors_name_the_file(tmp_path):
    _w(tmp_path / "a.yaml", "_base_: b.yaml\n")
    _w(tmp_path / "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(UserError, match=r"b\.yaml: _base_ 'a\.yaml' includes itself"):
        read_yaml(tmp_path / "a.yaml")
    with pytest.raises(UserError, match=r"m\.yaml: _base_ file not found: nope\.yaml"):
        read_yaml(_w(tmp_path / "m.yaml", "s: {_base_: nope.yaml}\n"))
    with pytest.raises(UserError, match=r"_base_ must be a file path"):
        read_yaml(_w(tmp_path / "n.yaml", "_base_: [1]\n"))


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


PIPELINES = ["demo_cpu.yaml", "qwen2_5_vl_7b.yaml", "qwen3_vl_8b.yaml"]


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_pipeline_runs_its_stage_config_plus_declared_overrides(stage, pipeline):
    """Independent of the loader's merge code: every leaf of the pipeline's stage section equals the stage config's,
    except exactly the keys the pipeline file writes under that stage."""
    from omegaconf import OmegaConf

    from georft.pipeline import PipelineConfig
    from rl.config import GRPORunConfig
    from sft.config import SFTRunConfig

    pipe_file = REPO / "configs/pipeline" / pipeline
    raw = yaml.safe_load(pipe_file.read_text())[stage]
    declared = set(_flat({k: v for k, v in raw.items() if k != "_base_"}))
    stage_file = (pipe_file.parent / raw["_base_"]).resolve()
    schema = {"sft": SFTRunConfig, "grpo": GRPORunConfig}[stage]
    alone = _flat(OmegaConf.to_container(OmegaConf.structured(load_config(schema, stage_file))))
    piped = _flat(OmegaConf.to_container(OmegaConf.structured(getattr(load_config(PipelineConfig, pipe_file), stage))))
    assert declared <= set(piped)
    assert {k: v for k, v in piped.items() if k not in declared} == {k: v for k, v in alone.items() if k not in declared}
    assert declared == {"output_dir", "model.path", "data.root"}  # the pipeline moves paths, nothing else


def test_gpu_stage_variants_differ_from_their_base_only_where_they_say():
    """The Qwen3-VL and server-mode GRPO configs are the Qwen2.5-VL colocate config plus their own keys."""
    from omegaconf import OmegaConf

    from rl.config import GRPORunConfig

    def flat(name):
        cfg = load_config(GRPORunConfig, REPO / "configs/grpo" / name)
        return _flat(OmegaConf.to_container(OmegaConf.structured(cfg)))

    base = flat("qwen2_5_vl_7b_vllm_colocate.yaml")
    for name in ("qwen3_vl_8b_vllm_colocate.yaml", "qwen2_5_vl_7b_vllm_server.yaml"):
        raw = yaml.safe_load((REPO / "configs/grpo" / name).read_text())
        declared = set(_flat({k: v for k, v in raw.items() if k != "_base_"})) - {"data._base_"}
        view = {"data.min_pixels", "data.max_pixels"} if "data" in raw and "_base_" in raw["data"] else set()
        other = flat(name)
        changed = {k for k in base if base[k] != other.get(k)}
        assert changed <= declared | view, (name, changed - declared - view)


def test_demo_view_written_once_and_shared_by_training_and_eval():
    from eval.suite import SuiteConfig
    from georft.pipeline import PipelineConfig

    cfg = load_config(PipelineConfig, REPO / "configs/pipeline/demo_cpu.yaml")
    suite = load_config(SuiteConfig, REPO / cfg.eval.suite, list(cfg.eval.overrides))
    view = ("min_pixels", "max_pixels", "box_type", "answer_mode")
    assert [getattr(suite, k) for k in view] == [getattr(cfg.sft.data, k) for k in view] \
        == [getattr(cfg.grpo.data, k) for k in view]
    # The budget's numbers appear in one YAML of the demo's files only.
    demo_files = [REPO / "configs" / f for f in ("pipeline/demo_cpu.yaml", "sft/demo_cpu.yaml", "grpo/demo_cpu.yaml",
                                                 "eval/demo.yaml", "data/demo_cpu_view.yaml")]
    holders = [f.name for f in demo_files if re.search(r"min_pixels\W+\d", f.read_text())]
    assert holders == ["demo_cpu_view.yaml"]


def test_renamed_zoom_key_names_its_new_name(tmp_path):
    from rl.config import GRPORunConfig

    f = _w(tmp_path / "g.yaml", "zoom: {max_steps: 2}\n")
    with pytest.raises(UserError, match=r"unknown key 'zoom\.max_steps'\. It was renamed to 'zoom\.max_calls'"):
        load_config(GRPORunConfig, f)
