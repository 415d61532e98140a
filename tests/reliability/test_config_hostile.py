"""Hostile config files and overrides print one line and exit 2 (issue 27, items 12-17 and the `_base_` / negative
index extras): non-UTF-8 bytes, alias bombs, integers past Python's digit limit, NaN/inf numbers, multi-line PyYAML
errors, foreign files named by `_base_`; and `trainer.resume_from_checkpoint=true|false|path` is accepted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from data_engine.errors import UserError
from georft.cli import main as cli
from georft.config import check_trl_sections, load_config, read_yaml
from models.loading import resume_checkpoint
from rl.config import GRPORunConfig
from sft.config import SFTRunConfig

REPO = Path(__file__).resolve().parents[2]
PIPELINE = str(REPO / "configs/pipeline/demo_cpu.yaml")

# "Billion laughs": 9 levels of 9 aliases each, 9^9 = 387 M strings once expanded, from ~700 bytes.
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))


def _one_line(capsys, args: list[str], *needles: str) -> str:
    capsys.readouterr()
    assert cli(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def _write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def test_a_non_utf8_byte_names_the_file_and_line_directly_and_through_base(capsys, tmp_path):
    bad = _write(tmp_path / "bad.yaml", b"# plan\nhardware:\n  gpus: 8 # caf\xe9\n")
    _one_line(capsys, ["plan", "--config", str(bad)], f"{bad}, line 3: not UTF-8 text (byte 0xe9")
    top = _write(tmp_path / "top.yaml", "# plan\n_base_: bad.yaml\n")
    _one_line(capsys, ["plan", "--config", str(top)], f"{bad}, line 3: not UTF-8 text")


@pytest.mark.parametrize("how", ["direct", "base", "nested"])
def test_an_alias_bomb_is_refused_quickly(capsys, tmp_path, how):
    bomb = _write(tmp_path / "bomb.yaml", "# plan\n" + BOMB)
    target = bomb
    if how == "base":
        target = _write(tmp_path / "top.yaml", "# plan\n_base_: bomb.yaml\n")
    elif how == "nested":
        target = _write(tmp_path / "top.yaml", "# plan\nsft: {_base_: bomb.yaml}\n")
    start = time.monotonic()
    _one_line(capsys, ["plan", "--config", str(target)], f"{bomb}: expands to more than", "alias")
    assert time.monotonic() - start < 5


def test_an_alias_bomb_in_an_override_and_a_recursive_alias_are_refused(capsys, tmp_path):
    with pytest.raises(UserError, match="refers to itself"):
        read_yaml(_write(tmp_path / "loop.yaml", "a: &x [*x]\n"))
    # An override value is YAML too; a bomb there must not expand either (it becomes a plain string, refused).
    start = time.monotonic()
    _one_line(capsys, ["plan", "--config", PIPELINE, "sft.trainer={" + BOMB.replace("\n", ", ") + "}"], "error")
    assert time.monotonic() - start < 5


def test_ordinary_aliases_still_work(tmp_path):
    assert read_yaml(_write(tmp_path / "ok.yaml", "a: &n {x: 1}\nb: *n\n")) == {"a": {"x": 1}, "b": {"x": 1}}


def test_an_integer_past_the_digit_limit_is_one_line_in_an_override_and_in_a_file(capsys, tmp_path):
    nines = "9" * 5000
    _one_line(capsys, ["plan", "--config", PIPELINE, f"sft.trainer.max_steps={nines}"],
              "override sft.trainer.max_steps: an integer of 5000 characters")
    big = _write(tmp_path / "big.yaml", f"# plan\nhardware:\n  gpus: {nines}\n")
    err = _one_line(capsys, ["plan", "--config", str(big)], f"{big}, line 3: an integer of 5000 characters")
    assert nines not in err


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e999"])
def test_nan_and_inf_are_refused_where_a_number_is_meant(capsys, value):
    _one_line(capsys, ["plan", "--config", PIPELINE, f"hardware.gpu_memory_gib={value}"],
              "hardware.gpu_memory_gib must be a finite number")


@pytest.mark.parametrize(("schema", "override"), [
    (SFTRunConfig, "data.temperature=.nan"),
    (SFTRunConfig, "data.random_resize.min_scale=.nan"),
    (GRPORunConfig, "trainer.beta=.nan"),
])
def test_every_numeric_field_rejects_non_finite_values(schema, override):
    stage = "sft" if schema is SFTRunConfig else "grpo"
    with pytest.raises(UserError, match=f"{override.split('=')[0].replace('.', '[.]')} must be a finite number"):
        load_config(schema, REPO / f"configs/{stage}/demo_cpu.yaml", [override])


@pytest.mark.parametrize("weight", ["nan", ".inf", "inf", "-inf"])
def test_a_mixture_weight_that_reads_as_nan_or_inf_is_refused(weight):
    # `weight` is a string field ("*2", "%50", "1.5"): float() reads "nan" and "inf", and NaN passes `w <= 0`.
    with pytest.raises(UserError, match=r"data.sources\[0\].weight: mixture weight .* must be a finite positive"):
        load_config(GRPORunConfig, REPO / "configs/grpo/demo_cpu.yaml", [f"data.sources.0.weight={weight}"])


def test_invalid_yaml_is_one_line_with_file_line_and_column(capsys, tmp_path):
    bad = _write(tmp_path / "bad.yaml", "# plan\nhardware: {gpus: 8\n  nodes: 1\n")
    _one_line(capsys, ["plan", "--config", str(bad)], f"{bad}, line 3, column 8: invalid YAML:",
              "flow mapping at line 2")


def test_base_naming_a_foreign_file_never_echoes_its_content(capsys, tmp_path):
    secret = _write(tmp_path / "shadow", "root:SECRET-HASH:19000:0:99999:7:::\n")
    for ref in (str(secret), "shadow"):
        top = _write(tmp_path / "top.yaml", f"# plan\n_base_: {ref}\n")
        err = _one_line(capsys, ["plan", "--config", str(top)], "_base_ must name a .yaml or .yml file")
        assert "SECRET" not in err


def test_a_negative_list_index_in_an_override_is_named_as_such(capsys):
    err = _one_line(capsys, ["plan", "--config", PIPELINE, "sft.data.sources.-1.name=x"],
                    "'sft.data.sources.-1.name': list index -1 is negative")
    assert "[9]" not in err


@pytest.mark.parametrize("schema", [SFTRunConfig, GRPORunConfig])
def test_resume_from_checkpoint_true_false_or_a_path_is_accepted(tmp_path, schema):
    from models.loading import trainer_defaults

    stage = "sft" if schema is SFTRunConfig else "grpo"
    path = REPO / f"configs/{stage}/demo_cpu.yaml"
    ckpt = tmp_path / "checkpoint-2"
    for value, expected in (("true", True), ("false", False), (str(ckpt), str(ckpt))):
        cfg = load_config(schema, path, [f"output_dir={tmp_path}", f"trainer.resume_from_checkpoint={value}"])
        check_trl_sections(cfg, str(path))  # TRL annotates it `str | None`: `true` used to fail here
        assert cfg.trainer["resume_from_checkpoint"] == expected
    # From YAML too, and `true` means the newest complete checkpoint of the run.
    yaml_cfg = _write(tmp_path / f"{stage}.yaml", f"_base_: {path}\ntrainer:\n  resume_from_checkpoint: true\n")
    cfg = load_config(schema, yaml_cfg, [f"output_dir={tmp_path}"])
    check_trl_sections(cfg, str(yaml_cfg))
    kwargs = trainer_defaults(cfg.trainer, cfg.output_dir)
    with pytest.raises(UserError, match="resume_from_checkpoint=true but .* has no complete checkpoint"):
        resume_checkpoint(kwargs["resume_from_checkpoint"], kwargs["output_dir"])
    assert resume_checkpoint(False, str(tmp_path)) is None


def test_resume_from_checkpoint_of_another_type_is_still_refused():
    with pytest.raises(UserError, match="resume_from_checkpoint: expected"):
        cfg = load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml", ["trainer.resume_from_checkpoint=3"])
        check_trl_sections(cfg, "x")
