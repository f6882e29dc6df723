"""parse_response, parse_models, and stream/non-stream agreement."""

from __future__ import annotations

import pytest

from llmswitch.errors import AuthenticationError, ProviderError
from llmswitch.messages import Usage
from llmswitch.providers.base import Endpoint
from llmswitch.providers.openai import RAW_ARGUMENTS_KEY, OpenAIAdapter
from llmswitch.wire import HttpResponse
from tests.support.openai import chat_request, fixture, parse_body, run_stream


def test_text_response() -> None:
    resp = parse_body(fixture("chat_text.json"), chat_request(model="gpt-5-mini"))
    assert resp.text == 'Hello! 👋 你好，世界. Café "quoted"\nnext line'  # noqa: RUF001 (CJK text on purpose)
    assert resp.finish_reason == "stop" and resp.raw_finish_reason == "stop"
    assert resp.id == "chatcmpl-CF7wQ2hM1xYt9ZrLk3VbN8aPq4sDe"
    assert resp.model == "gpt-5-mini-2025-08-07"  # what the provider says it ran
    assert resp.provider == "openai"
    assert resp.usage == Usage(
        input_tokens=1180,
        output_tokens=84,
        total_tokens=1264,
        cached_input_tokens=1024,
        reasoning_tokens=64,
    )
    assert resp.raw["object"] == "chat.completion"
    assert resp.tool_calls == () and resp.refusal is None and resp.reasoning is None


def test_cost_uses_cached_price_from_the_catalog() -> None:
    body = fixture("chat_text.json").replace(b"gpt-5-mini-2025-08-07", b"gpt-4o-mini-2024-07-18")
    resp = parse_body(body)
    # 156 fresh input at 0.15, 1024 cached at 0.075, 84 output at 0.6 (USD per million)
    assert resp.cost == pytest.approx((156 * 0.15 + 1024 * 0.075 + 84 * 0.6) / 1e6)


def test_tool_calls_response() -> None:
    resp = parse_body(fixture("chat_tools.json"))
    assert resp.finish_reason == "tool_calls"
    assert resp.text == ""
    assert [(c.id, c.name, c.arguments) for c in resp.tool_calls] == [
        ("call_Wq1bLk7YpE2nR5sT8uVx0zAc", "get_weather", {"city": "Paris", "unit": "celsius"}),
        ("call_Hn3cVb6NmQ9wEr2tYu5iOp8a", "get_weather", {"city": "東京"}),
        ("call_Zx4mKj1LpQ7sWd3fGh6jKl9b", "get_time", {}),
    ]


def test_invalid_tool_arguments_are_kept_raw_and_empty_ones_are_empty() -> None:
    resp = parse_body(fixture("chat_invalid_args.json"))
    lookup, ping = resp.tool_calls
    assert lookup.arguments == {RAW_ARGUMENTS_KEY: '{"id": 12, "tags": ["a", }'}
    assert ping.arguments == {}
    assert resp.finish_reason == "tool_calls"
    # the assistant turn can go back into the history unchanged
    replay = OpenAIAdapter().build_request(
        chat_request(messages=[{"role": "user", "content": "x"}, resp.message.to_dict()]),
        Endpoint(provider="openai", base_url="http://localhost/v1"),
        stream=False,
    )
    assert (
        replay.body is not None
        and b'"arguments":"{\\"id\\": 12, \\"tags\\": [\\"a\\", }"' in replay.body
    )


def test_non_object_arguments_are_kept_raw() -> None:
    body = fixture("chat_invalid_args.json").replace(b'"arguments":""', b'"arguments":"[1, 2]"')
    assert parse_body(body).tool_calls[1].arguments == {RAW_ARGUMENTS_KEY: "[1, 2]"}


def test_refusal_response() -> None:
    resp = parse_body(fixture("chat_refusal.json"))
    assert resp.refusal == "I'm sorry, I can't help with that." and resp.text == ""


