"""LoRA adapter folders as checkpoints: recognise one, find its base, load base + adapter, merge it into a plain model.

An adapter folder is what a LoRA run saves (`adapter_config.json` + `adapter_model.safetensors`, plus the processor
GeoRFT writes next to it); `adapter_config.json`'s `base_model_name_or_path` names the model it applies to. Every
stage accepts one where it accepts a model folder (`model.path`, `georft eval --model`, the pipeline's chaining):

* training (SFT, GRPO) continues the same adapter by default (`model.lora.from_adapter: continue`); `merge` folds it
  into its base first (written once to `<output_dir>/merged_base`) and, with `model.lora.enabled`, starts a new
  adapter on the merged model (without it: full fine-tuning of the merged model);
* evaluation loads base + adapter (HF backend: merged in memory), or a merged copy on disk for vLLM;
* `georft export --merge` writes the merged model as a plain Hugging Face folder (`merge_to`).
"""

from __future__ import annotations

import json
from pathlib import Path

from data_engine.errors import UserError

ADAPTER_CONFIG = "adapter_config.json"
MERGED_MARKER = ".merged_from.json"
# Files of a processor (the chat template included); an adapter folder without them takes its base's processor.
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def is_adapter_dir(path: str | Path) -> bool:
    """True for a LoRA adapter folder: it has `adapter_config.json` and no model `config.json` of its own."""
    p = Path(path)
    return (p / ADAPTER_CONFIG).is_file() and not (p / "config.json").is_file()


def adapter_base(path: str | Path) -> str:
    """The base model an adapter folder applies to, from its `adapter_config.json`.

    A relative base path is taken as written when it exists from the working directory (PEFT records the path the
    base was loaded from), else relative to the adapter folder; a name that is no local folder is returned as it is
    (a hub id).

    Raises:
        UserError: the config is unreadable or names no base.
    """
    cfg_path = Path(path) / ADAPTER_CONFIG
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{cfg_path}: unreadable adapter config ({type(e).__name__})") from None
    base = cfg.get("base_model_name_or_path") if isinstance(cfg, dict) else None
    if not isinstance(base, str) or not base:
        raise UserError(f"{cfg_path}: field base_model_name_or_path is missing: the adapter does not name its base")
    if Path(base).is_dir() or Path(base).is_absolute():
        return base
    beside = Path(path) / base
    if beside.is_dir():
        return str(beside)
    return base


def config_dir(path: str | Path) -> str:
    """The folder (or hub id) that holds the model's `config.json`: the path itself, or an adapter's base."""
    if is_adapter_dir(path):
        base = adapter_base(path)
        if is_adapter_dir(base):
            raise UserError(f"{path}: its base {base} is itself an adapter; merge that one first "
                            "(georft export --merge)")
        return base
    return str(path)


def processor_dir(path: str | Path) -> str:
    """Where the processor of a checkpoint lives: the folder itself, or an adapter's base when the adapter folder
    holds no processor (a `checkpoint-*` written by hand, a third-party adapter)."""
    if is_adapter_dir(path) and not any((Path(path) / n).is_file() for n in PROCESSOR_FILES):
        return config_dir(path)
    return str(path)


def wrap_adapter(base_model, adapter: str | Path, trainable: bool):
    """`PeftModel` of `base_model` with the adapter folder's weights (trainable: its LoRA weights get gradients)."""
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(base_model, str(adapter), is_trainable=trainable)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot apply adapter {adapter}: {msg}") from None


def _fingerprint(path: str | Path) -> dict:
    """What identifies one adapter's weights on disk (a rewritten adapter gets a new merged copy)."""
    p = Path(path)
    files = sorted(f for f in p.iterdir() if f.is_file() and f.name.startswith("adapter_"))
    return {"adapter": str(p.resolve()), "files": {f.name: [f.stat().st_size, f.stat().st_mtime_ns] for f in files}}


def merge_to(src: str | Path, dest: str | Path, dtype: str = "auto", reuse: bool = False) -> Path:
    """Write `src` (an adapter folder, or a model / checkpoint folder) as a plain model folder in `dest`: weights
    (the adapter merged into its base), config, processor and chat template, loadable by
    `AutoModelForImageTextToText`, `georft eval` and vLLM.

    Args:
        dtype: "auto" keeps the checkpoint's dtype; else float32 / bfloat16 / float16 (also bf16 / fp16 / fp32).
        reuse: keep an existing `dest` that was merged from the same adapter files (the marker file says so).

    Returns:
        `dest`.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    dest = Path(dest)
    marker = dest / MERGED_MARKER
    want = {**_fingerprint(src), "dtype": dtype} if is_adapter_dir(src) else None
    if reuse and want is not None and marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")) == want:
                return dest
        except (OSError, ValueError):
            pass
    torch_dtype = export_dtype(dtype)
    base = config_dir(src)
    kwargs = {"dtype": torch_dtype} if torch_dtype is not None else {"dtype": "auto"}
    try:
        model = AutoModelForImageTextToText.from_pretrained(base, **kwargs)
    except OSError as e:
        raise UserError(f"cannot load model from {base!r}: {str(e).splitlines()[0]}") from None
    if is_adapter_dir(src):
        model = wrap_adapter(model, src, trainable=False).merge_and_unload()
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(dest))
    AutoProcessor.from_pretrained(processor_dir(src)).save_pretrained(str(dest))
    if want is not None:
        marker.write_text(json.dumps(want), encoding="utf-8")
    return dest


EXPORT_DTYPES = {"auto": None, "float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
                 "float16": "float16", "fp16": "float16"}


def export_dtype(name: str):
    """torch dtype of an export dtype name (None = keep the checkpoint's)."""
    import torch

    from data_engine.options import check_choice

    check_choice(name, tuple(EXPORT_DTYPES), "--dtype")
    target = EXPORT_DTYPES[name]
    return None if target is None else getattr(torch, target)
