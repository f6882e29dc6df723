"""complete_code / stream_code end to end: Client and AsyncClient -> each native
fill-in-the-middle route over real HTTP to a loopback server replaying exact bytes,
the chat fallback, errors, and the middleware seeing code completions as calls."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from llmswitch import AsyncClient, Client, CodeCompletion, ProviderConfig
from llmswitch.errors import AuthenticationError, InvalidRequestError, ModelNotFoundError
from llmswitch.fim import FIM_INSTRUCTION
from llmswitch.middleware import Middleware
from llmswitch.testing import FakeProvider
from tests.support.loopback import Loopback, Reply, ndjson_reply, sse_reply

PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n\nprint(add(1, 2))\n"

OLLAMA_DONE = (
    b'{"model":"qwen2.5-coder:1.5b","created_at":"2026-12-01T10:00:00Z","response":"a + b",'
    b'"done":true,"done_reason":"stop","context":[1,2],"total_duration":1,'
    b'"prompt_eval_count":21,"eval_count":4}'
)
OLLAMA_STREAM = (
    b'{"model":"qwen2.5-coder:1.5b","created_at":"2026-12-01T10:00:00Z","response":"a","done":false}\n'
    b'{"model":"qwen2.5-coder:1.5b","created_at":"2026-12-01T10:00:00Z","response":" + b","done":false}\n'
    b'{"model":"qwen2.5-coder:1.5b","created_at":"2026-12-01T10:00:00Z","response":"\\n\\nprint(add(1, 2))","done":false}\n'
    b'{"model":"qwen2.5-coder:1.5b","created_at":"2026-12-01T10:00:00Z","response":"","done":true,'
    b'"done_reason":"stop","prompt_eval_count":21,"eval_count":9}\n'
)
COMPLETION = (
    b'{"id":"cmpl-1","object":"text_completion","created":1,"model":"qwen-coder",'
    b'"choices":[{"index":0,"text":"a + b","logprobs":null,"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}'
)
COMPLETION_STREAM = (
    b'data: {"id":"cmpl-2","object":"text_completion","created":1,"model":"deepseek-chat",'
    b'"choices":[{"index":0,"text":"a +","logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"cmpl-2","object":"text_completion","created":1,"model":"deepseek-chat",'
    b'"choices":[{"index":0,"text":" b","logprobs":null,"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"cmpl-2","object":"text_completion","created":1,"model":"deepseek-chat",'
    b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}\n\n'
    b"data: [DONE]\n\n"
)
MISTRAL_FIM = (
    b'{"id":"5b3c","object":"chat.completion","model":"codestral-latest","usage":'
    b'{"prompt_tokens":16,"completion_tokens":4,"total_tokens":20},"created":1733000000,'
    b'"choices":[{"index":0,"message":{"content":"a + b","tool_calls":null,"prefix":false,'
    b'"role":"assistant"},"finish_reason":"stop"}]}'
)
MISTRAL_FIM_STREAM = (
    b'data: {"id":"7d1e","object":"chat.completion.chunk","created":1733000000,"model":'
    b'"codestral-latest","choices":[{"index":0,"delta":{"role":"assistant","content":""},'
    b'"finish_reason":null}]}\n\n'
    b'data: {"id":"7d1e","object":"chat.completion.chunk","created":1733000000,"model":'
    b'"codestral-latest","choices":[{"index":0,"delta":{"content":"a + b"},"finish_reason":null}]}\n\n'
    b'data: {"id":"7d1e","object":"chat.completion.chunk","created":1733000000,"model":'
    b'"codestral-latest","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":16,"total_tokens":20,"completion_tokens":4}}\n\n'
    b"data: [DONE]\n\n"
)
MISTRAL_CHAT = (
    b'{"id":"c1","object":"chat.completion","model":"mistral-small-latest","created":1,'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"```python\\na + b\\n```",'
    b'"tool_calls":null},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":90,"completion_tokens":9,"total_tokens":99}}'
)


def test_ollama_native_sends_prompt_and_suffix(loopback: Loopback) -> None:
    loopback.route("POST", "/api/generate", OLLAMA_DONE)
    with Client(env={"OLLAMA_HOST": loopback.url}) as client:
        done = client.complete_code(
            "ollama/qwen2.5-coder:1.5b", PREFIX, SUFFIX, max_tokens=64, stop=["\n\n"]
        )
    body = loopback.requests[0].json()
    assert body == {
        "model": "qwen2.5-coder:1.5b", "prompt": PREFIX, "suffix": SUFFIX, "stream": False,
        "options": {"num_predict": 64, "stop": ["\n\n"]},
    }  # fmt: skip
    assert isinstance(done, CodeCompletion)
    assert (done.text, done.method, done.finish_reason) == ("a + b", "native", "stop")
    assert (done.usage.input_tokens, done.usage.output_tokens) == (21, 4)


def test_ollama_empty_suffix_continues_the_prefix_raw(loopback: Loopback) -> None:
    loopback.route("POST", "/api/generate", OLLAMA_DONE)
    with Client(env={"OLLAMA_HOST": loopback.url}) as client:
        client.complete_code("ollama/qwen2.5-coder:1.5b", PREFIX)
    body = loopback.requests[0].json()
    assert isinstance(body, dict) and body["raw"] is True and "suffix" not in body


def test_ollama_stream_cuts_the_repeated_suffix(loopback: Loopback) -> None:
    loopback.route("POST", "/api/generate", ndjson_reply(OLLAMA_STREAM))
    with Client(env={"OLLAMA_HOST": loopback.url}) as client:
        with client.stream_code("ollama/qwen2.5-coder:1.5b", PREFIX, SUFFIX) as stream:
            pieces = list(stream.text_stream)
            done = stream.response
    assert "".join(pieces) == done.text == "a + b"
    assert done.usage.output_tokens == 9 and done.method == "native"
    assert loopback.requests[0].json()["stream"] is True  # type: ignore[index]


def test_openai_compatible_server_gets_completions_with_suffix(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/completions", COMPLETION)
    local = ProviderConfig(id="local", kind="openai-compatible", base_url=loopback.url + "/v1")
    with Client(providers=[local], env={}) as client:
        done = client.complete_code("local/qwen-coder", PREFIX, SUFFIX, temperature=0.0)
    body = loopback.requests[0].json()
    assert body == {"model": "qwen-coder", "prompt": PREFIX, "suffix": SUFFIX, "temperature": 0.0}
    assert (done.text, done.method, done.id) == ("a + b", "native", "cmpl-1")


def test_deepseek_fim_goes_to_beta_completions_and_streams(loopback: Loopback) -> None:
    loopback.route("POST", "/beta/completions", sse_reply(COMPLETION_STREAM))
    env = {"DEEPSEEK_API_KEY": "sk-ds", "DEEPSEEK_BASE_URL": loopback.url + "/v1"}
    with Client(env=env) as client:
        with client.stream_code("deepseek/deepseek-chat", PREFIX, SUFFIX) as stream:
            text = "".join(stream.text_stream)
        done = stream.response
    sent = loopback.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-ds"
    assert sent.json()["stream_options"] == {"include_usage": True}  # type: ignore[index]
    assert text == done.text == "a + b" and done.usage.total_tokens == 15


def test_mistral_codestral_uses_fim_completions(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/fim/completions", MISTRAL_FIM)
    env = {"MISTRAL_API_KEY": "m-key", "MISTRAL_BASE_URL": loopback.url}  # no /v1: added
    with Client(env=env) as client:
        done = client.complete_code("mistral/codestral-latest", PREFIX, SUFFIX, max_tokens=32)
    assert loopback.requests[0].json() == {
        "model": "codestral-latest", "prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 32,
    }  # fmt: skip
    assert (done.text, done.method, done.usage.total_tokens) == ("a + b", "native", 20)


def test_mistral_fim_stream(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/fim/completions", sse_reply(MISTRAL_FIM_STREAM))
    env = {"MISTRAL_API_KEY": "m-key", "MISTRAL_BASE_URL": loopback.url + "/v1"}
    with Client(env=env) as client:
        with client.stream_code("mistral/codestral-latest", PREFIX, SUFFIX) as stream:
            assert "".join(stream.text_stream) == "a + b"
        assert stream.response.finish_reason == "stop"


def test_chat_only_model_gets_the_instruction_and_the_fences_go(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", MISTRAL_CHAT)
    env = {"MISTRAL_API_KEY": "m-key", "MISTRAL_BASE_URL": loopback.url + "/v1"}
    with Client(env=env) as client:
        done = client.complete_code(
            "mistral/mistral-small-latest", PREFIX, SUFFIX, language="python"
        )
    body = loopback.requests[0].json()
    assert isinstance(body, dict)
    system, user = body["messages"]
    assert system == {"role": "system", "content": FIM_INSTRUCTION}
    assert PREFIX in user["content"] and SUFFIX in user["content"] and "python" in user["content"]
    assert (done.text, done.method) == ("a + b", "chat")


def test_mistral_chat_maps_tool_ids_and_tool_choice(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", MISTRAL_CHAT)
    env = {"MISTRAL_API_KEY": "m-key", "MISTRAL_BASE_URL": loopback.url + "/v1"}
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_abc123xyz456", "name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"role": "tool", "tool_call_id": "call_abc123xyz456", "content": "sunny"},
    ]  # fmt: skip
    tool = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    with Client(env=env) as client:
        client.chat("mistral/mistral-small-latest", history, tools=[tool], tool_choice="required",
                    user="u1")  # fmt: skip
    body = loopback.requests[0].json()
    assert isinstance(body, dict)
    call_id = body["messages"][1]["tool_calls"][0]["id"]
    assert len(call_id) == 9 and call_id.isalnum()
    assert body["messages"][2]["tool_call_id"] == call_id
    assert body["tool_choice"] == "any" and "user" not in body


def test_mistral_errors_are_typed(loopback: Loopback) -> None:
    detail = {"object": "error", "message": {"detail": [
        {"type": "extra_forbidden", "loc": ["body", "seed"], "msg": "Extra inputs are not permitted"}
    ]}, "type": "invalid_request_message_error", "param": None, "code": None}  # fmt: skip
    loopback.route(
        "POST", "/v1/fim/completions",
        Reply(status=422, body=json.dumps(detail).encode()),
        Reply(status=401, body=b'{"message":"Unauthorized","request_id":"r1"}'),
    )  # fmt: skip
    env = {"MISTRAL_API_KEY": "m-key", "MISTRAL_BASE_URL": loopback.url + "/v1"}
    with Client(env=env, max_retries=0) as client:
        with pytest.raises(InvalidRequestError, match="seed: Extra inputs are not permitted"):
            client.complete_code("mistral/codestral-latest", PREFIX)
        with pytest.raises(AuthenticationError) as caught:
            client.complete_code("mistral/codestral-latest", PREFIX)
    assert caught.value.provider == "mistral" and "m-key" not in str(caught.value)


def test_ollama_model_not_found_is_typed(loopback: Loopback) -> None:
    loopback.route(
        "POST", "/api/generate", Reply(status=404, body=b'{"error":"model \\"nope\\" not found"}')
    )
    with Client(env={"OLLAMA_HOST": loopback.url}) as client:
        with pytest.raises(ModelNotFoundError):
            client.complete_code("ollama/nope", PREFIX, SUFFIX)


def test_async_complete_and_stream(loopback: Loopback) -> None:
    loopback.route("POST", "/api/generate", OLLAMA_DONE, ndjson_reply(OLLAMA_STREAM))

    async def main() -> tuple[CodeCompletion, str, CodeCompletion]:
        async with AsyncClient(env={"OLLAMA_HOST": loopback.url}) as client:
            done = await client.complete_code("ollama/qwen2.5-coder:1.5b", PREFIX, SUFFIX)
            async with client.stream_code("ollama/qwen2.5-coder:1.5b", PREFIX, SUFFIX) as s:
                text = "".join([t async for t in s.text_stream])
            return done, text, s.response

    done, text, streamed = asyncio.run(main())
    assert done.text == text == streamed.text == "a + b"


class _Counting(Middleware):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def chat(self, call: Any, next: Any) -> Any:
        self.calls.append(type(call.request).__name__)
        return next(call)

    def stream(self, call: Any, next: Any) -> Any:
        self.calls.append("stream:" + type(call.request).__name__)
        return next(call)


def test_middleware_sees_code_completions_and_fallback_is_trimmed() -> None:
    fake = FakeProvider(id="fake", models=["m"]).respond_with(
        lambda request: "```python\n    return a + b\n```"
    )
    counting = _Counting()
    with Client(providers=[fake], middleware=[counting]) as client:
        done = client.complete_code("fake/m", PREFIX, SUFFIX)
        with client.stream_code("fake/m", PREFIX, SUFFIX) as stream:
            streamed = "".join(stream.text_stream)
    assert done.text == streamed == "a + b" and done.method == "chat"
    assert counting.calls == ["CodeRequest", "stream:CodeRequest"]


def test_prefix_must_be_a_string() -> None:
    from llmswitch.errors import ConfigurationError

    with Client() as client, pytest.raises(ConfigurationError, match="prefix"):
        client.complete_code("fake/echo", None)  # type: ignore[arg-type]


INFILL = (
    b'{"content":"a + b","id_slot":0,"stop":true,"model":"qwen2.5-coder-1.5b-q8_0.gguf",'
    b'"tokens_predicted":3,"tokens_evaluated":25,"stop_type":"eos","truncated":false}'
)


def test_fim_setting_picks_llama_cpp_infill_or_the_chat_fallback(
    loopback: Loopback, tmp_path: Any
) -> None:
    loopback.route("POST", "/infill", INFILL)
    loopback.route("POST", "/v1/chat/completions", MISTRAL_CHAT)
    toml = tmp_path / "llmswitch.toml"
    toml.write_text(
        f'[providers.llama]\nkind = "openai-compatible"\nbase_url = "{loopback.url}/v1"\n'
        'fim = "infill"\n'
        f'[providers.vllm]\nkind = "openai-compatible"\nbase_url = "{loopback.url}/v1"\n'
        'fim = "chat"\n'
    )
    with Client(config=toml, env={}) as client:
        infill = client.complete_code("llama/qwen-coder", PREFIX, SUFFIX, max_tokens=16)
        chat = client.complete_code("vllm/qwen-coder", PREFIX, SUFFIX)
    sent = loopback.requests[0].json()
    assert sent == {"input_prefix": PREFIX, "input_suffix": SUFFIX, "n_predict": 16}
    assert (infill.text, infill.method, infill.usage.input_tokens) == ("a + b", "native", 25)
    assert (chat.text, chat.method) == ("a + b", "chat")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('kind = "openai-compatible"\nbase_url = "http://h/v1"\nfim = "magic"', "must be one of"),
        ('kind = "openai"\nfim = "infill"', "only applies to kind 'openai-compatible'"),
    ],
)
def test_fim_setting_is_checked(tmp_path: Any, entry: str, message: str) -> None:
    from llmswitch.config import load_config
    from llmswitch.errors import ConfigurationError

    toml = tmp_path / "llmswitch.toml"
    toml.write_text(f"[providers.x]\n{entry}\n")
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_config(toml)
    assert "fim" in str(caught.value)