def test_azure_content_filter_finish() -> None:
    resp = parse_body(
        fixture("chat_azure_filtered.json"), chat_request(model="my-deployment", provider="azure")
    )
    assert resp.finish_reason == "content_filter"
    assert resp.text == "Once upon a time — ünïcödé"
    assert resp.model == "gpt-4o-2024-11-20"
    assert (
        resp.raw["prompt_filter_results"][0]["content_filter_results"]["jailbreak"]["detected"]
        is False
    )


@pytest.mark.parametrize(
    ("name", "reasoning", "finish"),
    [
        ("chat_vllm_reasoning.json", "Okay, the user greets me in French.", "stop"),
        ("chat_vllm_reasoning_new.json", "2+2 is 4.", "length"),
        ("chat_llamacpp.json", "The user asks 2+2. Easy.", "stop"),
        ("chat_ollama_reasoning.json", "Let me think about haikus.", "stop"),
    ],
)
def test_reasoning_from_compatible_servers(name: str, reasoning: str, finish: str) -> None:
    resp = parse_body(fixture(name))
    assert resp.reasoning == reasoning
    assert [b.text for b in resp.reasoning_blocks] == [reasoning]
    assert resp.finish_reason == finish
    assert resp.tool_calls == ()


def test_missing_usage_details_are_none_not_zero() -> None:
    ollama = parse_body(fixture("chat_ollama_reasoning.json")).usage
    assert ollama == Usage(input_tokens=14, output_tokens=57, total_tokens=71)
    llama = parse_body(fixture("chat_llamacpp.json")).usage
    assert llama.cached_input_tokens == 64 and llama.reasoning_tokens is None
    none = parse_body(
        b'{"id":"x","model":"m","choices":[{"index":0,"message":{"content":"a"},"finish_reason":"stop"}]}'
    )
    assert none.usage == Usage() and none.cost is None


def test_cache_write_tokens() -> None:
    body = (
        b'{"id":"x","model":"gpt-5.6","choices":[{"index":0,"message":{"role":"assistant","content":"a"},'
        b'"finish_reason":"stop"}],"usage":{"prompt_tokens":5000,"completion_tokens":10,"total_tokens":5010,'
        b'"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":4096}}}'
    )
    assert parse_body(body).usage.cache_write_tokens == 4096


def test_unknown_and_missing_finish_reasons() -> None:
    body = b'{"id":"x","model":"m","choices":[{"index":0,"message":{"content":"a"},"finish_reason":"%s"}]}'
    weird = parse_body(body % b"eos_token")
    assert weird.finish_reason == "other" and weird.raw_finish_reason == "eos_token"
    legacy = parse_body(body % b"function_call")
    assert legacy.finish_reason == "tool_calls"
    null = parse_body(
        b'{"id":"x","model":"m","choices":[{"index":0,"message":{"content":"a"},"finish_reason":null}]}'
    )
    assert null.finish_reason == "other" and null.raw_finish_reason is None


def test_stop_with_tool_calls_is_tool_calls() -> None:
    body = (
        b'{"id":"x","model":"m","choices":[{"index":0,"message":{"content":null,"tool_calls":[{"id":"c1",'
        b'"type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}]}'
    )
    resp = parse_body(body)
    assert resp.finish_reason == "tool_calls" and resp.raw_finish_reason == "stop"


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b'{"id":"chatcmpl-1","choices":[{"index":0,"message":{"content":"cut', "not valid JSON"),
        (b"<html>upstream error</html>", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"id":"x","model":"m","choices":[]}', "no choices"),
    ],
)
def test_malformed_bodies_keep_the_bytes(body: bytes, what: str) -> None:
    with pytest.raises(ProviderError) as info:
        parse_body(body)
    e = info.value
    assert what in e.message and not e.retryable
    assert e.body == body.decode()
    assert "openai/gpt-4o-mini" in str(e)


def test_error_status_passed_to_parse_response_is_mapped() -> None:
    with pytest.raises(AuthenticationError):
        parse_body(
            b'{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}',
            status=401,
        )


