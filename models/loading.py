"""Load any Qwen-VL checkpoint (local directory or hub id) for training: dtype, attention, freezing, LoRA.

The processor's pixel budget is set from the run config so the trainer-side processor agrees with the data engine's
pre-resize (images arrive already smart-resized, so the processor never resizes them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from data_engine.errors import UserError
from data_engine.families import Family, family_of_checkpoint, get_family
from data_engine.options import ADAPTER_MODES, ATTN_IMPLEMENTATIONS, DTYPES, QUANTIZATIONS, check_choice
from models.adapters import config_dir, is_adapter_dir, processor_dir, wrap_adapter


def _is_adapter(path: str) -> bool:
    return path not in ("", "???") and is_adapter_dir(path)


@dataclass
class LoraSection:
    """LoRA through peft (off by default).

    Attributes:
        enabled: train a new LoRA adapter (the base stays frozen); the run saves the adapter folder.
        r, alpha, dropout: LoRA rank, scale numerator, dropout.
        target_modules: the language model's linear layers to adapt, by their last name component.
        vision: also adapt every linear layer of the vision tower's blocks.
        merger: also adapt the patch merger's linear layers (Qwen3-VL: and its deepstack mergers).
        dora: weight-decomposed LoRA (peft's `use_dora`).
        from_adapter: when `model.path` is an adapter folder: "continue" trains that adapter on (the default), "merge"
            merges it into its base first (saved to `<output_dir>/merged_base`) and starts a new adapter there when
            `enabled`, else fully fine-tunes the merged model.
    """

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    vision: bool = False
    merger: bool = False
    dora: bool = False
    from_adapter: str = "continue"


@dataclass
class ModelSection:
    """Which model to train and how.

    Attributes:
        path: checkpoint directory (the tiny offline ones, an SFT output) or a hub id (needs the network).
        arch: model family; empty = read from the checkpoint's config.json.
        dtype: "auto" (bfloat16 on GPU, float32 on CPU), "float32", "bfloat16" or "float16".
        attn_implementation: "sdpa" (default), "eager", or "flash_attention_2" (needs the gpu extra).
        freeze_vision, freeze_merger, freeze_llm: keep these parts fixed (with LoRA the base is frozen anyway;
            `lora.vision` / `lora.merger` choose which parts get adapters).
        quantization: "none", or "4bit" for QLoRA (bitsandbytes NF4 base weights with double quantization, compute
            in bfloat16; the vision tower and lm_head stay unquantized); needs a CUDA GPU and LoRA.
    """

    path: str = "???"
    arch: str = ""
    dtype: str = "auto"
    attn_implementation: str = "sdpa"
    freeze_vision: bool = False
    freeze_merger: bool = False
    freeze_llm: bool = False
    quantization: str = "none"
    lora: LoraSection = field(default_factory=LoraSection)

    def validate(self) -> None:
        check_choice(self.dtype, DTYPES, "model.dtype")
        check_choice(self.attn_implementation, ATTN_IMPLEMENTATIONS, "model.attn_implementation")
        check_choice(self.quantization, QUANTIZATIONS, "model.quantization")
        check_choice(self.lora.from_adapter, ADAPTER_MODES, "model.lora.from_adapter")
        if self.lora.enabled and (self.lora.r < 1 or self.lora.alpha <= 0 or not 0 <= self.lora.dropout < 1):
            raise UserError(f"model.lora needs r >= 1, alpha > 0 and 0 <= dropout < 1, got {self.lora}")
        if self.quantization == "4bit" and not self.lora.enabled and not _is_adapter(self.path):
            raise UserError("model.quantization=4bit (QLoRA) trains an adapter on frozen 4-bit weights: set "
                            "model.lora.enabled=true (or start from an adapter folder)")
        if self.arch:
            get_family(self.arch)


def resolve_family(section: ModelSection) -> Family:
    """The model family: from `arch` when given, else from the checkpoint's config.json (an adapter's: its base's)."""
    if section.arch:
        return get_family(section.arch)
    if Path(section.path).is_dir():
        return family_of_checkpoint(config_dir(section.path))
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


def check_quantization_available(name: str) -> None:
    """Refuse 4-bit loading in one line where bitsandbytes cannot run (no CUDA, or the package is missing)."""
    if name != "4bit":
        return
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        raise UserError("model.quantization=4bit (QLoRA) needs a CUDA GPU (bitsandbytes 4-bit kernels); this "
                        "machine has none: use model.quantization=none with model.lora.enabled=true on CPU")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError("model.quantization=4bit (QLoRA) needs bitsandbytes: make install-gpu "
                        "(or pip install -c requirements/lock-gpu.txt bitsandbytes)")


def quantization_config(section: ModelSection):
    """transformers' `BitsAndBytesConfig` for QLoRA (NF4, double quantization, compute in the run's dtype or
    bfloat16), or None. The vision tower and lm_head stay in 16 bit: they are small and quantizing them costs
    accuracy for little memory (`llm_int8_skip_modules` is the list transformers reads for 4-bit too)."""
    if section.quantization != "4bit":
        return None
    import torch
    from transformers import BitsAndBytesConfig

    compute = resolve_dtype(section.dtype) if section.dtype not in ("auto", "float32") else torch.bfloat16
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute, llm_int8_skip_modules=["visual", "lm_head"])


