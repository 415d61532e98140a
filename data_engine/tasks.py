"""Every task GeoRFT knows, declared once; every layer reads this table.

A `TaskDef` says what a task's rows look like (target keys, class list), how a row is rendered (its prompt and
answer functions, which live in `data_engine.task_render`, or a multi-turn interaction), and which functions the
other layers use for it — by NAME, because those functions live in packages above the data engine, which it never
imports:

| field | read by | resolved in |
|---|---|---|
| ``target_keys``, ``class_labels`` | `data_engine.schema.validate_sample`, `data_engine.build` (fills a missing class list) | here |
| ``prompt``, ``answer``, ``interaction`` | `data_engine.render` (SFT, GRPO and eval prompts), `eval.runner` | `data_engine.task_render` |
| ``parser``, ``parse_target_keys``, ``box_answers`` | `eval.parsers.parse`, `eval.runner.parse_kwargs`, `rewards.format` | `eval.parsers.PARSERS` |
| ``scorer``, ``headline_metric``, ``sample_score`` | `eval.runner_score.score_rows`, `eval.report.tables` | `eval.runner_score.SCORERS` |
| ``default_rewards`` | `rewards.config.default_rewards` | `rewards.registry.REWARDS` |
| ``baselines`` | `eval.runner_baselines` (trivial policies beside every eval) | `eval.baselines.POLICIES` |
| ``overlay`` | `dashboard.overlay.sample_shapes`, `eval.report.figures` | `dashboard.overlay.OVERLAYS` |
| ``rewardable``, ``evaluable`` | `rl.data` (GRPO mixture), `rewards.registry` (``format``), `eval.suite` | here |

`tests/foundation/test_tasks.py` checks that every name a declaration gives exists in the layer that owns it, so
a task cannot be half-added. The README's "How to add a task" walks through the files a new task touches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from data_engine import task_render as R
from data_engine.errors import UserError
from data_engine.registry import did_you_mean

PromptFn = Callable[[dict, int, str, str], list[dict]]
"""``prompt(target, n_images, box_type, mode) -> messages`` (system message when any, then the user turn)."""
AnswerFn = Callable[..., str]
"""``answer(target, frame, box_type, mode, rng=None) -> str``: the assistant text, coordinates through ``frame``."""

INTERACTIONS = ("single_turn", "zoom_chain", "chat")
OVERLAY_KINDS = ("none", "objects", "box", "boxes", "zoom", "mask")


@dataclass(frozen=True)
class TaskDef:
    """One task.

    Attributes:
        name: the schema's ``task`` value.
        target_keys: keys the ``target`` JSON must have (extra keys are kept).
        description: one line for docs and error messages.
        interaction: "single_turn" (``prompt`` then ``answer``), "zoom_chain" (multi-turn zoom-in tool chain,
            `data_engine.zoom`; ``prompt`` is its opening, ``answer`` its final answer) or "chat" (the target's own
            turns; no prompt/answer, never rewarded or evaluated).
        prompt: the prompt function (`PromptFn`), None for chat.
        answer: the answer function (`AnswerFn`), None for chat.
        class_labels: for tasks whose target has a ``classes`` list: the labels one target names; the build fills
            a missing ``classes`` with the sorted labels of the whole source. None: no class list.
        parser: name in `eval.parsers.PARSERS` of the output parser (None: nothing to parse).
        parse_target_keys: target keys passed to the parser as keyword arguments (``classes``, ``choices``).
        box_answers: answers carry boxes of the configured ``box_type`` (the parser gets ``box_type`` too).
        scorer: name in `eval.runner_score.SCORERS` of the dataset metric function (None: not evaluable).
        headline_metric: the metric a comparison report leads with (a key ``scorer`` returns).
        sample_score: the per-sample score that ranks won / lost samples in a report.
        default_rewards: ``((reward name, weight), ...)`` used when a GRPO config names no rewards (names in
            `rewards.registry.REWARDS`; empty: the task is not rewarded in GRPO).
        min_images: frames a row must have (2 for bi-temporal tasks; docs/multi-image.md §1).
        coregistered: the target has coordinates (in the first frame's pixels), so every frame must have the first
            one's size; adapters skip a record whose frames differ ("frames differ in size").
        region_box: the prompt names a region (the target's ``box``, original pixels): the prompt function takes
            ``frame=`` (the first image's) and writes the box in the model's frame.
        overlay: dashboard / report figure kind (`OVERLAY_KINDS`): "objects" (class-aware polygons, matched at
            IoU 0.5), "box" (one grounding box), "boxes" (several class-agnostic boxes), "zoom" (evidence boxes and
            zoom crops), "mask" (translucent ground-truth and predicted masks), "none" (text only).
        baselines: names in `eval.baselines.POLICIES` of the trivial policies (fitted on the training split,
            never looking at the image) that every eval scores beside the checkpoint; empty: none.
    """

    name: str
    target_keys: tuple[str, ...]
    description: str
    interaction: str = "single_turn"
    prompt: PromptFn | None = None
    answer: AnswerFn | None = None
    class_labels: Callable[[dict], list[str]] | None = None
    parser: str | None = None
    parse_target_keys: tuple[str, ...] = ()
    box_answers: bool = False
    scorer: str | None = None
    headline_metric: str | None = None
    sample_score: str | None = None
    default_rewards: tuple[tuple[str, float], ...] = ()
    overlay: str = "none"
    min_images: int = 1
    coregistered: bool = False
    region_box: bool = False
    baselines: tuple[str, ...] = ()

    @property
    def has_classes(self) -> bool:
        """The target carries a ``classes`` list."""
        return self.class_labels is not None

    @property
    def rewardable(self) -> bool:
        """GRPO can score it (it has a parser and default rewards)."""
        return self.parser is not None and bool(self.default_rewards)

    @property
    def evaluable(self) -> bool:
        """`georft eval` can score it (it has a parser and a scorer)."""
        return self.parser is not None and self.scorer is not None


def _object_labels(target: dict) -> list[str]:
    return [o["label"] for o in target["objects"]]


def _label(target: dict) -> list[str]:
    return [target["label"]]


def _labels(target: dict) -> list[str]:
    return list(target["labels"])


def _answer(target: dict) -> list[str]:
    return [target["answer"]]


def _class(target: dict) -> list[str]:
    return [target["class"]]


# Order matters where tasks are listed (error messages, eval generation order): keep new tasks at the end.
_DECLARED = (
    TaskDef(
        "detection", ("objects", "classes"), "oriented / horizontal object detection of a class list",
        prompt=R.detection_prompt, answer=R.detection_answer, class_labels=_object_labels,
        parser="detection", parse_target_keys=("classes",), box_answers=True,
        scorer="detection", headline_metric="mAP", sample_score="f1",
        default_rewards=(("rotated_iou_f1", 1.0), ("format", 0.1)), overlay="objects",
        baselines=("no_objects",),
    ),
    TaskDef(
        "grounding", ("expression", "box"), "one box for a referring expression",
        prompt=R.grounding_prompt, answer=R.grounding_answer,
        parser="grounding", scorer="grounding", headline_metric="acc@0.5", sample_score="iou",
        default_rewards=(("grounding_iou", 1.0), ("format", 0.1)), overlay="box",
        baselines=("constant_box",),
    ),
    TaskDef(
        "vqa", ("question", "answer"), "a short answer to a question (multiple choice with `choices`)",
        prompt=R.vqa_prompt, answer=R.vqa_answer,
        parser="vqa", parse_target_keys=("choices",), scorer="vqa", headline_metric="accuracy",
        sample_score="correct", default_rewards=(("vqa_match", 1.0), ("format", 0.1)),
        baselines=("majority_answer", "random_answer"),
    ),
    TaskDef(
        "caption", ("references",), "one sentence describing the image",
        prompt=R.caption_prompt, answer=R.caption_answer,
        parser="caption", scorer="caption", headline_metric="cider_d", sample_score="cider_d",
        default_rewards=(("cider_d", 1.0), ("format", 0.1)), baselines=("common_caption",),
    ),
    TaskDef(
        "classification", ("label", "classes"), "the scene class, one of a class list",
        prompt=R.classification_prompt, answer=R.classification_answer, class_labels=_label,
        parser="classification", parse_target_keys=("classes",), scorer="classification",
        headline_metric="accuracy", sample_score="correct",
        default_rewards=(("classification_match", 1.0), ("format", 0.1)),
        baselines=("majority_class", "random_class"),
    ),
    TaskDef(
        "zoom_vqa", ("question", "answer", "evidence"), "ultra-high-resolution VQA through a zoom-in tool chain",
        interaction="zoom_chain", prompt=R.zoom_vqa_prompt, answer=R.vqa_answer,
        parser="zoom_vqa", parse_target_keys=("choices",), scorer="zoom_vqa", headline_metric="accuracy_zoom",
        sample_score="correct", default_rewards=(("zoom_chain", 1.0), ("format", 0.1)), overlay="zoom",
        baselines=("majority_answer", "random_answer"),
    ),
    TaskDef("chat", ("messages",), "instruction conversations (SFT only)", interaction="chat"),
    TaskDef(
        "change_caption", ("references", "changed"), "one sentence describing what changed between two images",
        prompt=R.change_caption_prompt, answer=R.caption_answer,
        parser="caption", scorer="change_caption", headline_metric="cider_d", sample_score="cider_d",
        default_rewards=(("change_cider_d", 1.0), ("format", 0.1)), min_images=2, baselines=("common_caption",),
    ),
    TaskDef(
        "change_detection", ("objects", "classes"), "the regions that changed between two co-registered images",
        prompt=R.change_detection_prompt, answer=R.detection_answer, class_labels=_object_labels,
        parser="detection", parse_target_keys=("classes",), box_answers=True,
        scorer="change_detection", headline_metric="pixel_f1", sample_score="f1",
        default_rewards=(("rotated_iou_f1", 1.0), ("format", 0.1)), overlay="objects", min_images=2,
        coregistered=True, baselines=("no_objects",),
    ),
    TaskDef(
        "damage", ("question", "answer", "classes"),
        "a question about a pre/post-disaster pair: disaster type, or the damage level of one boxed building",
        prompt=R.damage_prompt, answer=R.damage_answer, class_labels=_answer,
        parser="classification", parse_target_keys=("classes",), scorer="damage", headline_metric="accuracy",
        sample_score="correct", default_rewards=(("damage_ordinal", 1.0), ("format", 0.1)), min_images=2,
        coregistered=True, region_box=True, baselines=("majority_answer", "random_answer"),
    ),
    TaskDef(
        "temporal_classification", ("label", "classes", "timestamps"),
        "the class of a site seen in 2-4 frames over time (oldest first)",
        prompt=R.temporal_classification_prompt, answer=R.classification_answer, class_labels=_label,
        parser="classification", parse_target_keys=("classes",), scorer="classification",
        headline_metric="accuracy", sample_score="correct",
        default_rewards=(("classification_match", 1.0), ("format", 0.1)), min_images=2,
        baselines=("majority_class", "random_class"),
    ),
    TaskDef(
        "referring_segmentation", ("expression", "mask"), "the mask of a referring expression (a grid answer)",
        prompt=R.referring_segmentation_prompt, answer=R.referring_segmentation_answer,
        parser="segmentation", scorer="referring_segmentation", headline_metric="mIoU", sample_score="iou",
        default_rewards=(("mask_iou", 1.0), ("format", 0.1)), overlay="mask", baselines=("whole_image_mask",),
    ),
    TaskDef(
        "semantic_segmentation", ("class", "mask", "classes"),
        "the mask of one land-cover class (a grid answer; `There is none.` when absent)",
        prompt=R.semantic_segmentation_prompt, answer=R.referring_segmentation_answer, class_labels=_class,
        parser="segmentation", scorer="semantic_segmentation", headline_metric="mIoU", sample_score="iou",
        default_rewards=(("mask_iou", 1.0), ("format", 0.1)), overlay="mask", baselines=("majority_class_mask",),
    ),
    TaskDef(
        "referring_detection", ("expression", "boxes"), "zero or more boxes for a referring expression",
        prompt=R.referring_detection_prompt, answer=R.referring_detection_answer,
        parser="referring_detection", scorer="referring_detection", headline_metric="precision@0.5",
        sample_score="f1@0.5", default_rewards=(("referring_iou_f1", 1.0), ("format", 0.1)), overlay="boxes",
        baselines=("no_objects",),
    ),
    TaskDef(
        "multilabel_classification", ("labels", "classes"), "every class of a class list present in the image",
        prompt=R.multilabel_classification_prompt, answer=R.multilabel_classification_answer, class_labels=_labels,
        parser="multilabel_classification", parse_target_keys=("classes",), scorer="multilabel_classification",
        headline_metric="sample_f1", sample_score="f1",
        default_rewards=(("multilabel_f1", 1.0), ("format", 0.1)), baselines=("frequent_labels",),
    ),
    TaskDef(
        "region_caption", ("box", "references"), "a short phrase for the object in a given box",
        prompt=R.region_caption_prompt, answer=R.caption_answer, region_box=True,
        parser="caption", scorer="caption", headline_metric="cider_d", sample_score="cider_d",
        default_rewards=(("cider_d", 1.0), ("format", 0.1)), overlay="box", baselines=("common_caption",),
    ),
    TaskDef(
        "grounding_description", ("references", "objects"), "a description with a box after each object phrase",
        prompt=R.grounding_description_prompt, answer=R.grounding_description_answer,
        parser="grounding_description", scorer="grounding_description", headline_metric="cider_d",
        sample_score="box_f1@0.5", default_rewards=(("grounding_description", 1.0), ("format", 0.1)),
        overlay="boxes", baselines=("common_caption",),  # text only: its box part is 0
    ),
)

TASKS: dict[str, TaskDef] = {t.name: t for t in _DECLARED}


def task_names() -> tuple[str, ...]:
    """Every declared task, in declaration order."""
    return tuple(TASKS)


def rewardable_tasks() -> tuple[str, ...]:
    """Tasks GRPO can reward, in declaration order."""
    return tuple(t.name for t in TASKS.values() if t.rewardable)


def evaluable_tasks() -> tuple[str, ...]:
    """Tasks `georft eval` can score, in declaration order."""
    return tuple(t.name for t in TASKS.values() if t.evaluable)


def get_task(name: str) -> TaskDef:
    """The declaration of task ``name``.

    Raises:
        UserError: unknown task (with "did you mean" and the known tasks).
    """
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise UserError(f"unknown task {name!r}.{did_you_mean(str(name), TASKS)} Known: {', '.join(TASKS)}") from None


def validate_declarations(tasks: Iterable[TaskDef]) -> None:
    """Raise `ValueError` when a declaration is inconsistent (run at import, so a bad entry fails at once)."""
    seen: set[str] = set()
    for t in tasks:
        if t.name in seen:
            raise ValueError(f"task {t.name!r} is declared twice")
        seen.add(t.name)
        if t.interaction not in INTERACTIONS:
            raise ValueError(f"task {t.name!r}: interaction {t.interaction!r} is not one of {INTERACTIONS}")
        if t.overlay not in OVERLAY_KINDS:
            raise ValueError(f"task {t.name!r}: overlay {t.overlay!r} is not one of {OVERLAY_KINDS}")
        if not t.target_keys:
            raise ValueError(f"task {t.name!r} declares no target keys")
        if t.interaction != "chat" and (t.prompt is None or t.answer is None):
            raise ValueError(f"task {t.name!r}: a {t.interaction} task needs a prompt and an answer function")
        if t.has_classes and "classes" not in t.target_keys:
            raise ValueError(f"task {t.name!r}: class_labels set but 'classes' is not a target key")
        if t.scorer is not None and (t.headline_metric is None or t.sample_score is None):
            raise ValueError(f"task {t.name!r}: a scored task needs headline_metric and sample_score")


validate_declarations(_DECLARED)  # a broken or duplicate declaration fails at import
