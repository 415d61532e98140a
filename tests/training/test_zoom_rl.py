"""Zoom-in chains in GRPO (rl/zoom.py): TRL's real tool loop, crop, template, tool_mask and forward pass.

Only the policy's sampling is replaced: `_generate_single_turn` returns fixed token ids (a tool call for the zoom
prompt on the first turn, an answer otherwise). Everything else (parsing the call, running the environment, the
crop turn's tokens, tool_mask, pixel values, loss) is TRL's.

Hand-derived geometry (1200 x 900 original, run budget 4*28*28 .. 128*28*28 = 3136 .. 100352 px):
- full view, Qwen2.5-VL (factor 28): beta = sqrt(1080000 / 100352) = 3.2806; w = floor(1200/3.2806/28)*28 = 364,
  h = floor(900/3.2806/28)*28 = 252. Box [91, 63, 182, 126] (resized pixels) * (1200/364, 900/252) = [300, 225,
  600, 450] original px (region cut: [300, 224, 600, 450], see EXPECTED_BOX; 300 x 226 -> also 308 x 224).
- Qwen3-VL (norm1000): box [250, 250, 500, 500] -> [300, 225, 600, 450].
- crop 300 x 225: Qwen2.5-VL round(300/28)=11 -> 308, round(225/28)=8 -> 224 (68992 px, inside the budget);
  Qwen3-VL (factor 32): round(300/32)=9 -> 288, round(225/32)=7 -> 224.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from data_engine.answers import ZOOM_CROP_TEXT, ZOOM_TOOL_SYSTEM, format_zoom_call
from data_engine.errors import UserError
from data_engine.families import get_family
from data_engine.frames import Frame
from rl.zoom import (
    PLAIN_ENV,
    ZOOM_ENV,
    ZoomEnvironment,
    add_zoom_columns,
    tools_chat_template,
    with_zoom_turns,
    zoom_trainer_kwargs,
    zoom_turns,
)

MIN_PX, MAX_PX = 4 * 28 * 28, 128 * 28 * 28
ORIG = (1200, 900)
VIEW = {"qwen2_5_vl": (364, 252), "qwen3_vl": (352, 256)}
CALL_BOX = {"qwen2_5_vl": [91, 63, 182, 126], "qwen3_vl": [250, 250, 500, 500]}
CROP_SIZE = {"qwen2_5_vl": (308, 224), "qwen3_vl": (288, 224)}
# The region cut is data_engine.zoom.crop_box of the float box (rounded outwards), as SFT chains cut it; in floats
# 63 / (252 / 900) = 224.99999999999997, so Qwen2.5-VL's region starts at y = 224 (a 300 x 226 crop).
EXPECTED_BOX = {"qwen2_5_vl": [300, 224, 600, 450], "qwen3_vl": [300, 225, 600, 450]}


def _scene(path) -> str:
    """A 1200 x 900 synthetic 'UHR' scene: a colour gradient with a few filled rectangles."""
    x = np.linspace(0, 255, ORIG[0], dtype=np.float64)
    y = np.linspace(0, 255, ORIG[1], dtype=np.float64)
    arr = np.stack(np.broadcast_arrays(x[None, :], y[:, None], (x[None, :] + y[:, None]) / 2), -1).astype(np.uint8)
    img = Image.fromarray(arr)
    d = ImageDraw.Draw(img)
    d.rectangle([380, 280, 520, 400], fill=(250, 20, 20))
    d.rectangle([700, 600, 900, 800], fill=(20, 250, 20))
    img.save(path)
    return str(path)


def _rows(arch: str, image_path: str) -> list[dict]:
    fam = get_family(arch)
    w, h = VIEW[arch]
    view = Image.open(image_path).convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
    frame = Frame.for_family(fam.coord_frame, *ORIG, w, h).to_dict()
    zoom = {
        "prompt": [
            {"role": "user", "content": "What is red?\nZoom in to the region of interest and answer the question."}
        ],
        "images": [view],
        "task": "zoom_vqa",
        "target": json.dumps({"question": "What is red?", "answer": "ship", "evidence": [[380, 280, 520, 400]]}),
        "frame": json.dumps(frame),
        "sample_id": "z0",
        "source": "synthetic",
        "image_path": image_path,
    }
    vqa = {
        **zoom,
        "prompt": [{"role": "user", "content": "Is there a ship?"}],
        "task": "vqa",
        "target": json.dumps({"question": "Is there a ship?", "answer": "yes"}),
        "sample_id": "v0",
    }
    vqa.pop("image_path")
    return [add_zoom_columns(zoom), add_zoom_columns(vqa)]


def _trainer(arch, model_dir, tmp_path, rows, first_call: str):
    """A GeoGRPOTrainer for one step whose sampler emits `first_call` on the zoom prompt, then answers."""
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText
    from trl import GRPOConfig

    from models.loading import load_processor
    from rewards.adapter import make_reward_funcs
    from rl.trainer import GeoGRPOTrainer

    processor = load_processor(model_dir, MIN_PX, MAX_PX)
    zoom = zoom_trainer_kwargs(arch, processor, min_pixels=MIN_PX, max_pixels=MAX_PX, max_calls=2)
    funcs, weights = make_reward_funcs({"zoom_vqa": [{"name": "zoom_chain"}], "vqa": [{"name": "vqa_match"}]})
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=2,
        max_steps=1,
        max_completion_length=512,
        learning_rate=1e-4,
        use_cpu=True,
        bf16=False,
        report_to=[],
        logging_steps=1,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        save_strategy="no",
        reward_weights=weights,
        seed=0,
        **zoom["args"],
    )
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    trainer = GeoGRPOTrainer(
        model=model,
        reward_funcs=with_zoom_turns(funcs),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=processor,
        **zoom["trainer"],
    )
    tok = processor.tokenizer
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    answers = [0]

    def fake_turn(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        out = []
        for ids in prompt_ids:
            # First turn of a zoom prompt: the tool block is there, no call has been made yet.
            text = tok.decode(ids)
            if "image_zoom_in" in text and '"arguments": {"bbox"' not in text:
                out.append(tok.encode(first_call) + [im_end])
            else:
                # Alternate right / wrong answers so each group has reward spread (non-zero advantages, gradients).
                answers[0] += 1
                out.append(tok.encode("ship" if answers[0] % 2 else "car") + [im_end])
        return out, None

    trainer._generate_single_turn = fake_turn
    captured = {}
    real_generate, real_score = trainer._generate, trainer._generate_and_score_completions

    def spy_generate(prompts):
        res = real_generate(prompts)
        captured["generate"] = res
        return res

    def spy_score(inputs):
        res = real_score(inputs)
        captured["batch"] = res
        captured["inputs"] = inputs
        captured["envs"] = list(trainer.environments)
        return res

    trainer._generate = spy_generate
    trainer._generate_and_score_completions = spy_score
    return trainer, captured, processor


def _mask_runs(mask: list[int]) -> list[tuple[int, int, int]]:
    runs, start = [], 0
    for i in range(1, len(mask) + 1):
        if i == len(mask) or mask[i] != mask[start]:
            runs.append((mask[start], start, i))
            start = i
    return runs


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_grpo_step_with_zoom_chain(arch, tiny_model_dirs, tmp_path):
    path = _scene(tmp_path / "scene.png")
    rows = _rows(arch, path)
    call = format_zoom_call(CALL_BOX[arch])
    trainer, cap, processor = _trainer(arch, tiny_model_dirs[arch], tmp_path, rows, call)
    result = trainer.train()
    assert math.isfinite(result.training_loss)

    prompt_ids, completion_ids, tool_mask, completions, _, _, images, tool_images = cap["generate"]
    inputs = cap["inputs"]
    zoom_idx = [i for i, x in enumerate(inputs) if x["task"] == "zoom_vqa"]
    vqa_idx = [i for i, x in enumerate(inputs) if x["task"] == "vqa"]
    assert len(zoom_idx) == 2 and len(vqa_idx) == 2

    # The crop fed back = the full-resolution original cropped at the expected box, then smart-resized.
    expected = (
        Image.open(path)
        .convert("RGB")
        .crop(tuple(EXPECTED_BOX[arch]))
        .resize(CROP_SIZE[arch], Image.Resampling.BICUBIC)
    )
    for i in zoom_idx:
        assert len(tool_images[i]) == 1
        assert tool_images[i][0].size == CROP_SIZE[arch]
        assert np.array_equal(np.asarray(tool_images[i][0]), np.asarray(expected))
        assert len(images[i]) == 2  # prompt view + crop, both in the forward pass
        env = cap["envs"][i]
        assert env.turns == [
            {
                "tool_call": call,
                "box": EXPECTED_BOX[arch],
                "view": [0.0, 0.0, 1200.0, 900.0],
                "valid": True,
                "crop_image": None,
                "error": None,
            }
        ]
    for i in vqa_idx:
        assert tool_images[i] == [] and not isinstance(cap["envs"][i], ZoomEnvironment)
        assert all(m == 1 for m in tool_mask[i])

    # Vision grids in the forward pass: per zoom row the view then the crop; vqa rows only the view (merge 2).
    fam = get_family(arch)
    grid = cap["batch"]["image_grid_thw"].tolist()
    view_grid = [1, VIEW[arch][1] // fam.patch_size, VIEW[arch][0] // fam.patch_size]
    crop_grid = [1, CROP_SIZE[arch][1] // fam.patch_size, CROP_SIZE[arch][0] // fam.patch_size]
    assert grid == [g for i in range(4) for g in ([view_grid, crop_grid] if i in zoom_idx else [view_grid])]

    # tool_mask: model call (1), crop turn (0), answer (1); the masked tokens are exactly the crop turn.
    tok = processor.tokenizer
    n_crop_tokens = (CROP_SIZE[arch][0] // fam.factor) * (CROP_SIZE[arch][1] // fam.factor)
    for i in zoom_idx:
        runs = _mask_runs(tool_mask[i])
        assert [r[0] for r in runs] == [1, 0, 1]
        masked = completion_ids[i][runs[1][1] : runs[1][2]]
        assert masked.count(tok.convert_tokens_to_ids("<|image_pad|>")) == n_crop_tokens
        text = tok.decode(masked)
        assert ZOOM_CROP_TEXT in text and text.endswith("<|im_start|>assistant\n")
        assert tok.decode(completion_ids[i][: runs[0][2]]) == call + "<|im_end|>"
        assert tok.decode(completion_ids[i][runs[2][1] :]) in ("ship<|im_end|>", "car<|im_end|>")
        assert torch_equal(cap["batch"]["tool_mask"][i][: len(tool_mask[i])], tool_mask[i])

    # Prompts: the zoom prompt carries the tool block, the vqa prompt none.
    for i in zoom_idx:
        assert "image_zoom_in" in tok.decode(prompt_ids[i])
    for i in vqa_idx:
        assert "<tools>" not in tok.decode(prompt_ids[i])
    if arch == "qwen2_5_vl":
        assert tok.decode(prompt_ids[zoom_idx[0]]).startswith(f"<|im_start|>system\n{ZOOM_TOOL_SYSTEM}<|im_end|>\n")

    # The zoom_chain reward saw the turns: a correct answer with a valid zoom covering the evidence scores 1.
    # (The second zoom generation answers "car": wrong, 0 however it zooms.) Gradients flowed.
    logs = list(trainer._logs["rewards"]["zoom_vqa/zoom_chain"])[-4:]
    assert [logs[i] for i in zoom_idx] == [1.0, 0.0]
    assert float(trainer.state.log_history[0]["grad_norm"]) > 0


def torch_equal(t, values) -> bool:
    return t.tolist() == list(values)


@pytest.mark.parametrize("arch", ["qwen2_5_vl"])
def test_invalid_call_gets_error_turn(arch, tiny_model_dirs, tmp_path):
    path = _scene(tmp_path / "scene.png")
    rows = _rows(arch, path)
    trainer, cap, processor = _trainer(arch, tiny_model_dirs[arch], tmp_path, rows, format_zoom_call([50, 50, 50, 90]))
    result = trainer.train()
    assert math.isfinite(result.training_loss)
    _, completion_ids, tool_mask, completions, _, _, _, tool_images = cap["generate"]
    zoom_idx = [i for i, x in enumerate(cap["inputs"]) if x["task"] == "zoom_vqa"]
    for i in zoom_idx:
        assert tool_images[i] == []
        tool_turns = [m for m in completions[i] if m["role"] == "tool"]
        assert len(tool_turns) == 1
        assert "zero size" in str(tool_turns[0]["content"])
        assert [r[0] for r in _mask_runs(tool_mask[i])] == [1, 0, 1]
        turns = cap["envs"][i].turns
        assert len(turns) == 1 and turns[0]["valid"] is False and turns[0]["box"] is None
        assert "zero size" in turns[0]["error"]
    # Counted by TRL as a failed tool call (both zoom generations failed, vqa rows made no call).
    assert float(trainer.state.log_history[0]["tools/failure_frequency"]) == 1.0


# --- environment and template units (no trainer) ---


def _env(arch, path, max_calls=2):
    fam = get_family(arch)
    env = ZoomEnvironment(fam, MIN_PX, MAX_PX, max_calls)
    w, h = VIEW[arch]
    env.reset(frame=Frame.for_family(fam.coord_frame, *ORIG, w, h).to_dict(), image_path=path, sample_id="s")
    return env


def test_second_step_is_read_in_the_previous_crop_frame(tmp_path):
    path = _scene(tmp_path / "scene.png")
    env = _env("qwen2_5_vl", path)
    env.image_zoom_in([91, 63, 182, 126])
    # The view is now [300, 224, 600, 450] (300 x 226, see EXPECTED_BOX) shown at 308 x 224: box [154, 112, 308, 224]
    # in that view is its lower-right quarter: x 300 + 154 * 300/308 = 450, y 224 + 112 * 226/224 = 337.
    out = env.image_zoom_in([154, 112, 308, 224])
    assert env.turns[1]["view"] == [300.0, 224.0, 600.0, 450.0]
    assert env.turns[1]["box"] == [450, 337, 600, 450]
    # 150 x 113 crop: round(150/28)=5 -> 140, round(113/28)=4 -> 112 (15680 px, inside the budget).
    assert out[0]["image"].size == (140, 112) and out[1] == {"type": "text", "text": ZOOM_CROP_TEXT}
    expected = Image.open(path).convert("RGB").crop((450, 337, 600, 450)).resize((140, 112), Image.Resampling.BICUBIC)
    assert np.array_equal(np.asarray(out[0]["image"]), np.asarray(expected))


@pytest.mark.parametrize(
    "bbox, message",
    [
        ([10, 10, 10, 40], "zero size"),
        ([400, 300, 500, 400], "outside the current image"),
        ([1, 2, 3], "four numbers"),
        (["a", 1, 2, 3], "four numbers"),
    ],
)
def test_invalid_boxes_raise_user_error_and_are_recorded(tmp_path, bbox, message):
    env = _env("qwen2_5_vl", _scene(tmp_path / "scene.png"))
    with pytest.raises(UserError, match=message):
        env.image_zoom_in(bbox)
    assert env.turns[0]["valid"] is False and env.turns[0]["box"] is None and env.crops == []


def test_budget_and_norm1000_clipping(tmp_path):
    env = _env("qwen3_vl", _scene(tmp_path / "scene.png"), max_calls=1)
    # Partly outside the 0-1000 grid: clipped to [900, 800, 1000, 1000] -> x 1080..1200, y 720..900.
    env.image_zoom_in([900, 800, 1100, 1000])
    assert env.turns[0]["box"] == [1080, 720, 1200, 900]
    with pytest.raises(UserError, match="budget exhausted"):
        env.image_zoom_in([0, 0, 500, 500])
    assert len(env.turns) == 2 and env.turns[1]["valid"] is False


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_tools_template_stock_without_tools_and_rscovlm_block_with_tools(arch, tiny_model_dirs):
    from models.loading import load_processor

    p = load_processor(tiny_model_dirs[arch], MIN_PX, MAX_PX)
    img = Image.new("RGB", (56, 56))
    conv = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "image", "image": img}, {"type": "text", "text": "q"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}]},
    ]
    sft_chain = [  # an SFT zoom chain as the data engine renders it for both families
        {"role": "system", "content": ZOOM_TOOL_SYSTEM},
        conv[1],
        {"role": "assistant", "content": [{"type": "text", "text": format_zoom_call([1, 2, 3, 4])}]},
        {"role": "user", "content": [{"type": "image", "image": img}, {"type": "text", "text": ZOOM_CROP_TEXT}]},
    ]
    stock = [p.apply_chat_template(c, tokenize=False) for c in (conv, conv[1:])]
    sft_text = p.apply_chat_template(sft_chain, tokenize=False, add_generation_prompt=True)
    p.chat_template = tools_chat_template(arch)
    assert [p.apply_chat_template(c, tokenize=False) for c in (conv, conv[1:])] == stock
    env = ZoomEnvironment(get_family(arch), MIN_PX, MAX_PX, 1)
    call = {"type": "function", "function": {"name": "image_zoom_in", "arguments": {"bbox": [1, 2, 3, 4]}}}
    chain = conv[1:2] + [
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {
            "role": "tool",
            "name": "image_zoom_in",
            "content": [{"type": "image", "image": img}, {"type": "text", "text": ZOOM_CROP_TEXT}],
        },
    ]
    text = p.apply_chat_template(chain, tools=[env.image_zoom_in], tokenize=False, add_generation_prompt=True)
    assert text == (
        f"<|im_start|>system\n{ZOOM_TOOL_SYSTEM}<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>q<|im_end|>\n"
        f"<|im_start|>assistant\n{format_zoom_call([1, 2, 3, 4])}<|im_end|>\n"
        f"<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>{ZOOM_CROP_TEXT}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert text == sft_text  # GRPO continues exactly the format SFT trained
    with_system = p.apply_chat_template(conv[:2], tools=[env.image_zoom_in], tokenize=False)
    assert with_system.startswith(f"<|im_start|>system\nS\n\n{ZOOM_TOOL_SYSTEM}<|im_end|>\n<|im_start|>user\n")


def test_add_zoom_columns_and_turns_reach_rewards():
    zoom = {
        "task": "zoom_vqa",
        "image_path": "/x.png",
        "frame": "{}",
        "prompt": [{"role": "system", "content": ZOOM_TOOL_SYSTEM}, {"role": "user", "content": "q"}],
    }
    out = add_zoom_columns(zoom)
    assert out["environment"] == ZOOM_ENV and out["prompt"] == [{"role": "user", "content": "q"}]
    assert add_zoom_columns({"task": "vqa"}) == {"task": "vqa", "environment": PLAIN_ENV, "image_path": None}
    with pytest.raises(UserError, match="image_path"):
        add_zoom_columns({"task": "zoom_vqa", "frame": "{}"})

    env = ZoomEnvironment(get_family("qwen3_vl"), MIN_PX, MAX_PX, 1)
    env.turns = [{"box": [1, 2, 3, 4]}]
    seen = {}

    def reward(prompts=None, completions=None, **kw):
        seen.update(kw)
        return [0.0, 0.0]

    (wrapped,) = with_zoom_turns([reward])
    wrapped(prompts=[1, 2], completions=[1, 2], environments=[env, object()])
    assert seen["turns"] == [[{"box": [1, 2, 3, 4]}], None] == zoom_turns([env, object()])
    assert wrapped.__name__ == "reward"


def test_budget_mismatch_is_a_user_error(tiny_model_dirs):
    from models.loading import load_processor

    p = load_processor(tiny_model_dirs["qwen3_vl"], MIN_PX, MAX_PX)
    with pytest.raises(UserError, match="pixel budget"):
        zoom_trainer_kwargs("qwen3_vl", p, min_pixels=MIN_PX, max_pixels=2 * MAX_PX, max_calls=1)
