"""Feeding stream parsers: byte splitters, and a ``Feeder`` that runs a provider's parser
over pieces and folds the events into the ``ChatResponse`` a user would get."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from llmswitch.events import Accumulator, Event, TextDelta
from llmswitch.messages import ChatRequest, ChatResponse
from llmswitch.wire import HttpResponse
from tests.support.fixtures import Fixtures

# --------------------------------------------------------------------------- splitters


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def split_at(data: bytes, at: int) -> list[bytes]:
    return [data[:at], data[at:]]


def splits_in_two(data: bytes, step: int = 1) -> Iterator[tuple[int, list[bytes]]]:
    """``(i, [data[:i], data[i:]])`` for every ``step``-th position, both ends included."""
    for i in range(0, len(data) + 1, step):
        yield i, split_at(data, i)


def in_pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def split_awkward(
    data: bytes, pattern: tuple[int, ...] = (1, 3, 2, 7, 5, 11, 13, 64)
) -> list[bytes]:
    """Cut ``data`` into pieces of varying small sizes (splits land inside lines,
    inside ``data:`` prefixes, between ``\\r`` and ``\\n`` and inside UTF-8 characters)."""
    out, i, k = [], 0, 0
    while i < len(data):
        n = pattern[k % len(pattern)]
        out.append(data[i : i + n])
        i += n
        k += 1
    return out


def awkward_splits(data: bytes) -> dict[str, list[bytes]]:
    """Ways a network can cut ``data``: whole, byte by byte, and at the boundaries that
    trip decoders (inside ``data:``, inside a UTF-8 character, between ``\\r`` and ``\\n``)."""
    out: dict[str, list[bytes]] = {"whole": [data], "bytes": byte_by_byte(data)}
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
    bounds = [0, *sorted(set(cuts)), len(data)]
    out["awkward"] = [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    out["sevens"] = in_pieces(data, 7)
    return out


# --------------------------------------------------------------------------- parsing


def feed(parser: Any, pieces: Iterable[bytes]) -> list[Event]:
    """Every event ``parser`` yields for ``pieces``, then for ``close()``."""
    events: list[Event] = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    events.extend(parser.close())
    return events


def texts(events: Iterable[Event]) -> list[str]:
    """The text of each ``TextDelta`` in ``events``, in order."""
    return [e.text for e in events if isinstance(e, TextDelta)]


def accumulate(events: Iterable[Event], provider: str, model: str) -> ChatResponse:
    acc = Accumulator(provider, model)
    for event in events:
        acc.add(event)
    return acc.snapshot()


class Feeder:
    """One provider's adapter and a default request: ``FEED = Feeder(GeminiAdapter, REQUEST)``.

    A fresh adapter and parser per run, as the client makes them per call."""

    def __init__(
        self, adapter: Callable[[], Any], request: ChatRequest, fixtures: Fixtures | None = None
    ) -> None:
        self.adapter = adapter
        self.request = request
        self.fixtures = fixtures

    def parser(self, request: ChatRequest | None = None) -> Any:
        return self.adapter().stream_parser(request or self.request)

    def parse(self, pieces: Iterable[bytes], request: ChatRequest | None = None) -> list[Event]:
        return feed(self.parser(request), pieces)

    def accumulate(
        self, events: Iterable[Event], request: ChatRequest | None = None
    ) -> ChatResponse:
        request = request or self.request
        return accumulate(events, request.provider, request.model)

    def run(
        self, pieces: Iterable[bytes], request: ChatRequest | None = None
    ) -> tuple[list[Event], ChatResponse]:
        """The events for ``pieces`` and the response they add up to."""
        events = self.parse(pieces, request)
        return events, self.accumulate(events, request)

    def streamed(self, data: bytes | str) -> ChatResponse:
        """The response for ``data`` in one piece (a ``str`` names a fixture)."""
        if isinstance(data, str):
            assert self.fixtures is not None, "Feeder(..., fixtures=...) to name fixtures"
            data = self.fixtures(data)
        return self.accumulate(self.parse([data]))

    def parse_body(
        self,
        body: bytes,
        request: ChatRequest | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> ChatResponse:
        """What ``chat()`` makes of ``body`` (a non-stream answer)."""
        headers = {"content-type": "application/json"} if headers is None else headers
        response = HttpResponse(status=status, headers=headers, body=body)
        return self.adapter().parse_response(request or self.request, response)
