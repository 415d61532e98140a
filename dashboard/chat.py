"""A rollout or eval row as a conversation: the prompt's system/user messages, each zoom turn's tool call and
crop, and the final completion, ready to draw as chat bubbles.

The rollout store keeps the prompt as TRL logged it: a JSON list of chat messages
(``[{"role": "system", "content": [{"type": "text", "text": ...}]}, {"role": "user", "content": [{"type":
"image"}, {"type": "text", ...}]}]``) for multimodal prompts, or plain text. Image placeholders take the row's
images in order. Anything else (malformed JSON, unknown part types) is shown as text, never dropped.
"""

from __future__ import annotations

import json
from typing import Any

ROLES = ("system", "user", "assistant", "tool")


def _text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _parts(content: Any, images: list[str], next_image: list[int]) -> list[dict[str, str]]:
    """Content (string or list of typed parts) -> [{"text": ...} | {"image": path}]."""
    if not isinstance(content, list):
        return [{"text": _text(content)}] if content not in (None, "") else []
    out: list[dict[str, str]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("image", "image_url"):
            k = next_image[0]
            next_image[0] += 1
            out.append({"image": images[k]} if k < len(images) else {"text": "[image]"})
        elif kind == "text":
            out.append({"text": _text(part.get("text", ""))})
        else:
            out.append({"text": _text(part)})
    return out


def prompt_messages(prompt: Any, images: list[str] | None) -> tuple[list[dict[str, Any]], bool]:
    """(messages, structured) of a stored prompt: [{"role", "parts"}], and whether it was a chat message list.

    A plain-text prompt is one user message with every image first.
    """
    images = [str(p) for p in images or []]
    value = prompt
    if isinstance(prompt, str) and prompt.lstrip().startswith("["):
        try:
            value = json.loads(prompt)
        except ValueError:
            value = prompt
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        next_image = [0]
        msgs = [{"role": str(m["role"]) if m["role"] in ROLES else "user", "label": str(m["role"]),
                 "parts": _parts(m.get("content"), images, next_image)} for m in value]
        # Images the messages did not place (a prompt without placeholders) go with the first user message.
        rest = [{"image": p} for p in images[next_image[0]:]]
        if rest:
            user = next((m for m in msgs if m["role"] == "user"), None)
            if user is None:
                msgs.append(user := {"role": "user", "label": "user", "parts": []})
            user["parts"] = rest + user["parts"]
        return msgs, True
    parts = [{"image": p} for p in images] + ([{"text": _text(prompt)}] if prompt not in (None, "") else [])
    return [{"role": "user", "label": "prompt", "parts": parts}], False


def conversation(prompt: Any, images: list[str] | None, completion: Any = None,
                 turns: Any = None) -> list[dict[str, Any]]:
    """The whole exchange: prompt messages, then per zoom turn the assistant's tool call and the tool's crop (or
    its error), then the final completion as the assistant's last message."""
    msgs, _ = prompt_messages(prompt, images)
    for k, t in enumerate(turns if isinstance(turns, list) else []):
        if not isinstance(t, dict):
            continue
        msgs.append({"role": "assistant", "label": f"assistant · tool call {k + 1}",
                     "parts": [{"text": _text(t.get("tool_call", ""))}]})
        parts: list[dict[str, str]] = []
        if t.get("crop_image"):
            parts.append({"image": str(t["crop_image"])})
        if t.get("box") is not None:
            parts.append({"text": f"crop {_text(t['box'])} (original pixels)"})
        if t.get("error"):
            parts.append({"text": f"error: {_text(t['error'])}"})
        msgs.append({"role": "tool", "label": f"tool · image_zoom_in {k + 1}", "parts": parts})
    if completion not in (None, ""):
        msgs.append({"role": "assistant", "label": "assistant", "parts": [{"text": _text(completion)}]})
    return msgs
