"""The pipeline's held-out sets (docs/heldout-sets.md): the sealed test world's seed, which sets are evaluated, and
the eval command line each set gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_engine.errors import UserError
from georft.config import load_config
from georft.pipeline import TEST_SEED_OFFSET, PipelineConfig, eval_args, sealed_root

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs/pipeline/demo_cpu.yaml"


def test_demo_evaluates_the_sealed_test_world_by_default(tmp_path):
    cfg = load_config(PipelineConfig, DEMO, [f"output_dir={tmp_path}"])
    assert cfg.heldout_sets == ["test"] and cfg.data.resolved_test_seed == 1000 != cfg.data.synth_seed
    dirs = cfg.stage_dirs
    args = eval_args(cfg, dirs, "test", "rl")
    assert args[args.index("--out") + 1] == str(tmp_path / "eval" / "test" / "rl")
    # the user's overrides first, then the pipeline's: the set and the test world's root always win
    assert args[-4:] == [f"data_root={tmp_path}/data/built", "max_new_tokens=128", "heldout=test",
                         f"test_root={sealed_root(dirs)}"]
    assert sealed_root(dirs) == tmp_path / "data" / "test" / "built"
    dev = eval_args(cfg, dirs, "dev", "sft")
    assert dev[-1] == "heldout=dev" and dev[dev.index("--out") + 1] == str(tmp_path / "eval" / "dev" / "sft")


def test_default_test_seed_is_an_offset_and_must_differ(tmp_path):
    cfg = load_config(PipelineConfig, DEMO, [f"output_dir={tmp_path}", "data.test_seed=null", "data.synth_seed=7"])
    assert cfg.data.resolved_test_seed == 7 + TEST_SEED_OFFSET
    with pytest.raises(UserError, match="data.test_seed must differ from data.synth_seed"):
        load_config(PipelineConfig, DEMO, [f"output_dir={tmp_path}", "data.test_seed=0"])


def test_heldout_choices_and_real_data(tmp_path):
    both = load_config(PipelineConfig, DEMO, [f"output_dir={tmp_path}", "eval.heldout=[dev,test]"])
    assert both.heldout_sets == ["dev", "test"]
    with pytest.raises(UserError, match="eval.heldout must be one of dev, test, got 'val'"):
        load_config(PipelineConfig, DEMO, [f"output_dir={tmp_path}", "eval.heldout=[val]"])
    with pytest.raises(UserError, match="name each held-out set once"):
        load_config(PipelineConfig, DEMO, [f"output_dir={tmp_path}", "eval.heldout=[dev,dev]"])
    # a real-data recipe has no test world unless it names one: dev by default, test refused
    real = load_config(PipelineConfig, DEMO, [f"output_dir={tmp_path}", "data.recipe=r.yaml", "eval.heldout=null"])
    assert real.heldout_sets == ["dev"]
    with pytest.raises(UserError, match="data.recipe is set without data.test_recipe"):
        load_config(PipelineConfig, DEMO, [f"output_dir={tmp_path}", "data.recipe=r.yaml"])
    named = load_config(PipelineConfig, DEMO, [f"output_dir={tmp_path}", "data.recipe=r.yaml",
                                               "data.test_recipe=t.yaml"])
    assert named.heldout_sets == ["test"]


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs/pipeline").glob("*.yaml")))
def test_every_shipped_pipeline_config_still_loads(name, tmp_path):
    cfg = load_config(PipelineConfig, REPO / "configs/pipeline" / name, [f"output_dir={tmp_path}"])
    assert cfg.heldout_sets in (["test"], ["dev"])


def test_eval_processes_run_side_by_side_and_name_the_failing_log(tmp_path):
    """`eval.processes > 1` runs `georft eval` jobs as subprocesses; each writes `<out>.log`, a failure names it."""
    from georft.pipeline import _run_eval_processes

    ok = [("test", name, ["eval", "--help", "--out", str(tmp_path / name)]) for name in ("sft", "rl")]
    _run_eval_processes(ok, processes=2)
    assert all("usage: georft eval" in (tmp_path / f"{n}.log").read_text() for n in ("sft", "rl"))
    bad = ok[:1] + [("test", "rl", ["eval", "--model", str(tmp_path / "none"), "--suite", str(tmp_path / "no.yaml"),
                                    "--out", str(tmp_path / "bad")])]
    with pytest.raises(UserError, match=r"eval of the rl checkpoint on test failed \(exit 2; .*bad\.log\)"):
        _run_eval_processes(bad, processes=2)
    assert (tmp_path / "bad.log").read_text().startswith("georft eval: error:")


def test_eval_processes_must_be_positive(tmp_path):
    with pytest.raises(UserError, match="eval.processes must be >= 1"):
        load_config(PipelineConfig, REPO / "configs/pipeline/demo_cpu.yaml", ["eval.processes=0"])
