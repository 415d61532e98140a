"""Think-then-answer mode: the `think_format` reward, the answer block every reward and parser reads, the config
check, the eval metrics and the rollout store columns (hand-derived values)."""

from __future__ import annotations

import pytest

from data_engine.errors import UserError
from eval.parsers import answer_block, is_well_formed, parse, reasoning_chars
from rewards import score
from rewards.adapter import make_reward_funcs

VQA = {"task": "vqa", "target": {"question": "Is there a ship?", "answer": "yes"}, "reasoning": "think_answer"}


@pytest.mark.parametrize(("text", "ok"), [
    ("<think>a ship is at the pier</think><answer>yes</answer>", 1.0),
    ("  <think>\nx\n</think>\n\n<answer>\nyes\n</answer>\n", 1.0),  # whitespace around and between is allowed
    ("<think></think><answer>yes</answer>", 1.0),  # an empty think block (the SFT frame) is well-formed
    ("<answer>yes</answer>", 0.0),  # no think block
    ("<think>x</think>", 0.0),  # no answer block
    ("<answer>yes</answer><think>x</think>", 0.0),  # wrong order
    ("so: <think>x</think><answer>yes</answer>", 0.0),  # text before
    ("<think>x</think><answer>yes</answer> done", 0.0),  # text after
    ("<think>x</think>between<answer>yes</answer>", 0.0),  # text between
    ("<think>x</think><answer>yes</answer><answer>no</answer>", 0.0),  # two answers
    ("<think>x<think>y</think></think><answer>yes</answer>", 0.0),  # nested think
    ("<think>x</think><answer>yes <answer></answer>", 0.0),  # a tag inside the answer
    ("<think>x</think><answer>yes", 0.0),  # unclosed answer
    ("<THINK>x</THINK><ANSWER>yes</ANSWER>", 0.0),  # tags are case-sensitive, as the instruction writes them
    ("", 0.0),
])
def test_think_format_hand_values(text, ok):
    out = score("vqa", text, VQA, name="think_format")
    assert out["overall"] == out["think_format"] == ok
    assert is_well_formed(text) is bool(ok)


def test_answer_block_and_reasoning_length():
    assert answer_block("<think>ab c</think><answer> yes </answer>") == "yes"
    assert answer_block("<answer>first</answer><answer>second</answer>") == "first"
    assert answer_block("<think>x</think><answer>never closed") == ""
    assert answer_block(None) == "" and reasoning_chars(12) == 0
    assert reasoning_chars("<think>  ab c \n</think><answer>yes</answer>") == 4
    assert reasoning_chars("<think>unclosed") == 0
    assert score("vqa", "<think> ab c </think><answer>yes</answer>", VQA, name="think_format")["reasoning_chars"] == 4


def test_accuracy_rewards_read_only_the_answer_block_in_think_rows():
    """Hack orderings: the right answer hidden in the reasoning, a bare answer skipping the frame, or two answer
    blocks to hedge, all score below the honest framed answer."""
    honest = "<think>there is a hull at the pier</think><answer>yes</answer>"
    assert score("vqa", honest, VQA, name="vqa_match")["overall"] == 1.0
    assert score("vqa", "<think>yes</think><answer>no</answer>", VQA, name="vqa_match")["overall"] == 0.0
    assert score("vqa", "yes", VQA, name="vqa_match")["overall"] == 0.0  # no frame: no answer block to read
    assert score("vqa", "yes", {**VQA, "reasoning": "none"}, name="vqa_match")["overall"] == 1.0  # plain rows: as before
    hedge = "<think>x</think><answer>no</answer><answer>yes</answer>"
    assert score("vqa", hedge, VQA, name="vqa_match")["overall"] == 0.0  # the first block counts
    assert score("vqa", hedge, VQA, name="think_format")["overall"] == 0.0
    # The format reward judges the answer inside the frame, the same way.
    assert score("vqa", honest, VQA, name="format")["overall"] == 1.0
    assert score("vqa", "yes", VQA, name="format")["overall"] == 0.0


def test_trl_adapter_weights_think_format_like_any_reward():
    funcs, weights = make_reward_funcs({"vqa": [{"name": "vqa_match", "weight": 1.0},
                                                {"name": "think_format", "weight": 1.0}]})
    assert weights == [1.0, 1.0]
    completions = [[{"role": "assistant", "content": "<think>hm</think><answer>yes</answer>"}],
                   [{"role": "assistant", "content": "yes"}]]
    cols = {"task": ["vqa", "vqa"], "target": ['{"question": "q", "answer": "yes"}'] * 2,
            "reasoning": ["think_answer", "think_answer"]}
    logged = {}
    acc = funcs[0](completions=completions, log_extra=lambda k, v: logged.setdefault(k, v), **cols)
    fmt = funcs[1](completions=completions, log_extra=lambda k, v: logged.setdefault(k, v), **cols)
    assert acc == [1.0, 0.0] and fmt == [1.0, 0.0]
    assert logged["vqa/think_format/reasoning_chars"] == [2.0, 0.0]


