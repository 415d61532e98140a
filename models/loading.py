"""Load any Qwen-VL checkpoint (local directory or hub id) for training: dtype, attention, freezing, LoRA.

The processor's pixel budget is set from the run config so the trainer-side processor agrees with the data engine's
pre-resize (images arrive already smart-resized, so the processor never resizes them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from data_engine.errors import UserError
from data_engine.families import Family, family_of_checkpoint, get_family
from data_engine.options import ATTN_IMPLEMENTATIONS, DTYPES, check_choice


@dataclass
class LoraSection:
    """LoRA through peft (off by default). `target_modules` names the language-model projections to adapt."""

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class ModelSection:
    """Which model to train and how.

    Attributes:
        path: checkpoint directory (the tiny offline ones, an SFT output) or a hub id (needs the network).
        arch: model family; empty = read from the checkpoint's config.json.
        dtype: "auto" (bfloat16 on GPU, float32 on CPU), "float32", "bfloat16" or "float16".
        attn_implementation: "sdpa" (default), "eager", or "flash_attention_2" (needs the gpu extra).
        freeze_vision, freeze_merger, freeze_llm: keep these parts fixed.
        gradient_checkpointing: passed to the TRL config when set (None keeps TRL's default).
    """

    path: str = "???"
    arch: str = ""
    dtype: str = "auto"
    attn_implementation: str = "sdpa"
    freeze_vision: bool = False
    freeze_merger: bool = False
    freeze_llm: bool = False
    lora: LoraSection = field(default_factory=LoraSection)

    def validate(self) -> None:
        check_choice(self.dtype, DTYPES, "model.dtype")
        check_choice(self.attn_implementation, ATTN_IMPLEMENTATIONS, "model.attn_implementation")
        if self.lora.enabled and (self.lora.r < 1 or self.lora.alpha <= 0 or not 0 <= self.lora.dropout < 1):
            raise UserError(f"model.lora needs r >= 1, alpha > 0 and 0 <= dropout < 1, got {self.lora}")
        if self.arch:
            get_family(self.arch)


def resolve_family(section: ModelSection) -> Family:
    """The model family: from `arch` when given, else from the checkpoint's config.json."""
    if section.arch:
        return get_family(section.arch)
    if Path(section.path).is_dir():
        return family_of_checkpoint(section.path)
    raise UserError(f"model.path {section.path!r} is not a local directory: set model.arch")


def resolve_dtype(name: str):
    """torch dtype for a config name; "auto" is bfloat16 with CUDA and float32 on CPU."""
    import torch

    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, name)


def check_attn_available(name: str) -> None:
    if name == "flash_attention_2":
        import importlib.util

        import torch

        if not torch.cuda.is_available():
            raise UserError("attn_implementation=flash_attention_2 needs a CUDA GPU; use sdpa on CPU")
        if importlib.util.find_spec("flash_attn") is None:
            raise UserError("attn_implementation=flash_attention_2 needs flash-attn: pip install -e '.[gpu]'")


