"""The `data:` section shared by the SFT and GRPO run configs: which built datasets, mixed how, rendered how."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from data_engine.errors import UserError
from data_engine.options import ANSWER_MODES, BOX_TYPES, MASK_FORMATS, check_choice, check_range
from data_engine.reasoning import check_reasoning


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

    def validate(self, where: str = "data.random_resize") -> None:
        check_range(self.prob, f"{where}.prob", low=0.0, high=1.0)
        check_range(self.min_scale, f"{where}.min_scale", low=0.0, low_open=True)
        if not self.min_scale <= self.max_scale:
            raise UserError(f"{where}: need min_scale <= max_scale, got {self.min_scale}, {self.max_scale}")


@dataclass
class DataSection:
    """What the model is trained on and how samples are rendered.

    Attributes:
        root: folder that relative `sources[].path` are resolved against ("" = the working directory), so a config
            that composes this section (`_base_`) moves every source by setting one key.
        sources: the mixture.
        min_pixels, max_pixels: pixel budget of the smart resize (done by the data engine before TRL sees images).
        box_type: detection answer lines, one of `data_engine.options.BOX_TYPES` ("hbb", "obb", "poly").
        answer_mode: one of `data_engine.options.ANSWER_MODES`: "text" (RSCoVLM plain-text lines) or "json".
        reasoning: one of `data_engine.options.REASONING_MODES`: "none" or "think_answer" (every single-turn task's
            prompt asks for ``<think>…</think>`` then ``<answer>…</answer>`` and parsers read the answer block only;
            `data_engine.reasoning`).
        reasoning_tasks: the tasks the think-answer frame applies to (None: every single-turn task).
        mask_format: segmentation answers, one of `data_engine.options.MASK_FORMATS`: "seg_grid" (run lengths on
            the patch grid, docs/formats.md §6) or "seg_polygon" (polygon lines in the model frame, §7).
        temperature: temperature sampling over sources (1 = proportional to size x weight).
        seed: mixture and augmentation seed (the same on every rank).
        max_image_pixels: the pixel limit while rendering (None: `data_engine.images.DEFAULT_MAX_IMAGE_PIXELS`);
            a larger image is skipped and counted, never decoded. Raise it for genuine UHR sources.
    """

    root: str = ""
    sources: list[SourceSection] = field(default_factory=list)
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 256 * 28 * 28
    box_type: str = "poly"
    answer_mode: str = "text"
    reasoning: str = "none"
    reasoning_tasks: list | None = None
    mask_format: str = "seg_grid"
    temperature: float = 1.0
    seed: int = 0
    random_resize: RandomResizeSection = field(default_factory=RandomResizeSection)
    max_image_pixels: int | None = None

    def validate(self, where: str = "data", need_sources: bool = False) -> None:
        """Every field of the section against `data_engine.options`, so a mistake fails at load time, never as
        skipped samples mid-run. `need_sources`: a run's section (a shared `_base_` fragment may have none)."""
        from data_engine.mixture import parse_weight

        if need_sources and not self.sources:
            raise UserError(f"{where}.sources is empty: list at least one built dataset")
        for i, src in enumerate(self.sources):
            try:
                parse_weight(src.weight)
            except UserError as e:
                raise UserError(f"{where}.sources[{i}].weight: {e}") from None
        check_choice(self.box_type, BOX_TYPES, f"{where}.box_type")
        check_choice(self.answer_mode, ANSWER_MODES, f"{where}.answer_mode")
        check_reasoning(self.reasoning, f"{where}.reasoning", self.reasoning_tasks)
        check_choice(self.mask_format, MASK_FORMATS, f"{where}.mask_format")
        if not 0 < self.min_pixels <= self.max_pixels:
            raise UserError(f"{where}: need 0 < min_pixels <= max_pixels, got {self.min_pixels}, {self.max_pixels}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise UserError(f"{where}.temperature must be a finite number > 0, got {self.temperature!r}")
        self.random_resize.validate(f"{where}.random_resize")
        if self.max_image_pixels is not None and self.max_image_pixels <= 0:
            raise UserError(f"{where}.max_image_pixels must be > 0 (or null: the default), got {self.max_image_pixels}")
