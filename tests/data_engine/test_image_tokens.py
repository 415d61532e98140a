"""Rendered rows through the real tiny processors: image-token counts equal the processor's grid, no re-resize."""

from __future__ import annotations

import numpy as np
import pytest

from data_engine.families import get_family
from data_engine.render import render_grpo, render_sft

BUDGET = {"min_pixels": 4 * 28 * 28, "max_pixels": 256 * 28 * 28}


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_image_tokens_match_processor_grid(arch, tiny_model_dirs, tiny_rows):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_model_dirs[arch])
    fam = get_family(arch)
    pad_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    rows = {}
    for r in tiny_rows:
        rows.setdefault(r["task"], r)
    assert len(rows) == 16  # every task of the tiny world but chat
    for task, row in rows.items():
        for rendered in (render_sft(row, fam, **BUDGET), render_grpo(row, fam, **BUDGET)):
            msgs = rendered.get("messages") or rendered["prompt"]
            out = proc.apply_chat_template(msgs, images=rendered["images"], tokenize=True, return_dict=True,
                                           add_generation_prompt="prompt" in rendered)
            grid = np.asarray(out["image_grid_thw"]).tolist()
            # the processor kept our sizes: grid (t, h/patch, w/patch) for every image, in order
            assert grid == [[1, im.height // fam.patch_size, im.width // fam.patch_size]
                            for im in rendered["images"]], task
            n_pad = int((np.asarray(out["input_ids"][0]) == pad_id).sum())
            assert n_pad == sum(t * h * w for t, h, w in grid) // fam.merge_size**2, task
