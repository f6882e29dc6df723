"""Property-based fuzzing of every adapter's parsers (issue 7, item 3).

Provider bytes of any shape either parse into well-typed llmswitch values or raise a
:class:`ProviderError` -- never a ``KeyError``/``TypeError``/``AttributeError`` or a
response holding a number where a string belongs. Inputs are arbitrary JSON values and
mutations of the real fixtures in ``tests/fixtures`` (one field replaced by an arbitrary
value), fed to stream parsers in arbitrary byte splits.

Deterministic (``derandomize=True``) and bounded: the whole module runs in well under
30 s on a busy CI machine.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmswitch.errors import ProviderError
from llmswitch.events import (
    Accumulator,
    Event,
    ReasoningDelta,
    ReasoningEnd,
    RefusalDelta,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from llmswitch.messages import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    EmbedRequest,
    ModelInfo,
    ReasoningBlock,
    ToolCall,
    Usage,
    to_messages,
)
from llmswitch.providers.anthropic import AnthropicAdapter
from llmswitch.providers.base import Endpoint
from llmswitch.providers.bedrock import BedrockAdapter
from llmswitch.providers.gemini import GeminiAdapter
from llmswitch.providers.ollama import OllamaAdapter
from llmswitch.providers.openai import OpenAIAdapter
from llmswitch.wire import HttpResponse
from llmswitch.wire.eventstream import EventStreamDecoder
from tests.support.bedrock import frame
from tests.support.fixtures import ROOT as FIXTURES

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FINISH = {"stop", "length", "tool_calls", "content_filter", "error", "other"}

ADAPTERS: dict[str, Any] = {
    "openai": OpenAIAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
    "bedrock": BedrockAdapter(),
    "ollama": OllamaAdapter(),
}
MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
    "bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "ollama": "llama3.2",
}


def request(provider: str) -> ChatRequest:
    return ChatRequest(
        provider=provider,
        model=MODELS[provider],
        messages=to_messages([{"role": "user", "content": "Hi"}]),
    )


def embed_request(provider: str) -> EmbedRequest:
    return EmbedRequest(provider=provider, model="embedder", inputs=("a", "b"))


def endpoint(provider: str) -> Endpoint:
    return Endpoint(provider=provider, base_url="http://127.0.0.1:9")


def ok(body: bytes) -> HttpResponse:
    return HttpResponse(status=200, headers={}, body=body)


# --------------------------------------------------------------------------- checks


def _opt_str(value: object) -> bool:
    return value is None or type(value) is str


def _opt_int(value: object) -> bool:
    return value is None or type(value) is int


def check_usage(usage: Usage) -> None:
    assert isinstance(usage, Usage)
    for name in Usage.__slots__:  # type: ignore[attr-defined]
        assert _opt_int(getattr(usage, name)), name


def check_call(call: ToolCall) -> None:
    assert type(call.id) is str and type(call.name) is str
    assert type(call.arguments) is dict and _opt_str(call.signature)


def check_block(block: ReasoningBlock) -> None:
    assert type(block.text) is str
    assert _opt_str(block.signature) and _opt_str(block.redacted_data)


def check_response(resp: ChatResponse) -> None:
    assert isinstance(resp, ChatResponse)
    assert type(resp.text) is str and type(resp.model) is str and resp.model
    assert _opt_str(resp.id) and _opt_str(resp.reasoning) and _opt_str(resp.refusal)
    assert resp.finish_reason in FINISH and _opt_str(resp.raw_finish_reason)
    for call in resp.tool_calls:
        check_call(call)
    for block in resp.reasoning_blocks:
        check_block(block)
    check_usage(resp.usage)
    assert resp.cost is None or type(resp.cost) is float


def check_event(event: Event) -> None:
    if isinstance(event, TextDelta | ReasoningDelta | RefusalDelta):
        assert type(event.index) is int and type(event.text) is str
    elif isinstance(event, ToolCallStart):
        assert type(event.index) is int and type(event.id) is str and type(event.name) is str
    elif isinstance(event, ToolCallDelta):
        assert type(event.index) is int and type(event.arguments) is str
    elif isinstance(event, ToolCallEnd):
        assert type(event.index) is int
        check_call(event.tool_call)
    elif isinstance(event, ReasoningEnd):
        assert type(event.index) is int
        check_block(event.block)
    elif isinstance(event, StreamStart):
        assert _opt_str(event.id) and _opt_str(event.model)
    else:
        assert isinstance(event, StreamEnd)
        assert event.finish_reason in FINISH and _opt_str(event.raw_finish_reason)
        check_usage(event.usage)


def check_events(events: list[Event], req: ChatRequest) -> None:
    acc = Accumulator(req.provider, req.model)
    for event in events:
        check_event(event)
        acc.add(event)
    assert sum(isinstance(e, StreamEnd) for e in events) <= 1
    check_response(acc.snapshot())


def check_models(result: tuple[list[ModelInfo], str | None]) -> None:
    models, cursor = result
    assert _opt_str(cursor)
    for m in models:
        assert isinstance(m, ModelInfo) and type(m.id) is str and type(m.provider) is str
        assert _opt_str(m.display_name)
        for name in ("context_window", "max_output_tokens", "created"):
            assert _opt_int(getattr(m, name)), name
        for name in ("supports_tools", "supports_vision", "supports_reasoning"):
            assert getattr(m, name) in (None, True, False), name
        assert m.supports_embeddings in (None, True, False)


def check_embeddings(resp: EmbeddingResponse) -> None:
    assert isinstance(resp, EmbeddingResponse) and type(resp.model) is str
    assert type(resp.vectors) is list
    for vector in resp.vectors:
        assert type(vector) is list and all(type(x) is float for x in vector)
    check_usage(resp.usage)


def must_parse_or_fail(parse: Callable[[], Any], check: Callable[[Any], None]) -> None:
    """``parse()`` returns something ``check`` accepts, or raises ProviderError."""
    try:
        result = parse()
    except ProviderError as exc:
        assert exc.body is None or type(exc.body) is str
        return
    check(result)


def run_stream(provider: str, pieces: list[bytes]) -> None:
    req = request(provider)
    parser = ADAPTERS[provider].stream_parser(req)
    events: list[Event] = []
    try:
        for piece in pieces:
            events.extend(parser.feed(piece))
        events.extend(parser.close())
    except ProviderError:
        # A parser that failed stays failed: the next call raises the same error.
        with pytest.raises(ProviderError):
            parser.close()
        check_events(events, req)  # what came before the failure is still well typed
        return
    check_events(events, req)


# --------------------------------------------------------------------------- inputs


def _keys(value: Any, into: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            into.add(k)
            _keys(v, into)
    elif isinstance(value, list):
        for v in value:
            _keys(v, into)


def _json_fixtures(provider: str) -> list[Any]:
    out = []
    for path in sorted((FIXTURES / provider).iterdir()):
        if path.suffix == ".json":
            out.append(json.loads(path.read_bytes()))
        elif path.suffix in (".sse", ".ndjson"):
            for line in path.read_bytes().splitlines():
                line = line.removeprefix(b"data:").strip()
                if line.startswith(b"{"):
                    with contextlib.suppress(ValueError):  # the truncated-stream fixtures
                        out.append(json.loads(line))
    return out


VOCAB: set[str] = set()
for _provider in ADAPTERS:
    for _doc in _json_fixtures(_provider):
        _keys(_doc, VOCAB)
# Keys the parsers read that a fixture may not hold.
VOCAB |= {"error", "index", "type", "delta", "text", "finish_reason", "stop_reason", "done"}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(sorted(VOCAB))
)
keys = st.sampled_from(sorted(VOCAB)) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=16,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _replace(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    doc = copy.deepcopy(doc)
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return doc


@st.composite
def mutated(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one to three fields (or the whole) replaced by arbitrary JSON."""
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(doc))))
        doc = _replace(doc, path, draw(json_values))
    return doc


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def body_for(draw: st.DrawFn, fixtures: list[bytes]) -> bytes:
    """A JSON body: an arbitrary value, or a mutated fixture."""
    if draw(st.booleans()):
        return dumps(draw(json_values))
    return dumps(draw(mutated(json.loads(draw(st.sampled_from(fixtures))))))


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    pieces, last = [], 0
    for cut in cuts:
        pieces.append(data[last:cut])
        last = cut
    pieces.append(data[last:])
    return pieces


