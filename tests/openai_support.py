"""Helpers shared by the tests/test_openai_*.py modules: fixtures and parser runs."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from llmswitch.events import Accumulator, Event
from llmswitch.messages import ChatRequest, ChatResponse, to_messages
from llmswitch.providers.openai import OpenAIAdapter
from llmswitch.wire import HttpResponse

FIXTURES = Path(__file__).parent / "fixtures" / "openai"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def chat_request(model: str = "gpt-4o-mini", provider: str = "openai", **kw: Any) -> ChatRequest:
    messages = kw.pop("messages", [{"role": "user", "content": "Hi"}])
    return ChatRequest(provider=provider, model=model, messages=to_messages(messages), **kw)


def run_stream(
    pieces: Iterable[bytes], request: ChatRequest | None = None
) -> tuple[list[Event], ChatResponse]:
    """Feed ``pieces`` to a fresh parser; the events and the response they add up to."""
    request = request or chat_request()
    parser = OpenAIAdapter().stream_parser(request)
    events: list[Event] = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    events.extend(parser.close())
    acc = Accumulator(request.provider, request.model)
    for event in events:
        acc.add(event)
    return events, acc.snapshot()


def parse_body(body: bytes, request: ChatRequest | None = None, status: int = 200) -> ChatResponse:
    request = request or chat_request()
    response = HttpResponse(status=status, headers={"content-type": "application/json"}, body=body)
    return OpenAIAdapter().parse_response(request, response)


def awkward_splits(data: bytes) -> dict[str, list[bytes]]:
    """Ways a network can cut ``data``: whole, byte by byte, and at the boundaries that
    trip decoders (inside ``data:``, inside a UTF-8 character, between ``\\r`` and ``\\n``)."""
    out: dict[str, list[bytes]] = {
        "whole": [data],
        "bytes": [data[i : i + 1] for i in range(len(data))],
    }
    cuts: list[int] = []
    i = data.find(b"data:")
    if i >= 0:
        cuts += [i + 2, i + 5]
    for k, byte in enumerate(data):
        if byte >= 0xC0:  # a UTF-8 lead byte: cut right after it
            cuts.append(k + 1)
            break
    j = data.find(b"\r\n")
    if j >= 0:
        cuts.append(j + 1)
    out["awkward"] = _cut(data, sorted(set(cuts)))
    out["sevens"] = [data[i : i + 7] for i in range(0, len(data), 7)]
    return out


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]
