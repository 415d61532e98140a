"""Multi-turn zoom-in executor for evaluation: generate, read the zoom call, crop, show the crop, generate again.

Protocol (docs/formats.md §4, `data_engine.zoom`): the model sees the full image (smart-resized) and may answer or
call ``image_zoom_in`` with a box in the frame of the image it saw last. The box is mapped to original pixels
(`View.to_original_box`), the region actually cut is `data_engine.zoom.crop_box` of it, cut from the
FULL-RESOLUTION original and smart-resized like any image; the crop comes back as a user turn and generation goes
on. All live chains of a step are generated in one batched call.

A chain ends when a turn has no tool call (its text is the answer), when a call cannot be read (counted as an
invalid step, never silently replaced by the full image: RSCoVLM pitfall 8), or when a call would exceed
`max_calls`. The call reader is injected (`read_call`) because text parsing lives in `eval.parsers`, above this
package. GRPO's zoom rollouts go through TRL's tool loop instead (rl/).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from data_engine.answers import ZOOM_CROP_TEXT
from data_engine.families import Family
from data_engine.images import load_rgb, resize_to
from data_engine.zoom import View, crop_box, make_view
from rollout.generate import Generation, Request, SamplingSpec

# read_call(turn_text) -> (has_call, model-frame box or None when the call is unreadable)
CallReader = Callable[[str], tuple[bool, list[float] | None]]


@dataclass
class ZoomEpisode:
    """One chain to run.

    Attributes:
        messages: the opening conversation (system tool block + user turn with the full image), content blocks.
        images: the images of `messages` (the full view, already smart-resized).
        original: path (or PIL image) of the full-resolution original, the image crops are cut from; or any object
            with ``width``, ``height`` and ``crop(region)`` (`eval.predict.raster.LazyOriginal` reads each crop as a
            window of a large raster instead of decoding it whole).
        view: the view of the full image (region = whole image, frame of the shown size).
    """

    messages: list[dict]
    images: list[Any]
    original: str | Path | Any
    view: View


@dataclass
class ZoomStep:
    """One zoom call: the turn's text, the box it maps to and the view it was written in (original pixels)."""

    tool_call: str
    box: list[float] | None
    view: list[int]
    valid: bool
    crop: Any = None  # PIL image shown after the call (None when the call was unreadable)
    crop_region: list[int] | None = None


@dataclass
class ZoomResult:
    """A finished chain: assistant turns in order, the zoom steps, and why it stopped.

    Attributes:
        turns: assistant turn texts (calls first, the answer last when there is one).
        steps: one `ZoomStep` per zoom call.
        stop: "answer", "invalid_call" or "max_calls".
        num_tokens: generated tokens over all turns.
        truncated: the last turn hit `max_new_tokens`.
    """

    turns: list[str] = field(default_factory=list)
    steps: list[ZoomStep] = field(default_factory=list)
    stop: str = ""
    num_tokens: int = 0
    truncated: bool = False

    @property
    def completion(self) -> str:
        """The assistant turns joined by newlines (what the zoom parser and reward read)."""
        return "\n".join(self.turns)


def _text(t: str) -> dict:
    return {"type": "text", "text": t}


def run_zoom_chains(backend, episodes: Sequence[ZoomEpisode], sampling: SamplingSpec, *, family: Family,
                    min_pixels: int, max_pixels: int, read_call: CallReader, max_calls: int) -> list[ZoomResult]:
    """Run every chain to its end, batching the live chains of each step into one `backend.generate` call.

    Args:
        backend: a `rollout.generate` backend.
        episodes: chains to run.
        sampling: decoding settings of every turn.
        family, min_pixels, max_pixels: how crops are smart-resized (as in training).
        read_call: turn text -> (has a tool call, its box in the frame of the last image, or None if unreadable).
        max_calls: zoom calls allowed per chain.

    Returns:
        One `ZoomResult` per episode, in order.
    """
    results = [ZoomResult() for _ in episodes]
    convs = [(list(e.messages), list(e.images), e.view) for e in episodes]
    originals: dict[int, Any] = {}
    live = list(range(len(episodes)))
    for step in range(max_calls + 1):
        if not live:
            break
        gens: list[Generation] = backend.generate([Request(convs[i][0], convs[i][1]) for i in live], sampling)
        still = []
        for i, g in zip(live, gens, strict=True):
            res = results[i]
            res.turns.append(g.text)
            res.num_tokens += g.num_tokens
            res.truncated = g.truncated
            has_call, model_box = read_call(g.text)
            if not has_call:
                res.stop = "answer"
                continue
            messages, images, view = convs[i]
            if step == max_calls:
                res.stop = "max_calls"
                continue
            if model_box is None:
                res.steps.append(ZoomStep(g.text, None, list(view.region), False))
                res.stop = "invalid_call"
                continue
            if i not in originals:
                o = episodes[i].original
                originals[i] = load_rgb(o) if isinstance(o, (str, Path, Image.Image)) else o
            original = originals[i]
            box = view.to_original_box(model_box)
            region = crop_box(box, original.width, original.height)
            nxt = make_view(region, family, min_pixels, max_pixels)
            crop = resize_to(original.crop(region), nxt.size)
            res.steps.append(ZoomStep(g.text, [float(v) for v in box], list(view.region), True, crop, list(region)))
            messages.append({"role": "assistant", "content": [_text(g.text)]})
            messages.append({"role": "user", "content": [{"type": "image"}, _text(ZOOM_CROP_TEXT)]})
            images.append(crop)
            convs[i] = (messages, images, nxt)
            still.append(i)
        live = still
        for i in [i for i in originals if i not in live]:
            del originals[i]  # free decoded originals of finished chains
    return results
