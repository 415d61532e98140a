"""Offline tiny Qwen-VL models: randomly initialised, real architecture classes, built without any download.

`georft model tiny --arch qwen2_5_vl --out DIR` writes a directory that loads with `AutoProcessor` and
`AutoModelForImageTextToText` under `HF_HUB_OFFLINE=1`: a `Qwen2_5_VLForConditionalGeneration` (or
`Qwen3VLForConditionalGeneration`) a few hundred thousand to a few million parameters big, a byte-level BPE
tokenizer trained on the spot with Qwen's special tokens, the family's stock chat template (read from the installed
TRL, byte-identical to Qwen's, so TRL's assistant-only-loss training template swaps in), and the family's image
processor with a small pixel budget. The same seed gives byte-identical weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from data_engine.errors import UserError
from data_engine.families import get_family


@dataclass
class TinyModelConfig:
    """Sizes of a tiny model (defaults: ~0.7-0.8 M parameters, builds in seconds).

    Attributes:
        arch: model family, "qwen2_5_vl" or "qwen3_vl".
        seed: weight and tokenizer-corpus seed.
        tokenizer: "bpe" (a small BPE trained on the spot: the fast default) or "qwen" (Qwen's real tokenizer,
            fetched and checksum-verified by `models.qwen_tokenizer`; the embedding then has the released vocab
            size, 152,064 rows for Qwen2.5-VL and 151,936 for Qwen3-VL, and the real special-token ids).
        vocab_size: BPE vocabulary size (including special tokens); ignored with tokenizer "qwen".
        hidden_size, intermediate_size, num_layers, num_heads, num_kv_heads: language model sizes.
        vision_depth, vision_hidden_size, vision_intermediate_size, vision_heads: vision tower sizes.
        min_pixels, max_pixels: the image processor's pixel budget (images are pre-resized by the data engine to
            fit inside it, so the processor never resizes).
    """

    arch: str = "qwen2_5_vl"
    seed: int = 0
    tokenizer: str = "bpe"
    vocab_size: int = 1024
    hidden_size: int = 128
    intermediate_size: int = 256
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    vision_depth: int = 2
    vision_hidden_size: int = 64
    vision_intermediate_size: int = 128
    vision_heads: int = 2
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 1024 * 32 * 32

    def validate(self) -> None:
        get_family(self.arch)
        if self.tokenizer not in ("bpe", "qwen"):
            raise UserError(f"tokenizer must be 'bpe' or 'qwen', got {self.tokenizer!r}")
        if self.hidden_size % self.num_heads:
            raise UserError(f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})")
        if (self.hidden_size // self.num_heads) % 8:
            raise UserError("hidden_size / num_heads must be a multiple of 8 (M-RoPE sections)")
        if self.num_heads % self.num_kv_heads:
            raise UserError(f"num_heads ({self.num_heads}) must be divisible by num_kv_heads ({self.num_kv_heads})")
        if self.min_pixels > self.max_pixels:
            raise UserError("min_pixels must not exceed max_pixels")


def _mrope_section(head_dim: int) -> list[int]:
    """Split head_dim/2 rotary frequencies over (temporal, height, width) like Qwen's [16, 24, 24] for 128."""
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]


def _stock_chat_template(arch: str) -> str:
    """Qwen's stock chat template as shipped inside TRL (byte-identical to the hub's)."""
    from importlib.resources import files

    return (files("trl") / "chat_templates" / f"{arch}.jinja").read_text(encoding="utf-8")


def build_config(cfg: TinyModelConfig, tokenizer):
    """The transformers config object of the tiny model."""
    from transformers import Qwen2_5_VLConfig, Qwen3VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in
           ("<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")}
    head_dim = cfg.hidden_size // cfg.num_heads
    if cfg.tokenizer == "qwen":
        from models.qwen_tokenizer import VOCAB_SIZE

        vocab = VOCAB_SIZE[cfg.arch]  # the released embedding size (rows past the tokenizer are padding)
    else:
        vocab = len(tokenizer)
    text = dict(
        vocab_size=vocab,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=32768,
        bos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        tie_word_embeddings=True,
    )
    vision = dict(
        depth=cfg.vision_depth,
        hidden_size=cfg.vision_hidden_size,
        intermediate_size=cfg.vision_intermediate_size,
        num_heads=cfg.vision_heads,
        out_hidden_size=cfg.hidden_size,
        spatial_merge_size=2,
        temporal_patch_size=2,
    )
    tokens = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    if cfg.arch == "qwen2_5_vl":
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 1e6, "mrope_section": _mrope_section(head_dim)}
        vision.update(patch_size=14, window_size=56, fullatt_block_indexes=[cfg.vision_depth - 1])
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **tokens)
    text["head_dim"] = head_dim
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 5e6, "mrope_section": _mrope_section(head_dim),
                               "mrope_interleaved": True}
    vision.update(patch_size=16, num_position_embeddings=256, deepstack_visual_indexes=[cfg.vision_depth - 1])
    return Qwen3VLConfig(text_config=text, vision_config=vision, **tokens)


def build_processor(cfg: TinyModelConfig, tokenizer):
    """The family's processor (image processor with the tiny pixel budget, plus a video processor)."""
    import transformers

    family = get_family(cfg.arch)
    processor_cls, video_cls = {
        "qwen2_5_vl": ("Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor"),
        "qwen3_vl": ("Qwen3VLProcessor", "Qwen3VLVideoProcessor"),
    }[cfg.arch]
    kwargs = dict(size={"shortest_edge": cfg.min_pixels, "longest_edge": cfg.max_pixels},
                  patch_size=family.patch_size, merge_size=family.merge_size, temporal_patch_size=2)
    return getattr(transformers, processor_cls)(
        image_processor=transformers.Qwen2VLImageProcessor(**kwargs),
        tokenizer=tokenizer,
        video_processor=getattr(transformers, video_cls)(**kwargs),
        chat_template=tokenizer.chat_template,
    )


def build_tiny(cfg: TinyModelConfig | str, out_dir: str | Path, seed: int | None = None) -> Path:
    """Build a tiny random model + processor and save both to `out_dir`.

    Args:
        cfg: a TinyModelConfig or an arch name ("qwen2_5_vl" / "qwen3_vl") for the defaults.
        out_dir: destination folder (created).
        seed: overrides `cfg.seed`.

    Returns:
        The output folder.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    if isinstance(cfg, str):
        cfg = TinyModelConfig(arch=cfg)
    if seed is not None:
        cfg = TinyModelConfig(**{**cfg.__dict__, "seed": seed})
    cfg.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    template = _stock_chat_template(cfg.arch)
    tokenizer = train_tokenizer_for(cfg, template)
    processor = build_processor(cfg, tokenizer)
    config = build_config(cfg, tokenizer)
    torch.manual_seed(cfg.seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    model.generation_config.eos_token_id = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def train_tokenizer_for(cfg: TinyModelConfig, chat_template: str):
    if cfg.tokenizer == "qwen":
        from models.qwen_tokenizer import qwen_tokenizer

        return qwen_tokenizer(chat_template)
    from models.tokenizer import train_tokenizer

    return train_tokenizer(vocab_size=cfg.vocab_size, seed=cfg.seed, chat_template=chat_template)
