"""Typed config of the SFT stage (`configs/sft/*.yaml`). TRL's `SFTConfig` fields live in the `trainer:` section."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_engine.data_config import DataSection
from data_engine.errors import UserError
from data_engine.reasoning import check_reasoning
from models.loading import ModelSection


@dataclass
class SFTRunConfig:
    """The whole SFT run: model, data, and TRL's `SFTConfig` (`trainer:`, passed through unchanged)."""

    # Free-form sections validated against TRL's own dataclass (by georft.config.check_config_file and at start).
    TRL_SECTIONS = {"trainer": "trl:SFTConfig"}

    output_dir: str = "runs/sft"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    trainer: dict = field(default_factory=dict)

    def validate(self) -> None:
        self.model.validate()
        if not self.data.sources:
            raise UserError("data.sources is empty: list at least one built dataset")
        if self.data.box_type not in ("poly", "obb", "hbb"):
            raise UserError(f"data.box_type must be poly, obb or hbb, got {self.data.box_type!r}")
        if self.data.answer_mode not in ("text", "json"):
            raise UserError(f"data.answer_mode must be text or json, got {self.data.answer_mode!r}")
        check_reasoning(self.data.reasoning, "data.reasoning", self.data.reasoning_tasks)
        for key in ("packing", "padding_free"):
            if self.trainer.get(key):
                raise UserError(f"trainer.{key} is not supported for vision data (TRL rejects it)")