def _text_events(data: bytes, sep: bytes) -> list[bytes]:
    return [e for e in data.replace(b"\r\n", b"\n").split(sep) if e.strip()]


@st.composite
def mutated_text_stream(draw: st.DrawFn, streams: list[bytes], sep: bytes) -> bytes:
    """A fixture stream (SSE events or NDJSON lines) with one JSON payload mutated."""
    events = _text_events(draw(st.sampled_from(streams)), sep)
    i = draw(st.integers(0, len(events) - 1))
    head, _, payload = events[i].rpartition(b"data: ") if sep == b"\n\n" else (b"", b"", events[i])
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = None
    events[i] = head + (b"data: " if sep == b"\n\n" else b"") + dumps(draw(mutated(doc)))
    if draw(st.booleans()):  # cut the stream short somewhere
        events = events[: draw(st.integers(1, len(events)))]
    return sep.join(events) + sep


def _files(provider: str, suffix: str, prefix: str = "") -> list[bytes]:
    return [
        p.read_bytes()
        for p in sorted((FIXTURES / provider).iterdir())
        if p.suffix == suffix and p.name.startswith(prefix)
    ]


def _frames(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    return EventStreamDecoder().feed(data)


def _encode(headers: dict[str, Any], payload: bytes) -> bytes:
    return frame(
        {k: v for k, v in headers.items() if isinstance(v, str | bytes | bool | int)}, payload
    )


@st.composite
def mutated_eventstream(draw: st.DrawFn) -> bytes:
    frames = _frames(draw(st.sampled_from(_files("bedrock", ".bin"))))
    i = draw(st.integers(0, len(frames) - 1))
    headers, payload = frames[i]
    doc = json.loads(payload) if payload else {}
    frames[i] = (headers, dumps(draw(mutated(doc))))
    if draw(st.booleans()):
        frames = frames[: draw(st.integers(1, len(frames)))]
    return b"".join(_encode(h, p) for h, p in frames)


# --------------------------------------------------------------------------- chat bodies


def _answers(provider: str, prefix: str = "") -> list[bytes]:
    """The provider's chat-answer fixtures (error bodies are left out)."""
    out = []
    for body in _files(provider, ".json", prefix):
        try:
            ADAPTERS[provider].parse_response(request(provider), ok(body))
        except ProviderError:
            continue
        out.append(body)
    return out


CHAT_FIXTURES = {
    "openai": _answers("openai", "chat_"),
    "anthropic": _answers("anthropic"),
    "gemini": _answers("gemini"),
    "bedrock": _answers("bedrock"),
    "ollama": _answers("ollama", "chat_"),
}


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
def test_chat_fixtures_are_loaded(provider: str) -> None:
    assert len(CHAT_FIXTURES[provider]) >= 2, provider
    for body in CHAT_FIXTURES[provider]:  # the unmutated fixtures are valid answers
        check_response(ADAPTERS[provider].parse_response(request(provider), ok(body)))


def _chat_test(provider: str) -> Callable[..., None]:
    @FUZZ
    @given(body=body_for(CHAT_FIXTURES[provider]))
    def test(body: bytes) -> None:
        adapter = ADAPTERS[provider]
        must_parse_or_fail(
            lambda: adapter.parse_response(request(provider), ok(body)), check_response
        )

    return test


test_openai_chat_body = _chat_test("openai")
test_anthropic_chat_body = _chat_test("anthropic")
test_gemini_chat_body = _chat_test("gemini")
test_bedrock_chat_body = _chat_test("bedrock")
test_ollama_chat_body = _chat_test("ollama")


# --------------------------------------------------------------------------- streams

SSE_STREAMS = {
    "openai": _files("openai", ".sse"),
    "anthropic": _files("anthropic", ".sse"),
    "gemini": _files("gemini", ".sse"),
}


def _sse_test(provider: str) -> Callable[..., None]:
    @FUZZ
    @given(data=st.data())
    def test(data: st.DataObject) -> None:
        stream = data.draw(mutated_text_stream(SSE_STREAMS[provider], b"\n\n"))
        run_stream(provider, data.draw(splits(stream)))

    return test


test_openai_stream = _sse_test("openai")
test_anthropic_stream = _sse_test("anthropic")
test_gemini_stream = _sse_test("gemini")


@FUZZ
@given(data=st.data())
def test_ollama_stream(data: st.DataObject) -> None:
    stream = data.draw(mutated_text_stream(_files("ollama", ".ndjson", "chat_"), b"\n"))
    run_stream("ollama", data.draw(splits(stream)))


@FUZZ
@given(data=st.data())
def test_bedrock_stream(data: st.DataObject) -> None:
    run_stream("bedrock", data.draw(splits(data.draw(mutated_eventstream()))))


@FUZZ
@given(provider=st.sampled_from(sorted(ADAPTERS)), data=st.binary(max_size=300))
def test_streams_of_arbitrary_bytes(provider: str, data: bytes) -> None:
    run_stream(provider, [data])


@FUZZ
@given(provider=st.sampled_from(["openai", "anthropic", "gemini"]), value=json_values)
def test_sse_events_of_arbitrary_json(provider: str, value: Any) -> None:
    name = b"event: message_start\n" if provider == "anthropic" else b""
    run_stream(provider, [name + b"data: " + dumps(value) + b"\n\n"])


@FUZZ
@given(value=json_values)
def test_ollama_lines_of_arbitrary_json(value: Any) -> None:
    run_stream("ollama", [dumps(value) + b"\n"])


@FUZZ
@given(
    name=st.sampled_from(
        ["messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop",
         "messageStop", "metadata"]
    ),
    value=json_values,
)  # fmt: skip
def test_bedrock_frames_of_arbitrary_json(name: str, value: Any) -> None:
    start = frame(
        {":message-type": "event", ":event-type": "messageStart"}, b'{"role":"assistant"}'
    )
    body = frame({":message-type": "event", ":event-type": name}, dumps(value))
    run_stream("bedrock", [start + body])


# --------------------------------------------------------------------------- models, embeddings

MODEL_FIXTURES = {
    "openai": _files("openai", ".json", "models_"),
    "anthropic": _files("anthropic", ".json", "models_"),
    "gemini": _files("gemini", ".json", "models_"),
    "bedrock": _files("bedrock", ".json", "models"),
    "ollama": _files("ollama", ".json", "tags"),
}


@FUZZ
@given(provider=st.sampled_from(sorted(ADAPTERS)), data=st.data())
def test_model_lists(provider: str, data: st.DataObject) -> None:
    body = data.draw(body_for(MODEL_FIXTURES[provider]))
    adapter = ADAPTERS[provider]
    must_parse_or_fail(lambda: adapter.parse_models(endpoint(provider), ok(body)), check_models)
    if provider == "ollama":
        must_parse_or_fail(
            lambda: adapter.parse_models_page(endpoint(provider), ok(body), None), check_models
        )


@FUZZ
@given(body=body_for(_files("ollama", ".json", "show_")))
def test_ollama_show(body: bytes) -> None:
    adapter = ADAPTERS["ollama"]
    must_parse_or_fail(
        lambda: adapter.parse_models_page(endpoint("ollama"), ok(body), '["llama3.2"]'),
        check_models,
    )
    assert adapter.parse_health(ok(body)) is None or type(adapter.parse_health(ok(body))) is str


EMBED_FIXTURES = {
    "openai": _files("openai", ".json", "embed_"),
    "gemini": _files("gemini", ".json", "embed_"),
    "bedrock": _files("bedrock", ".json", "embed_"),
    "ollama": _files("ollama", ".json", "embed"),
}


@FUZZ
@given(provider=st.sampled_from(sorted(EMBED_FIXTURES)), data=st.data())
def test_embeddings(provider: str, data: st.DataObject) -> None:
    body = data.draw(body_for(EMBED_FIXTURES[provider]))
    adapter = ADAPTERS[provider]
    must_parse_or_fail(
        lambda: adapter.parse_embed_response(embed_request(provider), ok(body)), check_embeddings
    )


def _count(result: Any) -> None:
    assert type(result) is int


@FUZZ
@given(provider=st.sampled_from(["gemini", "bedrock", "anthropic"]), data=st.data())
def test_count_tokens(provider: str, data: st.DataObject) -> None:
    seeds = [b'{"totalTokens": 12}', b'{"inputTokens": 12}', b'{"input_tokens": 12}']
    body = data.draw(body_for(seeds))
    must_parse_or_fail(lambda: ADAPTERS[provider].parse_count_tokens(ok(body)), _count)


# --------------------------------------------------------------------------- named regressions
# The examples of issue 7 item 3: each used to escape as KeyError/TypeError/AttributeError
# (or put a number where a string belongs); each is now a malformed-response error.

OPENAI_CHUNK = b'data: {"id":"c","model":"m","choices":%s}\n\n'
ANTHROPIC_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
    b'"model":"claude-sonnet-4-5","usage":{"input_tokens":3}}}\n\n'
)
GEMINI_CHUNK = b'data: {"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":%s}]}\n\n'
BEDROCK_START = frame(
    {":message-type": "event", ":event-type": "messageStart"}, b'{"role":"assistant"}'
)


