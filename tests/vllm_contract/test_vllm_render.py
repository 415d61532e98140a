"""vLLM's own renderer against the HF processor: eval prompts, GRPO colocate rows, zoom chains, the pixel budget.

Both families, 1 and several images. The GRPO colocate check is the regression test of huggingface/trl#6294: TRL
hands vLLM processor-expanded ids plus the images; through `rl.trl_seams.colocate_requests` vLLM's ids equal the
trainer's, without it they do not (every image expanded twice).
"""

from __future__ import annotations

import pytest
from PIL import Image

from tests.vllm_contract.conftest import BUDGET, HAS_VLLM, NO_VLLM, vllm_ids

pytestmark = [pytest.mark.vllm, pytest.mark.skipif(not HAS_VLLM, reason=NO_VLLM)]
ARCHS = ("qwen2_5_vl", "qwen3_vl")


def _images(arch: str, n: int) -> list[Image.Image]:
    """n images already smart-resized into BUDGET by the data engine (different sizes)."""
    from data_engine.families import get_family
    from data_engine.resize import smart_resize

    fam = get_family(arch)
    out = []
    for k in range(n):
        h, w = smart_resize(300 + 70 * k, 420 - 50 * k, fam.factor, *BUDGET)
        out.append(Image.new("RGB", (w, h), (40 * k, 120, 200 - 30 * k)))
    return out


def _processor(path: str):
    from models.loading import load_processor

    return load_processor(path, *BUDGET)


def _chain(images: list) -> list[dict]:
    """A zoom chain as the eval executor sends it: the question, then one zoom call and crop per extra image."""
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many ships are there?"}]}]
    for k in range(1, len(images)):
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": '<tool_call>\n{"name": '
                     f'"image_zoom_in", "arguments": {{"bbox": [10, 20, {100 + k}, 120]}}}}\n</tool_call>'}]})
        msgs.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Here is the crop."}]})
    return msgs


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("n_images", [1, 3])
def test_eval_prompts_render_to_the_hf_processor_ids(arch, n_images, tiny_model_dirs, engine_setup):
    from rollout.generate import Request, vllm_prompts

    proc = _processor(tiny_model_dirs[arch])
    images = _images(arch, n_images)
    msgs = _chain(images)
    text = proc.apply_chat_template(msgs, add_generation_prompt=True)
    hf = proc(text=[text], images=images)["input_ids"][0]
    (request,) = vllm_prompts(proc, [Request(msgs, images)])
    pad = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert request["prompt"].count("<|image_pad|>") == n_images  # unexpanded: vLLM expands them
    got = vllm_ids(engine_setup[arch][1], request)
    assert got == list(hf)
    assert got.count(pad) > 4 * n_images


def _trainer_ids(proc, messages: list[dict], images: list, tools=None) -> list[int]:
    """Prompt ids as TRL 1.16's GRPOTrainer makes them (`_tokenize_prompts`): processor-expanded. Image blocks get
    the images in order, as TRL's prompts (dataset images) and tool turns (returned crops) carry them."""
    from trl.data_utils import prepare_multimodal_messages

    it = iter(images)
    messages = [{**m, "content": [{**b, "image": next(it)} if b.get("type") == "image" else b for b in m["content"]]}
                if isinstance(m["content"], list) else m for m in messages]
    msgs = prepare_multimodal_messages(messages)
    out = proc.apply_chat_template(conversation=[msgs], tools=tools, add_generation_prompt=True, tokenize=True,
                                   return_dict=True)
    return [int(t) for t in out["input_ids"][0]]


def _trl_request(ids: list[int], images: list) -> dict:
    # What TRL 1.16's VLLMGeneration.generate builds in colocate mode (vllm_generation.py).
    return {"prompt_token_ids": ids, "multi_modal_data": {"image": images if len(images) > 1 else images[0]}}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("zoom", [False, True])
