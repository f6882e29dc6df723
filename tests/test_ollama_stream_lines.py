"""The Ollama stream parser's verdict on single lines of a stream: the common text line,
the lines that take the general branches, and lines that are not what a stream holds."""

from __future__ import annotations

import json

import pytest

from llmswitch.errors import ProviderError
from llmswitch.events import Event, ReasoningDelta, StreamStart, TextDelta
from llmswitch.messages import ChatRequest, Message
from llmswitch.providers.ollama import OllamaAdapter

REQUEST = ChatRequest(
    provider="ollama", model="llama3.2", messages=(Message(role="user", content="hi"),)
)
FIRST = b'{"model":"llama3.2","message":{"role":"assistant","content":"Hi"},"done":false}\n'


def line(message: object) -> bytes:
    return json.dumps({"model": "llama3.2", "message": message, "done": False}).encode() + b"\n"


def after_first(data: bytes) -> list[Event]:
    parser = OllamaAdapter().stream_parser(REQUEST)
    assert parser.feed(FIRST) == [StreamStart(None, "llama3.2"), TextDelta(0, "Hi")]
    return parser.feed(data)


@pytest.mark.parametrize(
    ("message", "events"),
    [
        ({"role": "assistant", "content": " there"}, [TextDelta(0, " there")]),
        ({"role": "assistant", "content": ""}, []),
        ({"content": "x", "role": "assistant"}, [TextDelta(0, "x")]),  # key order
        ({"role": "assistant", "content": "", "thinking": "hm"}, [ReasoningDelta(0, "hm")]),
        ({"role": "assistant", "content": "a", "images": None}, [TextDelta(0, "a")]),
        ({"content": "no role"}, [TextDelta(0, "no role")]),
    ],
)
def test_message_lines(message: object, events: list[Event]) -> None:
    assert after_first(line(message)) == events


@pytest.mark.parametrize("data", [b"[1,2]", b'"text"', b"42", b"null", b"true", b"1.5"])
def test_a_json_line_that_is_not_an_object_is_malformed(data: bytes) -> None:
    with pytest.raises(ProviderError, match="not a JSON object") as info:
        after_first(data + b"\n")
    assert info.value.body is not None and data.decode() in info.value.body


@pytest.mark.parametrize("content", [7, None, ["a"], {"t": "a"}])
def test_content_that_is_not_a_string_is_malformed(content: object) -> None:
    data = line({"role": "assistant", "content": content})
    if content is None:  # no content: nothing to emit
        assert after_first(data) == []
        return
    with pytest.raises(ProviderError, match="content is not a string"):
        after_first(data)
