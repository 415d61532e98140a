"""Every declared task (`data_engine.tasks`) is covered by every layer, and its pieces fit together.

This is the test a new task must pass: each name its declaration gives (parser, scorer, rewards, overlay) exists in
the layer that owns it, and the task's own rendered answer of an example target parses cleanly, scores, and earns
its default rewards.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from dashboard.overlay import OVERLAYS, sample_shapes
from data_engine import schema
from data_engine.errors import UserError
from data_engine.frames import Frame
from data_engine.masks import encode_mask
from data_engine.render import task_answer, task_prompt
from data_engine.tasks import TASKS, TaskDef, evaluable_tasks, get_task, rewardable_tasks, validate_declarations
from eval.baselines import POLICIES as BASELINE_POLICIES
from eval.parsers import PARSERS, parse
from eval.report.tables import HEADLINE, PRIMARY_SCORE
from eval.runner_score import SCORERS
from eval.suite import EVAL_TASKS, DatasetEntry, SuiteConfig
from rewards import default_rewards, get_reward
from rewards.adapter import call_reward
from rewards.registry import REWARDS

# One example target per declared task (original pixels, a 200 x 100 image). A new task adds its example here.
EXAMPLES = {
    "detection": {"objects": [{"label": "plane", "poly": [10, 10, 60, 10, 60, 40, 10, 40], "difficult": False},
                              {"label": "ship", "poly": [100, 50, 150, 50, 150, 90, 100, 90], "difficult": False}],
                  "classes": ["plane", "ship", "harbor"]},
    "grounding": {"expression": "the red car", "box": [20, 30, 80, 70]},
    "vqa": {"question": "Is there a ship?", "answer": "yes", "qtype": "presence"},
    "caption": {"references": ["two planes park beside a runway.", "a runway with two planes."]},
    "classification": {"label": "forest", "classes": ["beach", "forest", "river"]},
    "zoom_vqa": {"question": "What colour is the roof?", "answer": "red", "evidence": [[40, 20, 90, 70]]},
    "chat": {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
    "change_caption": {"references": ["two buildings are built .", "two new buildings appear ."], "changed": True},
    "change_detection": {"objects": [{"label": "change", "poly": [10, 10, 60, 10, 60, 40, 10, 40]}],
                         "classes": ["change"]},
    "damage": {"question": "What is the damage level of the building at {box}?", "answer": "minor-damage",
               "box": [10, 10, 60, 40], "classes": ["no-damage", "minor-damage", "major-damage", "destroyed"],
               "qtype": "damage_level"},
    "temporal_classification": {"label": "construction_site", "classes": ["construction_site", "office_building"],
                                "timestamps": ["2015-01-01T10:00:00Z", "2017-06-01T10:00:00Z"]},
    "referring_segmentation": {"expression": "the left ship", "mask": encode_mask(np.pad(np.ones((40, 60)),
                                                                                        ((30, 30), (20, 120))))},
    "semantic_segmentation": {"class": "building", "classes": ["building", "road"],
                              "mask": encode_mask(np.pad(np.ones((50, 100)), ((0, 50), (0, 100))))},
    "referring_detection": {"expression": "red ships", "boxes": [[10, 10, 60, 40], [100, 50, 150, 90]]},
    "region_caption": {"box": [20, 30, 80, 70], "references": ["a red ship", "a small red boat"]},
    "grounding_description": {"references": ["two red ships beside a white plane.", "ships and a plane."],
                              "objects": [{"phrase": "red ships", "box": [10, 10, 60, 40]},
                                          {"phrase": "red ships", "box": [100, 50, 150, 90]},
                                          {"phrase": "white plane", "box": [150, 10, 190, 40]}]},
    "multilabel_classification": {"labels": ["Transitional woodland, shrub", "Inland waters"],
                                  "classes": ["Arable land", "Inland waters", "Transitional woodland, shrub"]},
}
W, H = 200, 100


def test_the_schema_and_every_layer_list_exactly_the_declared_tasks():
    assert schema.TASKS == tuple(TASKS)
    assert schema.REQUIRED_TARGET_KEYS == {t.name: t.target_keys for t in TASKS.values()}
    assert EVAL_TASKS == evaluable_tasks()
    assert tuple(default_rewards()) == rewardable_tasks()
    assert set(HEADLINE) == set(PRIMARY_SCORE) == set(evaluable_tasks())
    assert set(EXAMPLES) == set(TASKS), "add an example target for the new task to EXAMPLES"


@pytest.mark.parametrize("name", list(TASKS))
def test_every_name_a_task_declares_exists_in_the_layer_that_owns_it(name):
    t = TASKS[name]
    assert t.overlay in OVERLAYS
    if t.parser is not None:
        assert t.parser in PARSERS
    if t.scorer is not None:
        assert t.scorer in SCORERS
    assert all(policy in BASELINE_POLICIES for policy in t.baselines)
    for reward, weight in t.default_rewards:
        rdef = REWARDS.get(reward)
        assert name in rdef.tasks, f"default reward {reward!r} of {name!r} does not score it"
        assert weight > 0
    schema.validate_sample({"id": "x", "source": "s", "task": name, "split": None,
                            "images": ["a.png"] * t.min_images, "width": W, "height": H, "target": EXAMPLES[name]})
    if t.min_images > 1:
        with pytest.raises(UserError, match=f"needs at least {t.min_images} images"):
            schema.validate_sample({"id": "x", "source": "s", "task": name, "split": None, "images": ["a.png"],
                                    "width": W, "height": H, "target": EXAMPLES[name]})


@pytest.mark.parametrize("name", [t for t in TASKS if TASKS[t].interaction != "chat"])
def test_a_rendered_answer_parses_scores_and_earns_the_default_rewards(name, monkeypatch):
    monkeypatch.setattr("eval.runner_score.java_metrics", lambda *a, **k: {})  # METEOR starts a JVM (~20 s)
    t = TASKS[name]
    target = EXAMPLES[name]
    frame = Frame.for_family("norm1000", W, H, 224, 112, 32)  # Qwen3-VL 0-1000 frame: coordinates really convert
    msgs = task_prompt(name, target, t.min_images, "poly", "text", frame)
    assert msgs[-1]["role"] == "user"
    assert [b for b in msgs[-1]["content"] if b["type"] == "image"] == [{"type": "image"}] * t.min_images
    answer = task_answer(name, target, frame, "poly", "text")
    kw = {k: target.get(k) for k in t.parse_target_keys}
    if t.box_answers:
        kw["box_type"] = "poly"
    pred = parse(name, answer, frame=frame, **kw)
    assert pred["format_ok"] and pred["n_failed"] == 0, (answer, pred)
    if t.evaluable:
        row = {"id": "x", "task": name, "target": target, "prediction": pred}
        metrics, scores = SCORERS[t.scorer]([row], DatasetEntry(name="d", path="."), SuiteConfig())
        assert math.isfinite(metrics[t.headline_metric]) and math.isfinite(scores[0][t.sample_score])
        assert isinstance(sample_shapes(name, target, pred, []), list)
    sample = {"task": name, "target": target, "frame": frame.to_dict(), "width": W, "height": H, "id": "x"}
    for reward, _ in t.default_rewards:
        out = call_reward(get_reward(reward), answer, sample, {})
        assert 0 < out["overall"] <= 1, (reward, out)


@pytest.mark.parametrize("name", [t for t in TASKS if TASKS[t].interaction == "single_turn"])
def test_think_answer_frame_parses_scores_and_earns_the_rewards_of_every_single_turn_task(name):
    """In think-then-answer mode every single-turn task (a new one too) gets the instruction in its prompt, its answer
    inside the frame parses as before, earns its default rewards and `think_format`; the bare answer earns none."""
    from data_engine.reasoning import THINK_ANSWER_INSTRUCTION, add_instruction, wrap_answer

    t = TASKS[name]
    target = EXAMPLES[name]
    frame = Frame.for_family("norm1000", W, H, 224, 112, 32)  # with the patch grid mask answers are written on
    msgs = add_instruction(task_prompt(name, target, t.min_images, "poly", "text", frame))
    assert msgs[-1]["content"][-1]["text"].endswith(THINK_ANSWER_INSTRUCTION)
    answer = task_answer(name, target, frame, "poly", "text")
    framed = wrap_answer(answer, think="The image shows it.")
    kw = {k: target.get(k) for k in t.parse_target_keys}
    if t.box_answers:
        kw["box_type"] = "poly"
    assert parse(name, framed, frame=frame, reasoning="think_answer", **kw) == parse(name, answer, frame=frame, **kw)
    assert not parse(name, answer, frame=frame, reasoning="think_answer", **kw)["format_ok"]
    sample = {"task": name, "target": target, "frame": frame.to_dict(), "width": W, "height": H, "id": "x",
              "reasoning": "think_answer"}
    for reward, _ in t.default_rewards:
        assert call_reward(get_reward(reward), framed, sample, {})["overall"] > 0, reward
        assert call_reward(get_reward(reward), answer, sample, {})["overall"] == 0, reward
    assert call_reward(get_reward("think_format"), framed, sample, {})["overall"] == 1
    assert call_reward(get_reward("think_format"), answer, sample, {})["overall"] == 0


def test_unknown_tasks_and_broken_declarations_fail_clearly():
    with pytest.raises(UserError, match="unknown task 'detectoin'.*Did you mean \"detection\""):
        get_task("detectoin")
    good = TASKS["grounding"]
    for change, msg in [({"overlay": "circles"}, "overlay"), ({"interaction": "video"}, "interaction"),
                        ({"prompt": None}, "prompt and an answer"), ({"headline_metric": None}, "headline_metric"),
                        ({"target_keys": ()}, "no target keys")]:
        with pytest.raises(ValueError, match=msg):
            validate_declarations([dataclasses.replace(good, **change)])
    with pytest.raises(ValueError, match="declared twice"):
        validate_declarations([good, good])
    assert isinstance(good, TaskDef) and not TASKS["chat"].rewardable and not TASKS["chat"].evaluable
