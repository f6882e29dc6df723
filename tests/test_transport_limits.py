"""Hostile streams cost bounded work and memory (issue 7 item 5): stream framing is
linear in the input however it is cut, one line/event is capped, and a decompressed
body is capped; all as a typed ``ProviderError``."""

from __future__ import annotations

import asyncio
import gzip
import json
import resource
import time
import zlib
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmswitch import AsyncClient, Client, ProviderError
from llmswitch.messages import ChatRequest, Message
from llmswitch.providers.gemini._stream import GeminiStreamParser, _depth_change
from llmswitch.wire import limits
from llmswitch.wire.eventstream import EventStreamDecoder
from llmswitch.wire.ndjson import NDJSONDecoder
from llmswitch.wire.sse import SSEDecoder
from tests.support.bedrock import event
from tests.support.loopback import Loopback, Reply
from tests.support.upstreams import OPENAI

GEMINI = ChatRequest(
    provider="gemini", model="gemini-2.5-flash", messages=(Message(role="user", content="hi"),)
)
HI = [{"role": "user", "content": "hi"}]
MODEL = "openai/gpt-4o-mini"
MiB = 1 << 20


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _feed_until_error(feed: object, data: bytes, size: int) -> tuple[ProviderError, int]:
    fed = 0
    for piece in _pieces(data, size):
        fed += len(piece)
        try:
            feed(piece)  # type: ignore[operator]
        except ProviderError as exc:
            return exc, fed
    raise AssertionError("no cap error")


# ------------------------------------------------------------------ line caps


@pytest.mark.parametrize("kind", ["sse", "ndjson", "gemini"])
def test_a_50_mb_line_in_8_kib_reads_stops_at_the_16_mib_cap(kind: str) -> None:
    line = b"data: " + b"x" * (50 * MiB) if kind != "ndjson" else b"x" * (50 * MiB)
    feed = {
        "sse": lambda: SSEDecoder().feed,
        "ndjson": lambda: NDJSONDecoder().feed,
        "gemini": lambda: GeminiStreamParser(GEMINI).feed,
    }[kind]()
    exc, fed = _feed_until_error(feed, line, 8192)
    assert "stream line exceeds 16 MiB" in str(exc)
    assert limits.MAX_LINE_BYTES < fed <= limits.MAX_LINE_BYTES + 8192  # raised at the cap
    assert exc.body is not None and exc.body.startswith(line[:50].decode())
    assert len(exc.body) <= 300


def test_caps_are_configurable_per_decoder_and_process_wide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = SSEDecoder(max_line=1024)
    assert small.feed(b"data: " + b"a" * 1000 + b"\n\n") == [(None, b"a" * 1000)]
    with pytest.raises(ProviderError, match="stream line exceeds 1 KiB"):
        small.feed(b"data: " + b"a" * 2000 + b"\n\n")  # one read holding a long line
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 4096)
    with pytest.raises(ProviderError, match="exceeds 4 KiB"):
        _feed_until_error(NDJSONDecoder().feed, b"y" * 10000, 100)
        raise ProviderError("exceeds 4 KiB")  # not reached: the helper raises first
    assert NDJSONDecoder().max_line == 4096


def test_an_sse_event_of_many_short_lines_is_capped_too() -> None:
    decoder = SSEDecoder(max_line=64 * 1024)
    lines = b"data: " + b"x" * 40 + b"\n"
    exc, fed = _feed_until_error(decoder.feed, lines * 20000, 1000)  # one event, never ended
    assert "exceeds 64 KiB" in str(exc)
    assert fed < 64 * 1024 * len(lines) / 40 + 1000
    # many events of the same total size are fine
    ok = SSEDecoder(max_line=64 * 1024)
    assert sum(len(ok.feed(p)) for p in _pieces((lines + b"\n") * 20000, 1000)) == 20000


