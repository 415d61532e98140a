"""The `data:` section shared by the SFT and GRPO run configs: which built datasets, mixed how, rendered how."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SourceSection:
    """One dataset of the mixture.

    Attributes:
        path: a built dataset directory (`georft data build` output).
        weight: "*N" repeats N times, "%P" keeps P percent (seeded), a plain number is a sampling weight.
        split: keep rows of this split only (None = every row).
        tasks: keep rows of these tasks only (None = every task).
        names: keep rows of these recipe sources only (the build's `source` column; None = every source), so one
            build of many datasets can be mixed with per-dataset weights.
    """

    path: str = "???"
    weight: str = "*1"
    split: str | None = "train"
    tasks: list | None = None
    names: list | None = None


@dataclass
class RandomResizeSection:
    """Random-resize augmentation applied to every task (boxes are rescaled with the image)."""

    prob: float = 0.0
    min_scale: float = 0.5
    max_scale: float = 1.0


@dataclass
class DataSection:
    """What the model is trained on and how samples are rendered.

    Attributes:
        root: folder that relative `sources[].path` are resolved against ("" = the working directory), so a config
            that composes this section (`_base_`) moves every source by setting one key.
        sources: the mixture.
        min_pixels, max_pixels: pixel budget of the smart resize (done by the data engine before TRL sees images).
        box_type: "poly", "obb" or "hbb" answer lines for detection.
        answer_mode: "text" (RSCoVLM plain-text lines) or "json".
        reasoning: "none" or "think_answer": every single-turn task's prompt asks for ``<think>…</think>`` then
            ``<answer>…</answer>`` and parsers read the answer block only (`data_engine.reasoning`).
        reasoning_tasks: the tasks the think-answer frame applies to (None: every single-turn task).
        temperature: temperature sampling over sources (1 = proportional to size x weight).
        seed: mixture and augmentation seed (the same on every rank).
    """

    root: str = ""
    sources: list[SourceSection] = field(default_factory=list)
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 256 * 28 * 28
    box_type: str = "poly"
    answer_mode: str = "text"
    reasoning: str = "none"
    reasoning_tasks: list | None = None
    temperature: float = 1.0
    seed: int = 0
    random_resize: RandomResizeSection = field(default_factory=RandomResizeSection)
