"""A byte-level BPE tokenizer trained offline on the project's own text, with Qwen's special tokens.

Pre-tokenisation follows Qwen2's (digits split one by one, then byte-level), so numbers in box coordinates
tokenise the way they do for the real models.
"""

from __future__ import annotations

import random

# Qwen2 / Qwen2.5 / Qwen3 pre-tokenizer split pattern (single digits; letters; punctuation runs; whitespace).
QWEN_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Special tokens in Qwen's order (ids 0.. in our vocabulary, then the BPE merges).
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Ordinary (non-special) added tokens, as in Qwen's tokenizer: tool calls and reasoning tags.
ADDED_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>",
                "<answer>", "</answer>"]

# The roles of Qwen's special tokens and its length / padding settings, as the released tokenizer_config.json sets
# them; the trained tiny tokenizer and the real one (`models.qwen_tokenizer`) both get them from here.
QWEN_TOKENIZER_SETTINGS = {
    "eos_token": "<|im_end|>",
    "pad_token": "<|endoftext|>",
    "unk_token": None,
    "bos_token": None,
    "extra_special_tokens": {
        "image_token": "<|image_pad|>",
        "video_token": "<|video_pad|>",
        "vision_bos_token": "<|vision_start|>",
        "vision_eos_token": "<|vision_end|>",
    },
    "model_max_length": 32768,
    "padding_side": "right",
}

_WORDS = (
    "plane airplane ship vehicle car truck storage tank harbor bridge roundabout court field pool helicopter "
    "small large vehicle baseball diamond tennis basketball ground track soccer swimming container crane "
    "airport runway road river lake water forest building farmland residential industrial desert beach "
    "red green blue yellow white black gray orange purple brown dark light bright "
    "the a an of in on at to is are there how many what which where who color colour left right top bottom "
    "center middle upper lower near next between above below image picture scene area region zoom "
    "yes no none zero one two three four five six seven eight nine ten more less than larger smaller "
    "find locate detect classify describe answer question object objects category categories class classes "
    "coordinates polygon vertices bounding box oriented plain text format json label output respond only letter "
    "you are a helpful assistant as an ai specialize in accurate delivering with of the given within "
    "tools function call name arguments bbox here's zoomed-in complete your task now select best option choices"
).split()


def corpus_lines(n: int = 4000, seed: int = 0) -> list[str]:
    """Synthetic remote-sensing text: prompts, answers with coordinates, JSON snippets (deterministic)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        kind = rng.randrange(4)
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12)))
        if kind == 0:
            lines.append(words.capitalize() + rng.choice([".", "?", "!", ""]))
        elif kind == 1:
            nums = ",".join(str(rng.randint(0, 1000)) for _ in range(rng.choice([4, 5, 8])))
            lines.append(f"{nums} {rng.choice(_WORDS)}")
        elif kind == 2:
            box = ", ".join(str(rng.randint(0, 1000)) for _ in range(4))
            lines.append(f'{{"bbox_2d": [{box}], "label": "{rng.choice(_WORDS)}"}}')
        else:
            box = ", ".join(str(rng.randint(0, 4000)) for _ in range(4))
            lines.append(f'<tool_call>\n{{"name": "image_zoom_in", "arguments": {{"bbox": [{box}]}}}}\n</tool_call>')
    return lines


def train_tokenizer(vocab_size: int = 1024, seed: int = 0, chat_template: str | None = None):
    """Train the tokenizer and wrap it as a `PreTrainedTokenizerFast`.

    Args:
        vocab_size: target vocabulary size including special tokens.
        seed: corpus seed (the result is deterministic for a seed).
        chat_template: Jinja chat template to attach.

    Returns:
        transformers.PreTrainedTokenizerFast with eos `<|im_end|>` and pad `<|endoftext|>`.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(seed=seed), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        **QWEN_TOKENIZER_SETTINGS,
    )
    fast.add_tokens(ADDED_TOKENS)
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast
