"""Multi-image rendering: one pixel budget shared by a sample's frames, named frames, processor token counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_engine.families import get_family
from data_engine.render import frame_budget, render_grpo, render_sft
from data_engine.resize import image_tokens
from tests.data_engine.conftest import write_image

BUDGET = {"min_pixels": 4 * 28 * 28, "max_pixels": 64 * 28 * 28}


def _row(tmp_path, sizes, task="caption", target=None):
    paths = [str(write_image(tmp_path / f"f{k}.png", w, h, (40 * k, 90, 60))) for k, (w, h) in enumerate(sizes)]
    return {"id": "s", "source": "t", "task": task, "split": "train", "images": paths, "width": sizes[0][0],
            "height": sizes[0][1], "target": json.dumps(target or {"references": ["a road appears"]})}


def test_frame_budget_splits_the_sample_budget():
    assert frame_budget(1, 100, 1000, 28) == (100, 1000)
    assert frame_budget(2, 100, 1000, 28) == (784, 784)  # never below one 28x28 token
    assert frame_budget(4, 4 * 784, 64 * 784, 28) == (784, 16 * 784)
    assert frame_budget(3, 0, 3000 * 28 * 28, 28) == (0, 1000 * 28 * 28)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_n_frames_never_cost_n_times_one(tmp_path, n):
    fam = get_family("qwen2_5_vl")
    row = _row(tmp_path, [(1024, 1024)] * n)
    images = render_sft(row, fam, **BUDGET)["images"]
    assert len(images) == n
    assert len({im.size for im in images}) == 1  # co-registered frames stay equal
    total = sum(image_tokens(im.height, im.width, fam.factor) for im in images)
    one = image_tokens(*render_sft(_row(tmp_path / "one", [(1024, 1024)]), fam, **BUDGET)["images"][0].size,
                       fam.factor)
    assert sum(im.width * im.height for im in images) <= BUDGET["max_pixels"]
    assert total <= one


def test_random_resize_is_identical_on_all_frames(tmp_path):
    fam = get_family("qwen3_vl")
    row = _row(tmp_path, [(240, 180)] * 3)
    rr = {"prob": 1.0, "min_scale": 0.3, "max_scale": 0.9}
    sizes = set()
    for seed in range(6):
        images = render_sft(row, fam, **BUDGET, rng=np.random.default_rng(seed), random_resize=rr)["images"]
        assert len({im.size for im in images}) == 1
        sizes.add(images[0].size)
    assert len(sizes) > 1  # the scale did vary between samples


def test_frames_of_different_size_are_resized_each_in_its_share(tmp_path):
    fam = get_family("qwen2_5_vl")
    row = _row(tmp_path, [(800, 600), (400, 800)])
    images = render_sft(row, fam, **BUDGET)["images"]
    lo, hi = frame_budget(2, BUDGET["min_pixels"], BUDGET["max_pixels"], fam.factor)
    assert images[0].width > images[0].height and images[1].height > images[1].width
    assert all(lo <= im.width * im.height <= hi and im.width % 28 == 0 == im.height % 28 for im in images)


def test_prompt_names_the_frames(tmp_path):
    row = _row(tmp_path, [(64, 64)] * 2)
    user = render_grpo(row, "qwen2_5_vl", **BUDGET)["prompt"][-1]
    kinds = [b["type"] for b in user["content"]]
    assert kinds == ["text", "image", "text", "image", "text"]
    assert [user["content"][0]["text"], user["content"][2]["text"]] == ["Image 1: ", "Image 2: "]


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_image_tokens_equal_the_processor_for_1_to_4_frames(arch, tiny_model_dirs, tmp_path):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_model_dirs[arch])
    fam = get_family(arch)
    pad_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for n in (1, 2, 3, 4):
        sizes = [(300 + 50 * k, 200 + 70 * k) for k in range(n)]
        row = _row(tmp_path / str(n), sizes)
        for rendered in (render_sft(row, fam, **BUDGET), render_grpo(row, fam, **BUDGET)):
            msgs = rendered.get("messages") or rendered["prompt"]
            out = proc.apply_chat_template(msgs, images=rendered["images"], tokenize=True, return_dict=True,
                                           add_generation_prompt="prompt" in rendered)
            grid = np.asarray(out["image_grid_thw"]).tolist()
            assert grid == [[1, im.height // fam.patch_size, im.width // fam.patch_size] for im in rendered["images"]]
            n_pad = int((np.asarray(out["input_ids"][0]) == pad_id).sum())
            ours = sum(image_tokens(im.height, im.width, fam.factor) for im in rendered["images"])
            assert n_pad == ours and len(grid) == n
            text = proc.tokenizer.decode(out["input_ids"][0])
            if n > 1:
                assert all(f"Image {k + 1}: <|vision_start|>" in text for k in range(n))
