"""Typed config of the SFT stage (`configs/sft/*.yaml`). TRL's `SFTConfig` fields live in the `trainer:` section."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_engine.data_config import DataSection
from data_engine.errors import UserError
from eval.validation import ValidationSection
from models.loading import ModelSection


@dataclass
class SFTRunConfig:
    """The whole SFT run: model, data, and TRL's `SFTConfig` (`trainer:`, passed through unchanged)."""

    # Free-form sections validated against TRL's own dataclass (by georft.config.check_config_file and at start).
    TRL_SECTIONS = {"trainer": "trl:SFTConfig"}

    output_dir: str = "runs/sft"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    # A held-out slice scored every N steps, best model kept in <output_dir>/best (`eval.validation`). Off by default.
    validation: ValidationSection = field(default_factory=ValidationSection)
    trainer: dict = field(default_factory=dict)

    def validate(self) -> None:
        self.model.validate()
        self.data.validate(need_sources=True)
        self.validation.validate()
        for key in ("packing", "padding_free"):
            if self.trainer.get(key):
                raise UserError(f"trainer.{key} is not supported for vision data (TRL rejects it)")