def test_parse_reads_the_answer_block_for_any_parser_and_zoom_chains_keep_their_protocol():
    framed = "<think>look</think><answer>There are none.</answer>"
    det = parse("detection", framed, classes=["ship"], box_type="hbb", reasoning="think_answer")
    assert det["format_ok"] and det["empty"]
    # the answer block is read only when the row asks for the frame; an unclosed one is not an answer then
    assert not parse("detection", "<think>x</think><answer>There are none.", classes=["ship"], box_type="hbb",
                     reasoning="think_answer")["format_ok"]
    # zoom chains are multi-turn tool protocols: the think frame is not applied to them
    assert parse("zoom_vqa", "red", reasoning="think_answer")["answer"] == "red"


def test_reasoning_mode_is_checked_at_config_load(tmp_path):
    from pathlib import Path

    from eval.suite import SuiteConfig
    from georft.config import load_config
    from rl.config import GRPORunConfig
    from sft.config import SFTRunConfig

    repo = Path(__file__).resolve().parents[2]
    with pytest.raises(UserError, match="data.reasoning must be one of none, think_answer, got 'think'"):
        load_config(SFTRunConfig, repo / "configs/sft/demo_cpu.yaml", ["data.reasoning=think"])
    with pytest.raises(UserError, match="data.reasoning must be one of"):
        load_config(GRPORunConfig, repo / "configs/grpo/demo_cpu.yaml", ["data.reasoning=cot"])
    with pytest.raises(UserError, match="reasoning must be one of"):
        load_config(SuiteConfig, repo / "configs/eval/demo.yaml", ["reasoning=yes"])
    assert load_config(SFTRunConfig, repo / "configs/sft/demo_cpu.yaml",
                       ["data.reasoning=think_answer"]).data.reasoning == "think_answer"


def test_eval_metrics_report_format_share_and_reasoning_length():
    from eval.runner_score import score_rows
    from eval.suite import DatasetEntry, SuiteConfig

    rows = []
    for i, text in enumerate(["<think>abcd</think><answer>yes</answer>", "<think>ab</think><answer>no</answer>",
                              "yes", "<think>abcdef</think><answer>yes"]):
        pred = parse("vqa", text, reasoning="think_answer")
        rows.append({"id": str(i), "task": "vqa", "target": {"question": "q", "answer": "yes"}, "prediction": pred,
                     "completion": text, "reasoning": "think_answer"})
    m = score_rows(rows, DatasetEntry(name="d", path="."), SuiteConfig())
    assert m["accuracy"] == 0.25  # only the first: the last never closes its answer block
    assert m["think_format_rate"] == 0.5
    assert m["reasoning_chars_mean"] == (4 + 2 + 0 + 6) / 4  # the last one's think block is closed
    plain = score_rows([{**r, "reasoning": "none"} for r in rows], DatasetEntry(name="d", path="."), SuiteConfig())
    assert "think_format_rate" not in plain


def test_store_summarises_think_rows():
    from rl.trainer import think_columns
    from rollout.store import _summarise, make_table

    rows = []
    for i, (text, mode) in enumerate([("<think>abc</think><answer>yes</answer>", "think_answer"),
                                      ("yes", "think_answer"), ("yes", "none")]):
        rows.append({"step": 0, "group": "0:0", "task": "vqa" if mode == "think_answer" else "caption",
                     "generation": i, "completion": text, **think_columns(text, mode)})
    table = make_table(rows).to_pylist()
    assert [r["think_ok"] for r in table] == [True, False, None]
    assert [r["reasoning_chars"] for r in table] == [3, 0, None]
    s = _summarise(rows)["tasks"]
    assert s["vqa"]["think_ok"] == 0.5 and s["vqa"]["reasoning_chars"]["mean"] == 1.5
    assert "think_ok" not in s["caption"] and "reasoning_chars" not in s["caption"]


def test_reasoning_tasks_limits_the_frame(tiny_world):
    from pathlib import Path

    from data_engine.build import load_built
    from data_engine.reasoning import row_reasoning
    from data_engine.render import render_grpo, render_sft
    from georft.config import load_config
    from sft.config import SFTRunConfig

    assert row_reasoning("vqa", "think_answer", ["vqa"]) == "think_answer"
    assert row_reasoning("caption", "think_answer", ["vqa"]) == "none"
    assert row_reasoning("zoom_vqa", "think_answer") == "none" and row_reasoning("vqa", "none", ["vqa"]) == "none"
    repo = Path(__file__).resolve().parents[2]
    with pytest.raises(UserError, match="data.reasoning_tasks: 'zoom_vqa' is not a single-turn task"):
        load_config(SFTRunConfig, repo / "configs/sft/demo_cpu.yaml",
                    ["data.reasoning=think_answer", "data.reasoning_tasks=[zoom_vqa]"])
    rows = {r["task"]: r for r in load_built(tiny_world[1]) if r["task"] in ("vqa", "caption")}
    kw = {"min_pixels": 3136, "max_pixels": 12544, "reasoning": "think_answer", "reasoning_tasks": ["vqa"]}
    assert render_grpo(rows["vqa"], "qwen2_5_vl", **kw)["reasoning"] == "think_answer"
    assert render_grpo(rows["caption"], "qwen2_5_vl", **kw)["reasoning"] == "none"
    assert render_sft(rows["vqa"], "qwen2_5_vl", **kw)["messages"][-1]["content"][0]["text"].startswith("<think>")
    assert not render_sft(rows["caption"], "qwen2_5_vl", **kw)["messages"][-1]["content"][0]["text"].startswith("<")
