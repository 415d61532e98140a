"""Answer framing: the plain answer (``none``) or think-then-answer (``think_answer``), for every single-turn task.

``data.reasoning`` / the eval suite's ``reasoning`` chooses it (validated at load time by `check_reasoning`). In
``think_answer`` mode (GeoVLM-R1, DeepSeek-R1's format) the user turn of every single-turn task ends with
`THINK_ANSWER_INSTRUCTION`, and the model is expected to write::

    <think>free-form reasoning</think>
    <answer>the task's usual answer text</answer>

Parsers then read the answer block only (`eval.parsers.parse` with ``reasoning=``; rewards through
`rewards.adapter`), so every task's answer format is unchanged inside the block. The mode travels with each GRPO row
(the ``reasoning`` column, written by `data_engine.render.render_grpo`) and each eval prediction row, so the rewards
and the evaluator parse a completion the way its prompt asked for.

SFT targets in this mode get an EMPTY think block (``<think></think>``, then the answer block): the datasets carry
no reasoning traces, and writing a templated one would teach a fixed sentence rather than reasoning; SFT teaches
the frame, GRPO (with the ``think_format`` reward) is where reasoning is learned (docs/think-answer.md §2).

Zoom chains (``interaction: zoom_chain``) keep their tool protocol: their multi-turn tool calls are the reasoning,
so the mode leaves them unchanged (their rows carry ``reasoning: none``). Chat rows are never reframed.
``reasoning_tasks`` (a list of task names, beside ``reasoning``) limits the frame to those tasks, e.g. to GRPO one
task with reasoning in a mixture.
"""

from __future__ import annotations

from collections.abc import Sequence

from data_engine.errors import UserError
from data_engine.options import REASONING_MODES, check_choice

__all__ = ["REASONING_MODES", "add_instruction", "check_reasoning", "row_reasoning", "wrap_answer"]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"

# GeoVLM-R1 / R1-V wording of the instruction appended to the task prompt.
THINK_ANSWER_INSTRUCTION = (
    "Output the thinking process in <think> </think> and the final answer in <answer> </answer> tags."
)


def check_reasoning(value: object, where: str = "reasoning", tasks: object = None) -> str:
    """``value`` when it is a known mode and ``tasks`` (the ``reasoning_tasks`` key) names single-turn tasks.

    Raises:
        UserError: any other value (names ``where``, the config key).
    """
    from data_engine.registry import did_you_mean
    from data_engine.tasks import TASKS

    check_choice(value, REASONING_MODES, where)
    single = [t.name for t in TASKS.values() if t.interaction == "single_turn"]
    for t in tasks or ():
        if t not in single:
            raise UserError(f"{where}_tasks: {t!r} is not a single-turn task.{did_you_mean(str(t), single)} "
                            f"Known: {', '.join(single)}")
    return str(value)


def row_reasoning(task: str, reasoning: str, tasks: Sequence[str] | None = None) -> str:
    """The framing a row of ``task`` actually gets: ``think_answer`` only for single-turn tasks, and only for the
    listed ``tasks`` when a list is given (``reasoning_tasks``; None = every single-turn task)."""
    from data_engine.tasks import get_task

    if reasoning == "think_answer" and get_task(task).interaction == "single_turn" and (tasks is None or task in tasks):
        return "think_answer"
    return "none"


def add_instruction(messages: list[dict]) -> list[dict]:
    """``messages`` with `THINK_ANSWER_INSTRUCTION` appended to the last user turn's last text block (new dicts)."""
    out = [dict(m) for m in messages]
    for m in reversed(out):
        if m.get("role") != "user":
            continue
        content = list(m["content"])
        for k in range(len(content) - 1, -1, -1):
            if content[k].get("type") == "text":
                content[k] = {**content[k], "text": f"{content[k]['text']}\n{THINK_ANSWER_INSTRUCTION}"}
                break
        else:
            content.append({"type": "text", "text": THINK_ANSWER_INSTRUCTION})
        m["content"] = content
        break
    return out


def wrap_answer(answer: str, think: str = "") -> str:
    """The think-answer form of an answer: ``<think>{think}</think>\\n<answer>{answer}</answer>``."""
    return f"{THINK_OPEN}{think}{THINK_CLOSE}\n{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"
