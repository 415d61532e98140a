"""Model families: the facts about an architecture that data rendering and parsing depend on.

A family fixes the image resize factor (patch size x spatial merge), the coordinate frame its boxes are written in,
and chat-template quirks. Users pick a family by name (`qwen2_5_vl`, `qwen3_vl`); it is also read from a checkpoint's
`config.json` `model_type`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from data_engine.errors import UserError
from data_engine.registry import Registry


@dataclass(frozen=True)
class Family:
    """Per-architecture constants.

    Attributes:
        name: registry name, equal to the Hugging Face `model_type`.
        patch_size: vision patch side in pixels (14 for Qwen2.5-VL, 16 for Qwen3-VL).
        merge_size: spatial merge of the vision tower (2 x 2 patches -> one LLM token).
        coord_frame: "absolute" (integer pixels of the resized image, Qwen2.5-VL) or "norm1000" (0-1000 grid,
            Qwen3-VL).
        template_supports_tools: whether the stock chat template accepts `tools=` (Qwen3-VL yes, Qwen2.5-VL no;
            the latter gets the tool block in the system prompt, as RSCoVLM does).
        default_system: system prompt the stock template injects when none is given, or None.
    """

    name: str
    patch_size: int
    merge_size: int
    coord_frame: str
    template_supports_tools: bool
    default_system: str | None

    @property
    def factor(self) -> int:
        """Image sides are multiples of this many pixels after smart resize (28 or 32)."""
        return self.patch_size * self.merge_size


FAMILIES: Registry[Family] = Registry("model family")
FAMILIES.add("qwen2_5_vl", Family("qwen2_5_vl", 14, 2, "absolute", False, "You are a helpful assistant."))
FAMILIES.add("qwen3_vl", Family("qwen3_vl", 16, 2, "norm1000", True, None))


def get_family(name: str) -> Family:
    """Family by registry name, with a "did you mean" error."""
    return FAMILIES.get(name)


def family_of_checkpoint(path: str | Path) -> Family:
    """Family of a local checkpoint directory, from its `config.json` `model_type`."""
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        raise UserError(f"{path}: not a model directory (no config.json)")
    model_type = json.loads(cfg.read_text()).get("model_type", "")
    return FAMILIES.get(model_type)
