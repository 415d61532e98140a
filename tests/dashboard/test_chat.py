"""Prompts and completions as conversations: TRL's chat-message JSON, plain text, zoom turns, hostile values."""

from __future__ import annotations

import json

from dashboard.chat import conversation, prompt_messages

MSGS = [{"role": "system", "content": [{"type": "text", "text": "sys"}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "find the plane"},
                                     {"type": "image"}]}]


def test_chat_json_prompt_places_images_in_order():
    msgs, structured = prompt_messages(json.dumps(MSGS), ["a.png", "b.png"])
    assert structured
    assert msgs == [{"role": "system", "label": "system", "parts": [{"text": "sys"}]},
                    {"role": "user", "label": "user", "parts": [{"image": "a.png"}, {"text": "find the plane"},
                                                                {"image": "b.png"}]}]


def test_missing_and_unplaced_images():
    msgs, _ = prompt_messages(MSGS, ["a.png"])  # a decoded list works too; 2 placeholders, 1 image
    assert msgs[1]["parts"][2] == {"text": "[image]"}
    msgs, _ = prompt_messages(json.dumps([{"role": "user", "content": "hi"}]), ["a.png"])
    assert msgs == [{"role": "user", "label": "user", "parts": [{"image": "a.png"}, {"text": "hi"}]}]


def test_plain_and_malformed_prompts_stay_text():
    msgs, structured = prompt_messages("<image> Do it.", ["a.png"])
    assert not structured and msgs == [{"role": "user", "label": "prompt",
                                        "parts": [{"image": "a.png"}, {"text": "<image> Do it."}]}]
    for bad in ('[{"role": "user"', "[1, 2]", '[{"no_role": 1}]'):
        msgs, structured = prompt_messages(bad, [])
        assert not structured and msgs[0]["parts"] == [{"text": bad}]
    msgs, _ = prompt_messages(json.dumps([{"role": "hacker", "content": [{"type": "weird", "x": 1}]}]), [])
    assert msgs[0]["role"] == "user" and msgs[0]["label"] == "hacker" and msgs[0]["parts"] == [
        {"text": '{"type": "weird", "x": 1}'}]
    assert prompt_messages(None, []) == ([{"role": "user", "label": "prompt", "parts": []}], False)


def test_conversation_with_zoom_turns():
    turns = [{"tool_call": "<tool_call>{...}</tool_call>", "box": [1, 2, 3, 4], "crop_image": "c0.png"},
             {"tool_call": "<tool_call>bad", "box": None, "crop_image": None, "error": "no box"}, "junk"]
    conv = conversation(json.dumps(MSGS), ["a.png", "b.png"], "answer: yellow", turns)
    assert [m["role"] for m in conv] == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert conv[3]["parts"] == [{"image": "c0.png"}, {"text": "crop [1, 2, 3, 4] (original pixels)"}]
    assert conv[5]["parts"] == [{"text": "error: no box"}]
    assert conv[-1] == {"role": "assistant", "label": "assistant", "parts": [{"text": "answer: yellow"}]}
