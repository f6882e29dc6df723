"""The native fill-in-the-middle routes, sans-I/O: requests built, answers parsed, and
each stream parser fed real bytes split at every boundary (the events must not depend
on where the network cut them), cut off early, and given an error mid-stream."""

from __future__ import annotations

import pytest

from llmswitch.errors import ContextLengthExceededError, ProviderError, ProviderUnavailableError
from llmswitch.events import StreamEnd, TextDelta
from llmswitch.fim import CodeRequest
from llmswitch.messages import ChatRequest, Message
from llmswitch.providers.base import Endpoint
from llmswitch.providers.mistral._fim import MistralFim
from llmswitch.providers.ollama._generate import OllamaGenerate
from llmswitch.providers.openai import deepseek_fim_url
from llmswitch.providers.openai._completions import TextCompletions
from llmswitch.providers.openai._infill import LlamaInfill, infill_url
from llmswitch.wire import HttpResponse
from tests.support.fixtures import fixture
from tests.support.streams import awkward_splits, feed, splits_in_two

PREFIX, SUFFIX = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"
INFILL_STREAM = (
    b'data: {"content":"a","stop":false,"id_slot":0,"multimodal":false,"index":0}\n\n'
    b'data: {"content":" + b","stop":false,"id_slot":0,"multimodal":false,"index":0}\n\n'
    b'data: {"content":"","stop":true,"model":"qwen2.5-coder-1.5b-q8_0.gguf","stop_type":"eos",'
    b'"tokens_predicted":3,"tokens_evaluated":25,"truncated":false}\n\n'
)
INFILL_DONE = (
    b'{"content":"a + b","id_slot":0,"stop":true,"model":"qwen2.5-coder-1.5b-q8_0.gguf",'
    b'"tokens_predicted":3,"tokens_evaluated":25,"stop_type":"limit","truncated":false}'
)


def request(
    provider: str = "ollama", model: str = "qwen2.5-coder:1.5b", **kw: object
) -> CodeRequest:
    base = ChatRequest(
        provider=provider, model=model, messages=(Message(role="user", content="x"),)
    )
    return CodeRequest.of(base, PREFIX, kw.pop("suffix", SUFFIX), None)  # type: ignore[arg-type]


def endpoint(base: str = "http://127.0.0.1:11434") -> Endpoint:
    return Endpoint(provider="p", base_url=base)


CASES = [
    (OllamaGenerate(), fixture("ollama", "generate.ndjson"), "a + b\n\nprint(add(1, 2))", 9),
    (TextCompletions(), fixture("openai", "completion.sse"), "a + b", 3),
    (MistralFim("http://x/v1/fim/completions"), fixture("mistral", "fim.sse"), "a + b", 4),
    (LlamaInfill(), INFILL_STREAM, "a + b", 3),
]


@pytest.mark.parametrize(("route", "data", "text", "output_tokens"), CASES)
def test_stream_events_do_not_depend_on_the_cuts(
    route: object, data: bytes, text: str, output_tokens: int
) -> None:
    cuts = {**awkward_splits(data), **{f"at {i}": p for i, p in splits_in_two(data)}}
    for name, pieces in cuts.items():
        events = feed(route.stream_parser(request()), pieces)  # type: ignore[attr-defined]
        got = "".join(e.text for e in events if isinstance(e, TextDelta))
        ends = [e for e in events if isinstance(e, StreamEnd)]
        assert got == text, name
        assert len(ends) == 1 and ends[0].finish_reason == "stop", name
        assert ends[0].usage.output_tokens == output_tokens, name


@pytest.mark.parametrize(("route", "data", "text", "output_tokens"), CASES)
def test_a_stream_cut_off_ends_with_error(
    route: object, data: bytes, text: str, output_tokens: int
) -> None:
    head = data[: data.index(b"\n") + 1]
    events = feed(route.stream_parser(request()), [head])  # type: ignore[attr-defined]
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "error"


def test_ollama_error_line_after_the_200_is_typed() -> None:
    parser = OllamaGenerate().stream_parser(request())
    parser.feed(b'{"model":"m","response":"a","done":false}\n')
    with pytest.raises(ProviderUnavailableError, match="runner crashed"):
        parser.feed(b'{"error":"runner crashed"}\n')


def test_completions_error_event_is_typed() -> None:
    parser = TextCompletions().stream_parser(request())
    event = b'data: {"error":{"message":"This model\'s maximum context length is 4096 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}\n\n'
    with pytest.raises(ContextLengthExceededError):
        parser.feed(event)


def test_an_html_page_is_not_a_stream() -> None:
    parser = TextCompletions().stream_parser(request())
    parser.feed(b"<html><body>gateway</body></html>")
    with pytest.raises(ProviderError, match="completion chunks"):
        parser.close()


def test_requests_and_urls() -> None:
    body = OllamaGenerate().build_request(request(suffix=""), endpoint(), stream=True)
    assert body.url == "http://127.0.0.1:11434/api/generate"
    assert b'"raw":true' in body.body and b"suffix" not in body.body
    infill = LlamaInfill().build_request(request(), endpoint("http://h:8080/v1"), stream=False)
    assert infill.url == "http://h:8080/infill" == infill_url("http://h:8080")
    assert b'"input_prefix"' in infill.body and b'"input_suffix"' in infill.body
    assert (
        deepseek_fim_url("https://api.deepseek.com/v1")
        == "https://api.deepseek.com/beta/completions"
    )
    assert (
        deepseek_fim_url("https://api.deepseek.com/beta/")
        == "https://api.deepseek.com/beta/completions"
    )


def test_infill_answer_parses_with_usage_and_finish() -> None:
    resp = LlamaInfill().parse_response(
        request(), HttpResponse(status=200, headers={}, body=INFILL_DONE)
    )
    assert (resp.text, resp.finish_reason, resp.raw_finish_reason) == ("a + b", "length", "limit")
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (25, 3)


def test_malformed_answers() -> None:
    with pytest.raises(ProviderError, match="not valid JSON"):
        OllamaGenerate().parse_response(
            request(), HttpResponse(status=200, headers={}, body=b"<html>")
        )
    with pytest.raises(ProviderError, match="no choices"):
        TextCompletions().parse_response(
            request(), HttpResponse(status=200, headers={}, body=b"{}")
        )