def test_grpo_colocate_rows_reach_vllm_unexpanded_once(arch, zoom, tiny_model_dirs, engine_setup):
    from data_engine.answers import ZOOM_CROP_TEXT
    from rl.trl_seams import colocate_requests
    from rl.zoom import ZoomEnvironment, zoom_trainer_kwargs

    proc = _processor(tiny_model_dirs[arch])
    pad = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    ip = engine_setup[arch][1]
    if zoom:  # a chain after one zoom call: the crop came back through the tool loop (rl/zoom.py's template)
        zoom_trainer_kwargs(arch, proc, min_pixels=BUDGET[0], max_pixels=BUDGET[1], max_calls=2)
        images = _images(arch, 2)
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many ships?"}]},
                {"role": "assistant", "content": '<tool_call>\n{"name": "image_zoom_in", "arguments": {"bbox": '
                 '[1, 2, 50, 60]}}\n</tool_call>'},
                {"role": "tool", "name": "image_zoom_in", "content": [{"type": "image"},
                                                                      {"type": "text", "text": ZOOM_CROP_TEXT}]}]
        ids = _trainer_ids(proc, msgs, images, tools=[ZoomEnvironment.image_zoom_in])
    else:
        images = _images(arch, 1)
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the image."}]}]
        ids = _trainer_ids(proc, msgs, images)
    n_tokens = ids.count(pad)
    # TRL's request as it is: vLLM expands the expanded runs again (the bug).
    doubled = vllm_ids(ip, _trl_request(ids, images))
    assert doubled.count(pad) > n_tokens
    # Through our seam: one placeholder per image in, the trainer's exact ids out.
    (fixed,) = colocate_requests([_trl_request(ids, images)], pad, {"min_pixels": BUDGET[0], "max_pixels": BUDGET[1]})
    assert fixed["prompt_token_ids"].count(pad) == len(images)
    assert vllm_ids(ip, fixed) == ids


@pytest.mark.parametrize("arch", ARCHS)
def test_installed_fix_and_acceptance_check_on_a_colocated_engine(arch, tiny_model_dirs, engine_setup, monkeypatch):
    """`fix_colocate_prompts` on a trainer-shaped object whose engine renders with vLLM: the acceptance run's
    check (GEORFT_CHECK_VLLM_PROMPTS=1) passes with the fix and raises on TRL's unfixed requests."""
    from types import SimpleNamespace

    from rl.trl_seams import CHECK_ENV, check_expanded_ids, fix_colocate_prompts

    monkeypatch.setenv(CHECK_ENV, "1")
    proc = _processor(tiny_model_dirs[arch])
    ip = engine_setup[arch][1]

    def generate(prompts, sampling_params=None, use_tqdm=False):
        return [SimpleNamespace(prompt_token_ids=vllm_ids(ip, p)) for p in prompts]

    llm = SimpleNamespace(generate=generate)
    trainer = SimpleNamespace(use_vllm=True, vllm_mode="colocate", processing_class=proc,
                              vllm_generation=SimpleNamespace(llm=llm))
    assert fix_colocate_prompts(trainer, {"min_pixels": BUDGET[0], "max_pixels": BUDGET[1]})
    images = _images(arch, 1)
    ids = _trainer_ids(proc, [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}],
                       images)
    reqs = [_trl_request(ids, images)]
    outs = llm.generate(reqs)
    assert outs[0].prompt_token_ids == ids
    with pytest.raises(RuntimeError, match="after vLLM's expansion"):
        check_expanded_ids(reqs, generate(reqs))


def test_pixel_budget_reaches_vllm(tiny_model_dirs, engine_setup):
    """An image the data engine did not pre-resize: vLLM with the suite budget counts the HF processor's tokens;
    an engine without `mm_processor_kwargs` uses the checkpoint's saved budget and counts others."""
    from vllm.engine.arg_utils import EngineArgs
    from vllm.renderers.registry import renderer_from_config
    from vllm.v1.engine.input_processor import InputProcessor

    from rollout.generate import Request, vllm_engine_kwargs, vllm_prompts

    path = tiny_model_dirs["qwen2_5_vl"]
    proc = _processor(path)
    image = Image.new("RGB", (900, 700), (10, 90, 30))
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where is the ship?"}]}]
    hf = list(proc(text=[proc.apply_chat_template(msgs, add_generation_prompt=True)], images=[image])["input_ids"][0])
    (request,) = vllm_prompts(proc, [Request(msgs, [image])])
    assert vllm_ids(engine_setup["qwen2_5_vl"][1], request) == hf
    kwargs = vllm_engine_kwargs(path, max_model_len=4096)  # no budget: the checkpoint's
    assert "mm_processor_kwargs" not in kwargs
    cfg = EngineArgs(**kwargs).create_engine_config()
    assert len(vllm_ids(InputProcessor(cfg, renderer_from_config(cfg)), request)) > len(hf)