def test_a_gemini_raw_json_error_that_never_closes_is_capped() -> None:
    parser = GeminiStreamParser(GEMINI)
    body = (
        b'{"error": {"message": [\n'
        + b'"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",\n' * 500_000
    )
    exc, fed = _feed_until_error(parser.feed, body, 8192)
    assert "stream line exceeds 16 MiB" in str(exc)
    assert fed <= limits.MAX_LINE_BYTES + 2 * 8192


def test_gemini_depth_of_raw_json_ignores_brackets_in_strings_and_escapes() -> None:
    assert _depth_change(b'{"a": "}}]]", "b": [', False) == (2, False)
    assert _depth_change(b'{"a": "x\\"}\\\\", "b": "open {', False) == (1, True)
    assert _depth_change(b'still in } string" }', True) == (-1, False)
    assert _depth_change(b'"\\\\\\"" ]', False) == (-1, False)


# ------------------------------------------------------------------ linear framing


def test_decoders_are_linear_in_tiny_reads() -> None:
    # 4 MB cut into 64-byte reads: quadratic framing would copy ~130 GB here.
    long_line = b"data: " + b"z" * (4 * MiB) + b"\n\n"
    sse = SSEDecoder()
    got = [e for p in _pieces(long_line, 64) for e in sse.feed(p)]
    assert got == [(None, b"z" * (4 * MiB))]

    nd = NDJSONDecoder()
    lines = [
        line for p in _pieces(b'{"k": "' + b"q" * (4 * MiB) + b'"}\n', 64) for line in nd.feed(p)
    ]
    assert len(lines) == 1 and json.loads(lines[0])["k"] == "q" * (4 * MiB)

    gem = GeminiStreamParser(GEMINI)
    chunk = {"candidates": [{"content": {"parts": [{"text": "w" * (4 * MiB)}]}}]}
    data = b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n"
    events = [e for p in _pieces(data, 64) for e in gem.feed(p)]
    assert "".join(getattr(e, "text", "") for e in events) == "w" * (4 * MiB)

    many = b"".join(b'data: {"n": %d}\r\n\r\n' % i for i in range(100_000))  # ~2 MB
    sse = SSEDecoder()
    assert sum(len(sse.feed(p)) for p in _pieces(many, 64)) == 100_000