def _bedrock(name: str, payload: bytes) -> bytes:
    return frame({":message-type": "event", ":event-type": name}, payload)


def _stream_fails(provider: str, *pieces: bytes) -> ProviderError:
    parser = ADAPTERS[provider].stream_parser(request(provider))
    with pytest.raises(ProviderError, match="malformed") as info:
        for piece in pieces:
            parser.feed(piece)
        parser.close()
    with pytest.raises(ProviderError):  # and stays failed
        parser.close()
    return info.value


def _chat_fails(provider: str, body: bytes) -> ProviderError:
    with pytest.raises(ProviderError, match="malformed") as info:
        ADAPTERS[provider].parse_response(request(provider), ok(body))
    return info.value


@pytest.mark.parametrize("choices", [b'{"0": {"delta": {"content": "hi"}}}', b'"abc"', b"5"])
def test_openai_choices_not_a_list(choices: bytes) -> None:
    _stream_fails("openai", OPENAI_CHUNK % choices)
    _chat_fails("openai", b'{"id":"c","model":"m","choices":%s}' % choices)


def test_list_as_finish_reason() -> None:
    choice = b'[{"index":0,"delta":{"content":"hi"},"finish_reason":["stop"]}]'
    _stream_fails("openai", OPENAI_CHUNK % choice)
    _chat_fails(
        "openai", b'{"choices":[{"index":0,"message":{"content":"hi"},"finish_reason":["stop"]}]}'
    )
    stop = b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":["end_turn"]}}\n\n'
    _stream_fails("anthropic", ANTHROPIC_START, stop, b"event: message_stop\ndata: {}\n\n")
    _chat_fails(
        "anthropic", b'{"content":[{"type":"text","text":"hi"}],"stop_reason":["end_turn"]}'
    )
    _stream_fails("gemini", GEMINI_CHUNK % b'["STOP"]')
    _chat_fails(
        "gemini", b'{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":["STOP"]}]}'
    )
    _stream_fails("bedrock", BEDROCK_START, _bedrock("messageStop", b'{"stopReason":["end_turn"]}'))
    _chat_fails(
        "bedrock", b'{"output":{"message":{"content":[{"text":"hi"}]}},"stopReason":["end_turn"]}'
    )


