"""Config mistakes fail at load time with one line, and never become skipped samples (issue 19, items 3 and 11)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from data_engine.errors import DataError, UserError
from data_engine.lazy import rendered_dataset
from georft.config import check_passthrough, load_config, schema_for
from rl.config import GRPORunConfig
from sft.config import SFTRunConfig

REPO = Path(__file__).resolve().parents[2]
SRC = ["data.sources=[{path: /nowhere}]", "model.path=/nowhere"]


@pytest.mark.parametrize("schema", [SFTRunConfig, GRPORunConfig])
@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("data.box_type=rbox", "data.box_type"),
        ("data.answer_mode=xml", "data.answer_mode"),
        ("data.random_resize.min_scale=0", "data.random_resize.min_scale"),
        ("data.random_resize.prob=1.5", "data.random_resize.prob"),
        ("data.temperature=0", "data.temperature"),
        ("data.min_pixels=0", "min_pixels"),
        ("data.sources.0.weight=lots", "data.sources[0].weight"),
        ("model.dtype=fp8", "model.dtype"),
    ],
)
def test_every_data_and_model_field_is_checked_at_load_time(schema, override, field):
    with pytest.raises(UserError, match=re.escape(field)):
        load_config(schema, None, [*SRC, override])


def test_a_choice_error_names_the_allowed_values_and_the_closest():
    with pytest.raises(UserError) as e:
        load_config(GRPORunConfig, None, [*SRC, "data.box_type=obbb"])
    assert str(e.value) == 'data.box_type must be one of hbb, obb, poly, got \'obbb\'. Did you mean "obb"?'


def _broken_render(error: Exception):
    def render(row, pos):
        raise error

    return render


def test_the_renderer_counts_data_faults_but_lets_config_errors_stop_the_run():
    rows = [[{"id": f"s/{i}"} for i in range(3)]]
    order = [(0, i) for i in range(3)]
    # A bad record (DataError) and a broken image (OSError) are skipped and counted, row after row...
    for error in (DataError("object label 'x' is not in the class list"), OSError("truncated")):
        ds, skipped = rendered_dataset(rows, order, _broken_render(error), max_consecutive_failures=3)
        with pytest.raises(RuntimeError, match="3 consecutive samples failed"):
            ds[0]
        assert skipped.total == 3
    # ...but a configuration mistake (a UserError that is not a DataError) stops at the first row, uncounted.
    ds, skipped = rendered_dataset(rows, order, _broken_render(UserError("box_type must be one of ...")))
    with pytest.raises(UserError, match="box_type"):
        ds[0]
    assert skipped.total == 0


def test_render_raises_config_errors_as_user_errors_and_bad_records_as_data_errors(tiny_world):
    from datasets import load_from_disk

    from data_engine.render import render_grpo

    ds = load_from_disk(str(tiny_world[1]))
    det = next(r for r in ds if r["task"] == "detection")
    with pytest.raises(UserError) as e:
        render_grpo(det, "qwen2_5_vl", min_pixels=3136, max_pixels=12544, box_type="rbox")
    assert not isinstance(e.value, DataError)
    import numpy as np

    with pytest.raises(UserError) as e:
        render_grpo(det, "qwen2_5_vl", min_pixels=3136, max_pixels=12544, rng=np.random.default_rng(0),
                    random_resize={"prob": 1.0, "min_scale": 0.0, "max_scale": 1.0})
    assert not isinstance(e.value, DataError)
    bad = {**det, "target": "{not json"}
    with pytest.raises(DataError):
        render_grpo(bad, "qwen2_5_vl", min_pixels=3136, max_pixels=12544)


def test_trainer_values_are_type_and_range_checked_against_trl():
    from trl import GRPOConfig, SFTConfig

    for target in (SFTConfig, GRPOConfig):
        for section, message in [
            ({"max_steps": "abc"}, "trainer.max_steps: expected int, got 'abc' (str)"),
            ({"learning_rate": "fast"}, "trainer.learning_rate: expected float, got 'fast' (str)"),
            ({"max_steps": -5}, "trainer.max_steps must be > 0 (or -1: train by num_train_epochs), got -5"),
            ({"bf16": "yes"}, "trainer.bf16: expected bool"),
        ]:
            with pytest.raises(UserError) as e:
                check_passthrough(section, target, "trainer")
            assert str(e.value).startswith(message)
        # What the shipped configs use still passes: ints for floats, None for optionals, strategy strings.
        check_passthrough({"max_steps": 10, "learning_rate": 1, "save_strategy": "no", "lr_scheduler_type": "cosine",
                           "report_to": "none", "gradient_checkpointing_kwargs": None, "max_grad_norm": 1.0},
                          target, "trainer")


def test_grpo_batch_check_does_not_crash_on_a_string():
    with pytest.raises(UserError, match="trainer.num_generations: expected an integer"):
        load_config(GRPORunConfig, None, [*SRC, "trainer.num_generations=many"])


def test_config_show_outside_the_configs_folder_is_one_line(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("# georft sft --config x.yaml\noutput_dir: a\n")
    with pytest.raises(UserError, match="is not under the configs folder"):
        schema_for(f, REPO / "configs")


def test_allowed_values_are_written_once():
    """The box types and answer modes live in data_engine/options.py only; every other module imports them."""
    out = subprocess.run(["git", "grep", "-nE", r"""(in|=) \(["'](hbb|poly|obb|text)["'], ["'](hbb|poly|obb|json)["']""",
                          "--", "*.py", ":!tests"], cwd=REPO, capture_output=True, text=True).stdout
    assert [line for line in out.splitlines() if not line.startswith("data_engine/options.py")] == []


def test_zoom_min_side_is_gone_from_the_grpo_config():
    with pytest.raises(UserError, match="unknown key 'zoom.min_side'"):
        load_config(GRPORunConfig, None, [*SRC, "zoom.min_side=28"])