# ---------------------------------------------------------------------- stream == non-stream


@pytest.mark.parametrize(
    ("stream", "body"),
    [
        ("stream_text.sse", "chat_text.json"),
        ("stream_tools.sse", "chat_tools.json"),
        ("stream_refusal.sse", "chat_refusal.json"),
        ("stream_azure.sse", "chat_azure_filtered.json"),
        ("stream_vllm_reasoning.sse", "chat_vllm_reasoning.json"),
        ("stream_llamacpp_reasoning.sse", "chat_llamacpp.json"),
        ("stream_ollama_reasoning.sse", "chat_ollama_reasoning.json"),
    ],
)
def test_accumulated_stream_equals_the_non_streamed_response(stream: str, body: str) -> None:
    request = chat_request(model="gpt-4o")
    _, streamed = run_stream([fixture(stream)], request)
    assert streamed == parse_body(fixture(body), request)


# ---------------------------------------------------------------------- models


def models(name: str, provider: str = "openai") -> list:  # type: ignore[type-arg]
    endpoint = Endpoint(provider=provider, base_url="http://localhost/v1")
    response = HttpResponse(status=200, headers={}, body=fixture(name))
    found, cursor = OpenAIAdapter().parse_models(endpoint, response)
    assert cursor is None
    return found


def test_openai_models_filled_from_the_catalog() -> None:
    found = models("models_openai.json")
    assert [m.id for m in found] == [
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "text-embedding-3-small",
    ]
    mini, dated, embed = found
    assert (
        mini.context_window == 128000
        and mini.supports_tools is True
        and mini.max_output_tokens == 16384
    )
    assert dated.context_window == 128000  # a dated snapshot falls back to its family
    # the catalog knows the embedding model's input limit; tools it does not say: unknown stays unknown
    assert embed.context_window == 8191 and embed.supports_tools is None
    assert mini.created == 1721172741 and mini.provider == "openai"
    assert mini.raw["owned_by"] == "system"


def test_vllm_and_llamacpp_report_context_windows() -> None:
    (vllm,) = models("models_vllm.json", "vllm")
    assert (vllm.id, vllm.context_window, vllm.provider) == ("Qwen/Qwen3-8B", 32768, "vllm")
    (llama,) = models("models_llamacpp.json", "llamacpp")
    assert (llama.id, llama.context_window) == ("gpt-oss-20b", 131072)


def test_ollama_models_have_no_context_window() -> None:
    found = models("models_ollama.json", "ollama")
    assert [(m.id, m.context_window) for m in found] == [
        ("qwen3:8b", None),
        ("llama3.2:latest", None),
    ]


def test_malformed_model_list() -> None:
    endpoint = Endpoint(provider="vllm", base_url="http://localhost/v1")
    for body in (b"not json", b'{"object":"list"}', b'{"data": 3}'):
        with pytest.raises(ProviderError):
            OpenAIAdapter().parse_models(endpoint, HttpResponse(status=200, headers={}, body=body))


@pytest.mark.parametrize(
    ("choices", "text"),
    [
        ('[{"index":0,"message":{"content":"zero"}}]', "zero"),
        ('[{"message":{"content":"no index"}}]', "no index"),
        (
            '[{"index":1,"message":{"content":"one"}},{"index":0,"message":{"content":"zero"}}]',
            "zero",
        ),
        ('[null,{"index":0,"message":{"content":"zero"}}]', "zero"),
        ('["x",{"message":{"content":"second"}}]', "second"),
    ],
)
def test_the_answer_is_choice_index_0_wherever_it_is(choices: str, text: str) -> None:
    body = b'{"id":"x","model":"m","choices":%s}' % choices.encode()
    assert parse_body(body, chat_request()).text == text


def test_a_list_without_choice_0_is_malformed() -> None:
    body = b'{"id":"x","model":"m","choices":[{"index":1,"message":{"content":"one"}}]}'
    with pytest.raises(ProviderError, match="no choices"):
        parse_body(body, chat_request())