def load_processor(path: str, min_pixels: int, max_pixels: int):
    """The checkpoint's processor with the run's pixel budget."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(path)
    size = {"shortest_edge": int(min_pixels), "longest_edge": int(max_pixels)}
    processor.image_processor.size = size
    if hasattr(processor.image_processor, "min_pixels"):
        processor.image_processor.min_pixels, processor.image_processor.max_pixels = min_pixels, max_pixels
    return processor


def load_model(section: ModelSection):
    """Load the model for training with dtype, attention and freezing applied (LoRA is applied by the trainer).

    Returns:
        The `...ForConditionalGeneration` model.
    """
    from transformers import AutoModelForImageTextToText

    section.validate()
    check_attn_available(section.attn_implementation)
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            section.path, dtype=resolve_dtype(section.dtype), attn_implementation=section.attn_implementation
        )
    except OSError as e:
        raise UserError(f"cannot load model from {section.path!r}: {str(e).splitlines()[0]}") from None
    freeze(model, vision=section.freeze_vision, merger=section.freeze_merger, llm=section.freeze_llm)
    return model


def _parts(model):
    """(vision blocks without merger, merger, language model + head) parameter lists of a Qwen-VL model."""
    vision, merger, llm = [], [], []
    for name, p in model.named_parameters():
        if ".visual." in f".{name}" or name.startswith("visual."):
            (merger if ".merger" in name or "deepstack_merger" in name else vision).append(p)
        else:
            llm.append(p)
    return vision, merger, llm


def freeze(model, *, vision: bool, merger: bool, llm: bool) -> None:
    """Set requires_grad=False on the chosen parts (the vision tower, its patch merger, the language model)."""
    v, m, lm = _parts(model)
    for flag, params in ((vision, v), (merger, m), (llm, lm)):
        if flag:
            for p in params:
                p.requires_grad_(False)
    if not any(p.requires_grad for p in model.parameters()):
        raise UserError("every part of the model is frozen: unset one of model.freeze_vision/merger/llm")


def lora_config(section: ModelSection):
    """A peft LoraConfig for the language model, or None when LoRA is off."""
    if not section.lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=section.lora.r,
        lora_alpha=section.lora.alpha,
        lora_dropout=section.lora.dropout,
        target_modules=list(section.lora.target_modules),
        task_type="CAUSAL_LM",
    )


# Written by the Trainer's `_save_checkpoint` in this order: model (config + weights), optimizer/scheduler/RNG
# state, and `trainer_state.json` last, so a checkpoint whose trainer state parses was written to the end.
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors", "pytorch_model.bin")


def checkpoint_problem(path: str | Path) -> str | None:
    """Why a `checkpoint-*` folder cannot be resumed from (a kill while it was written), or None when it is complete.

    Complete means: `config.json` (or a LoRA `adapter_config.json`) and `trainer_state.json` parse as JSON, a weights
    file is present and every safetensors file (each shard of an index) opens with a header that covers the whole
    file (a truncated file fails that check).
    """
    import json

    path = Path(path)
    if not path.is_dir():
        return "not a folder"
    configs = [n for n in ("config.json", "adapter_config.json") if (path / n).is_file()]
    if not configs:
        return "no config.json"
    for name in (*configs, "trainer_state.json"):
        try:
            json.loads((path / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return f"no {name} (the Trainer writes it last)"
        except (OSError, ValueError) as e:
            return f"{name} is unreadable or truncated ({type(e).__name__})"
    weights = [n for n in _WEIGHTS if (path / n).is_file()]
    if not weights:
        return f"no weights file ({', '.join(_WEIGHTS)})"
    shards = [path / n for n in weights if n.endswith(".safetensors")]
    if "model.safetensors.index.json" in weights:
        try:
            index = json.loads((path / "model.safetensors.index.json").read_text(encoding="utf-8"))
            shards += [path / f for f in sorted(set(index["weight_map"].values()))]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            return f"model.safetensors.index.json is unreadable ({type(e).__name__})"
    for shard in shards:
        problem = _safetensors_problem(shard)
        if problem:
            return problem
    return None


def _safetensors_problem(path: Path) -> str | None:
    from safetensors import safe_open

    if not path.is_file():
        return f"{path.name} is missing"
    try:
        with safe_open(str(path), "pt") as f:
            f.keys()
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for every malformed file
        return f"{path.name} is truncated or corrupt ({str(e).splitlines()[0][:120]})"
    return None


def checkpoints_newest_first(output_dir: str | Path) -> list[Path]:
    """`checkpoint-<step>` folders of a run, highest step first."""
    out = Path(output_dir)
    if not out.is_dir():
        return []
    found = [(int(p.name.split("-", 1)[1]), p) for p in out.glob("checkpoint-*")
             if p.is_dir() and p.name.split("-", 1)[1].isdigit()]
    return [p for _, p in sorted(found, reverse=True)]


def last_complete_checkpoint(output_dir: str | Path, report=None) -> str | None:
    """The newest complete checkpoint of a run, or None. Each newer, incomplete one is reported in one line through
    `report` (default: a warning on stderr) and skipped, never deleted (the Trainer overwrites it when it gets there)."""
    import sys

    say = report or (lambda msg: print(f"georft: WARNING {msg}", file=sys.stderr, flush=True))  # noqa: T201 - one line to the user
    for ckpt in checkpoints_newest_first(output_dir):
        problem = checkpoint_problem(ckpt)
        if problem is None:
            return str(ckpt)
        say(f"skipping incomplete checkpoint {ckpt}: {problem}")
    return None


def resume_checkpoint(resume_from_checkpoint, output_dir: str) -> str | None:
    """The checkpoint folder a run resumes from (`True` = the newest COMPLETE `checkpoint-*` in output_dir), or None.

    A checkpoint left half-written by a kill is skipped with a one-line warning (see `checkpoint_problem`); an
    explicitly named one that is incomplete fails with the reason.

    Why this exists: transformers 5.23's Trainer restores a checkpoint's weights with a plain `load_state_dict`, but
    Qwen-VL checkpoints are saved under the legacy key names (`visual.*`, `model.layers.*`), so no key matches and
    the weights silently stay as they were. The stages therefore load the model *from the checkpoint* with
    `from_pretrained` (which maps the names) and pass the folder returned here, not `True`, to `Trainer.train` (whose
    own lookup would pick the newest folder, complete or not); the Trainer then restores optimizer, scheduler, RNG
    and data position.
    """
    if resume_from_checkpoint in (None, False, "", "false", "False"):
        return None
    if resume_from_checkpoint is True or str(resume_from_checkpoint).lower() == "true":
        last = last_complete_checkpoint(output_dir)
        if last is None:
            raise UserError(f"resume_from_checkpoint=true but {output_dir} has no complete checkpoint-* folder")
        return last
    problem = checkpoint_problem(resume_from_checkpoint)
    if problem is not None:
        raise UserError(f"cannot resume from {resume_from_checkpoint}: {problem}")
    return str(resume_from_checkpoint)


def trainer_defaults(section: dict, output_dir: str) -> dict:
    """A TRL config section with the defaults both stages need, where the user set nothing: the run's output dir,
    `remove_unused_columns=False` (rows are rendered lazily and extra columns reach rewards), rendering in the
    training process unless the config asks for `dataloader_num_workers` (workers take rendering off the step;
    their skip counts reach the summary, see `data_engine.lazy.SkipCounter`), and CPU-safe precision without a GPU
    (TRL defaults to bf16)."""
    import torch

    kwargs = dict(section)
    kwargs.setdefault("output_dir", output_dir)
    kwargs.setdefault("remove_unused_columns", False)
    kwargs.setdefault("dataloader_num_workers", 0)
    if not torch.cuda.is_available():
        kwargs.setdefault("use_cpu", True)
        kwargs.setdefault("bf16", False)
    return kwargs