def from_pretrained_kwargs(section: ModelSection) -> dict:
    """Keyword arguments of `from_pretrained` for the section: dtype, attention, and for QLoRA the 4-bit config with
    every weight on this process's GPU (bitsandbytes places quantized weights at load time)."""
    import os

    kwargs = {"dtype": resolve_dtype(section.dtype), "attn_implementation": section.attn_implementation}
    quant = quantization_config(section)
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["dtype"] = quant.bnb_4bit_compute_dtype
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return kwargs


def load_processor(path: str, min_pixels: int, max_pixels: int):
    """The checkpoint's processor with the run's pixel budget (an adapter folder without one: its base's)."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(processor_dir(path))
    size = {"shortest_edge": int(min_pixels), "longest_edge": int(max_pixels)}
    processor.image_processor.size = size
    if hasattr(processor.image_processor, "min_pixels"):
        processor.image_processor.min_pixels, processor.image_processor.max_pixels = min_pixels, max_pixels
    return processor


def load_model(section: ModelSection, trainable: bool = True):
    """Load the model with dtype, attention, quantization and freezing applied. A new LoRA adapter is added by the
    trainer (`lora_config`); an adapter folder as `section.path` is loaded onto its base and continued (`trainable`)
    — merging one first is `start_section`'s job.

    Returns:
        The `...ForConditionalGeneration` model, or a `peft.PeftModel` around it for an adapter folder.
    """
    from transformers import AutoModelForImageTextToText

    section.validate()
    check_attn_available(section.attn_implementation)
    check_quantization_available(section.quantization)
    base = config_dir(section.path)
    try:
        model = AutoModelForImageTextToText.from_pretrained(base, **from_pretrained_kwargs(section))
    except OSError as e:
        raise UserError(f"cannot load model from {base!r}: {str(e).splitlines()[0]}") from None
    if is_adapter_dir(section.path):
        return wrap_adapter(model, section.path, trainable=trainable)
    freeze(model, vision=section.freeze_vision, merger=section.freeze_merger, llm=section.freeze_llm)
    return model


def start_section(section: ModelSection, output_dir: str | Path) -> ModelSection:
    """The model section a training stage starts from: unchanged, except for an adapter folder with
    `lora.from_adapter: merge`, whose merged copy (`<output_dir>/merged_base`, written once) becomes the path."""
    from dataclasses import replace

    from models.adapters import merge_to

    if section.lora.from_adapter != "merge" or not _is_adapter(section.path):
        return section
    merged = merge_to(section.path, Path(output_dir) / "merged_base", dtype=section.dtype, reuse=True)
    return replace(section, path=str(merged))


def _parts(model):
    """(vision blocks without merger, merger, language model + head) parameter lists of a Qwen-VL model."""
    parts: dict[str, list] = {"vision": [], "merger": [], "llm": []}
    for name, p in model.named_parameters():
        parts[_part(name)].append(p)
    return parts["vision"], parts["merger"], parts["llm"]


def freeze(model, *, vision: bool, merger: bool, llm: bool) -> None:
    """Set requires_grad=False on the chosen parts (the vision tower, its patch merger, the language model)."""
    v, m, lm = _parts(model)
    for flag, params in ((vision, v), (merger, m), (llm, lm)):
        if flag:
            for p in params:
                p.requires_grad_(False)
    if not any(p.requires_grad for p in model.parameters()):
        raise UserError("every part of the model is frozen: unset one of model.freeze_vision/merger/llm")


def lora_config(section: ModelSection, model=None):
    """A peft LoraConfig for the trainer to add, or None: LoRA off, or `model` already carries an adapter (continued).

    With `model` given, `target_modules` becomes one regular expression over the model's own linear layers: the
    language model's named ones, plus the vision blocks' / merger's when `lora.vision` / `lora.merger` is on. Names
    alone would also catch vision layers that share a name (Qwen2.5-VL's vision MLP has `gate_proj`), and peft
    matches a string target against the whole module name.
    """
    if model is not None and _is_peft(model):
        return None
    if not section.lora.enabled:
        return None
    from peft import LoraConfig

    targets = list(section.lora.target_modules) if model is None else lora_target_regex(model, section.lora)
    return LoraConfig(
        r=section.lora.r,
        lora_alpha=section.lora.alpha,
        lora_dropout=section.lora.dropout,
        target_modules=targets,
        use_dora=section.lora.dora,
        task_type="CAUSAL_LM",
    )


def _is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def _part(name: str) -> str:
    """"vision", "merger" or "llm": which part of a Qwen-VL model a module / parameter name belongs to."""
    if ".visual." in f".{name}" or name.startswith("visual."):
        return "merger" if ".merger" in name or "deepstack_merger" in name else "vision"
    return "llm"


def lora_target_regex(model, lora: LoraSection) -> str:
    """One regular expression (peft full-matches it against module names) for the linear layers LoRA adapts; layer
    indices become `\\d+`, so the pattern stays short and holds for any depth.

    Raises:
        UserError: nothing matched (a misspelt `lora.target_modules` entry names the model's own linear names).
    """
    import re

    import torch

    wanted = set(lora.target_modules)
    patterns, leaves = [], set()
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        part, leaf = _part(name), name.rsplit(".", 1)[-1]
        if part == "llm":
            leaves.add(leaf)
        if (part == "llm" and leaf in wanted) or (part == "vision" and lora.vision) or (part == "merger" and lora.merger):
            pat = r"\.".join(r"\d+" if seg.isdigit() else re.escape(seg) for seg in name.split("."))
            if pat not in patterns:
                patterns.append(pat)
    unknown = wanted - leaves
    if unknown:
        from data_engine.registry import did_you_mean

        bad = sorted(unknown)[0]
        raise UserError(f"model.lora.target_modules: {bad!r} is no linear layer of the language model."
                        f"{did_you_mean(bad, sorted(leaves))} Linear layers: {', '.join(sorted(leaves))}")
    if not patterns:
        raise UserError("model.lora selects no layer: set model.lora.target_modules, lora.vision or lora.merger")
    return "(?:" + "|".join(patterns) + ")"


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


def resumed(stage_cfg, output_dir: str | Path, name: str, report):
    """A stage config (SFT or GRPO) set to continue an interrupted run from its newest COMPLETE checkpoint (incomplete
    ones, left by a kill while a checkpoint was written, are skipped with a one-line warning through `report`). A
    copy: the caller's config (recorded in its markers) stays as the user wrote it."""
    from dataclasses import replace

    last = last_complete_checkpoint(output_dir, report=report)
    if not last:
        return stage_cfg
    report(f"{name}: resuming from {last}")
    return replace(stage_cfg, trainer={**stage_cfg.trainer, "resume_from_checkpoint": last})


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
