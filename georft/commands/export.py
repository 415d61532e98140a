"""Export a checkpoint as a plain Hugging Face folder: `georft export --model ADAPTER_OR_CKPT --out DIR [--merge]
[--dtype bf16]`.

DIR gets the weights, config, processor and chat template, and nothing of the training run (no optimizer, trainer
state or RNG files), so `AutoModelForImageTextToText.from_pretrained(DIR)`, `georft eval --model DIR` and vLLM load
it. A LoRA adapter folder (`adapter_config.json`) needs `--merge`: its weights are folded into the base it names
(`models.adapters.merge_to`; the merged model's logits equal base + adapter to float tolerance). A full checkpoint
(an SFT / GRPO output, a `checkpoint-*` folder) is rewritten in the chosen dtype; `--merge` changes nothing there.

    georft export --model runs/demo/grpo --out runs/demo/export --merge --dtype bf16
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="adapter folder or model / checkpoint folder")
    parser.add_argument("--out", required=True, help="output folder (a plain Hugging Face model folder)")
    parser.add_argument("--merge", action="store_true", help="merge a LoRA adapter into its base (required for one)")
    parser.add_argument("--dtype", default="auto",
                        help="weights dtype: auto (keep), bf16 / bfloat16, fp16 / float16, fp32 / float32")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from data_engine.errors import UserError
    from models.adapters import adapter_base, export_dtype, is_adapter_dir, merge_to

    src, out = Path(args.model), Path(args.out)
    export_dtype(args.dtype)  # a bad name fails before any loading
    if not src.is_dir():
        raise UserError(f"--model {src}: not a folder")
    if is_adapter_dir(src):
        if not args.merge:
            raise UserError(f"--model {src} is a LoRA adapter (base {adapter_base(src)}): pass --merge to write a "
                            "plain model folder")
    elif not (src / "config.json").is_file():
        raise UserError(f"--model {src}: neither a model folder (config.json) nor a LoRA adapter (adapter_config.json)")
    if out.resolve() == src.resolve():
        raise UserError("--out must differ from --model")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out} exists and is not empty")
    merge_to(src, out, dtype=args.dtype)
    print(f"georft export: wrote {out} ({'merged ' if is_adapter_dir(src) else ''}{args.dtype})")  # noqa: T201
    return 0