def test_number_as_model_never_reaches_the_response() -> None:
    _chat_fails("anthropic", b'{"content":[{"type":"text","text":"hi"}],"model":42}')
    bad_start = ANTHROPIC_START.replace(b'"claude-sonnet-4-5"', b"42")
    _stream_fails("anthropic", bad_start)
    _stream_fails("openai", b'data: {"id":"c","model":42,"choices":[]}\n\n')
    _stream_fails("gemini", b'data: {"candidates":[],"modelVersion":42}\n\n')
    for provider, body in [
        ("openai", b'{"model":42,"choices":[{"index":0,"message":{"content":"hi"}}]}'),
        ("gemini", b'{"modelVersion":42,"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}'),
        ("ollama", b'{"model":42,"message":{"role":"assistant","content":"hi"},"done":true}'),
    ]:  # lenient where the model is optional anyway: the requested model stands in
        resp = ADAPTERS[provider].parse_response(request(provider), ok(body))
        assert resp.model == MODELS[provider] and resp.text == "hi"


def test_number_as_text() -> None:
    _chat_fails("anthropic", b'{"content":[{"type":"text","text":42}]}')
    delta = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":42}}\n\n'
    _stream_fails("anthropic", ANTHROPIC_START, delta)
    _chat_fails("gemini", b'{"candidates":[{"content":{"parts":[{"text":42}]}}]}')
    _stream_fails("gemini", b'data: {"candidates":[{"content":{"parts":[{"text":42}]}}]}\n\n')
    _chat_fails("bedrock", b'{"output":{"message":{"content":[{"text":42}]}}}')
    text = b'{"contentBlockIndex":0,"delta":{"text":42}}'
    _stream_fails("bedrock", BEDROCK_START, _bedrock("contentBlockDelta", text))
    _chat_fails("ollama", b'{"message":{"role":"assistant","content":42},"done":true}')
    _stream_fails("ollama", b'{"message":{"role":"assistant","content":42},"done":false}\n')