def test_bedrock_frame_of_20_mib_in_1_kib_reads_is_linear() -> None:
    frame = event(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "t" * (20 * MiB)}}
    )
    decoder, start = EventStreamDecoder(), time.monotonic()
    # 20,480 reads: quadratic buffering copied ~200 GB here (~19 s); linear takes ~0.2 s
    frames = [f for p in _pieces(frame, 1024) for f in decoder.feed(p)]
    assert len(frames) == 1 and decoder.buffered == 0
    assert time.monotonic() - start < 10
    assert json.loads(frames[0][1])["delta"]["text"] == "t" * (20 * MiB)
    # a truncated frame is still reported as buffered (the parser calls it truncation)
    decoder.feed(frame[: len(frame) // 2])
    decoder.feed(frame[len(frame) // 2 : -10])
    assert decoder.buffered == len(frame) - 10


# ------------------------------------------------------------------ decompressed bodies


def _gzip_bomb(inflated: int) -> bytes:
    """A gzip body of zeros that inflates to ``inflated`` bytes, built without
    compressing them all: after a full flush, every further MiB of zeros compresses
    to the same bytes."""
    zeros = bytes(MiB)
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH) == block
    return head + block * (inflated // MiB - 1) + c.flush()  # (trailer CRC is wrong: unread)


BOMB = _gzip_bomb(1 << 30)


_env = partial(OPENAI.env, key="sk-limits-test-key-0000")


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_1_mb_gzip_bomb_stops_at_the_body_cap(
    loopback: Loopback, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(BOMB) < 1.1 * MiB
    monkeypatch.setattr(limits, "MAX_BODY_BYTES", 8 * MiB)
    loopback.route(
        "POST", "/v1/chat/completions", Reply(body=BOMB, headers={"content-encoding": "gzip"})
    )
    before, start = _maxrss_mb(), time.monotonic()
    with pytest.raises(ProviderError) as info:
        if mode == "sync":
            with Client(env=_env(loopback)) as client:
                client.chat(MODEL, messages=HI)
        else:

            async def run() -> None:
                async with AsyncClient(env=_env(loopback)) as client:
                    await client.chat(MODEL, messages=HI)

            asyncio.run(run())
    assert "response body exceeds 8 MiB after decompression" in str(info.value)
    assert info.value.provider == "openai" and info.value.status_code == 200
    assert _maxrss_mb() - before < 300
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_gzip_bomb_stream_stops_at_the_line_cap(
    loopback: Loopback, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 4 * MiB)
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply(body=BOMB, content_type="text/event-stream", headers={"content-encoding": "gzip"}),
    )
    before = _maxrss_mb()
    with pytest.raises(ProviderError, match="stream line exceeds 4 MiB"):
        if mode == "sync":
            with Client(env=_env(loopback)).stream(MODEL, messages=HI) as s:
                list(s)
        else:

            async def run() -> None:
                async with AsyncClient(env=_env(loopback)) as c:
                    async with c.stream(MODEL, messages=HI) as s:
                        _ = [e async for e in s]

            asyncio.run(run())
    assert _maxrss_mb() - before < 300


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_bodies_under_the_cap_are_read_whole(
    loopback: Loopback, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_BODY_BYTES", 64 * 1024)
    text = "é" * 20000  # 40 KB of content, under the cap once inflated
    body = json.dumps(
        {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                      "finish_reason": "stop"}]},
        ensure_ascii=False,
    ).encode()  # fmt: skip
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply(body=gzip.compress(body), headers={"content-encoding": "gzip"}),
        Reply(chunks=_pieces(body, 1000)),  # chunked, no Content-Length
    )
    if mode == "sync":
        with Client(env=_env(loopback)) as client:
            answers = [client.chat(MODEL, messages=HI).text for _ in range(2)]
    else:

        async def run() -> list[str]:
            async with AsyncClient(env=_env(loopback)) as client:
                return [(await client.chat(MODEL, messages=HI)).text for _ in range(2)]

        answers = asyncio.run(run())
    assert answers == [text, text]


# ------------------------------------------------------------------ split invariance

_SSE_BYTES = st.lists(
    st.sampled_from(
        [b"data: a", b"data:b", b"event: e", b": c", b"", b"\n", b"\r", b"\r\n", b"x", b"\xc3\xa9"]
    ),
    max_size=40,
).map(b"".join)


def _split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=300, deadline=None)
@given(_SSE_BYTES, st.lists(st.integers(0, 400), max_size=12))
def test_sse_events_do_not_depend_on_how_reads_are_cut(data: bytes, cuts: list[int]) -> None:
    whole = SSEDecoder()
    expected = whole.feed(data) + whole.close()
    pieces = SSEDecoder()
    got = [e for p in _split_at(data, cuts) for e in pieces.feed(p)] + pieces.close()
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(_SSE_BYTES, st.lists(st.integers(0, 400), max_size=12))
def test_ndjson_lines_do_not_depend_on_how_reads_are_cut(data: bytes, cuts: list[int]) -> None:
    whole = NDJSONDecoder()
    expected = whole.feed(data) + whole.close()
    pieces = NDJSONDecoder()
    got = [line for p in _split_at(data, cuts) for line in pieces.feed(p)] + pieces.close()
    assert got == expected


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.binary(max_size=300), min_size=1, max_size=5),
    st.lists(st.integers(0, 5000), max_size=12),
)
def test_bedrock_frames_do_not_depend_on_how_reads_are_cut(
    payloads: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(event("x", {"b": p.hex()}) for p in payloads)
    decoder = EventStreamDecoder()
    got = [f for p in _split_at(data, cuts) for f in decoder.feed(p)]
    assert [json.loads(f[1])["b"] for f in got] == [p.hex() for p in payloads]
    assert decoder.buffered == 0