@pytest.mark.parametrize("index", [b"[0]", b'"0"', b"null", b"true", b"1.5"])
def test_block_index_not_an_integer(index: bytes) -> None:
    delta = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%s,'
        b'"delta":{"type":"text_delta","text":"hi"}}\n\n'
    ) % index
    _stream_fails("anthropic", ANTHROPIC_START, delta)
    start = b'event: content_block_start\ndata: {"type":"content_block_start","index":%s,"content_block":{"type":"text","text":""}}\n\n'
    _stream_fails("anthropic", ANTHROPIC_START, start % index)
    text = b'{"contentBlockIndex":%s,"delta":{"text":"hi"}}' % index
    _stream_fails("bedrock", BEDROCK_START, _bedrock("contentBlockDelta", text))


def test_mixed_type_block_indexes_never_reach_the_accumulator() -> None:
    # int then str indexes used to fail later, when the response was assembled
    first = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"a"}}\n\n'
    second = first.replace(b'"index":0', b'"index":"1"')
    _stream_fails("anthropic", ANTHROPIC_START, first + second)


def test_bedrock_output_null_and_non_object_metadata() -> None:
    _chat_fails("bedrock", b'{"output": null, "stopReason": "end_turn"}')
    stop = _bedrock("messageStop", b'{"stopReason":"end_turn"}')
    for metadata in (b"[1, 2]", b'"usage"', b"7"):
        _stream_fails("bedrock", BEDROCK_START, stop, _bedrock("metadata", metadata))


@pytest.mark.parametrize("calls", [b"5", b'"call"', b'{"function": {"name": "f"}}', b"[5]"])
def test_ollama_tool_calls_of_the_wrong_shape(calls: bytes) -> None:
    message = b'{"message":{"role":"assistant","content":"","tool_calls":%s},"done":true}' % calls
    _chat_fails("ollama", message)
    _stream_fails("ollama", message + b"\n")


@pytest.mark.parametrize(
    "caps", [b'[{"name": "tools"}]', b'"tools"', b"[1, 2]", b'{"tools": true}']
)
def test_ollama_show_capabilities_of_the_wrong_shape(caps: bytes) -> None:
    body = b'{"capabilities": %s, "model_info": {}}' % caps
    with pytest.raises(ProviderError, match="malformed"):
        ADAPTERS["ollama"].parse_models_page(endpoint("ollama"), ok(body), '["llama3.2"]')


ERROR_FIXTURES = [
    b'{"error": {"message": "m", "type": "invalid_request_error", "code": "c"}}',
    b'{"type": "error", "error": {"type": "overloaded_error", "message": "m"}, "request_id": "r"}',
    b'{"error": {"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED", "details": '
    b'[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}}',
    b'{"message": "m", "__type": "ThrottlingException"}',
    b'{"error": "model not found"}',
]


@FUZZ
@given(
    provider=st.sampled_from(sorted(ADAPTERS)),
    status=st.sampled_from([400, 401, 403, 404, 408, 413, 429, 500, 503, 529]),
    data=st.data(),
)
def test_error_bodies(provider: str, status: int, data: st.DataObject) -> None:
    body = data.draw(body_for(ERROR_FIXTURES))
    headers = {"retry-after": data.draw(st.sampled_from(["1", "1e12", "nan", "soon", ""]))}
    exc = ADAPTERS[provider].map_error(request(provider), HttpResponse(status, headers, body))
    assert isinstance(exc, ProviderError) and type(str(exc)) is str
    assert exc.retry_after is None or type(exc.retry_after) is float


@FUZZ
@given(data=st.data())
def test_ollama_pull_progress(data: st.DataObject) -> None:
    from llmswitch.providers.ollama import PullParser, PullProgress

    stream = data.draw(mutated_text_stream(_files("ollama", ".ndjson", "pull"), b"\n"))
    parser = PullParser("llama3.2")
    try:
        reports = [r for piece in data.draw(splits(stream)) for r in parser.feed(piece)]
        reports += parser.close()
    except ProviderError:
        return
    for r in reports:
        assert isinstance(r, PullProgress) and type(r.status) is str
        assert _opt_str(r.digest) and _opt_int(r.total) and _opt_int(r.completed)
