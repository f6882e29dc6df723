"""The call options are typed keyword parameters: an IDE completes them, mypy catches a
misspelt or mistyped one, Python refuses a misspelt one at the call; and they still
reach the request exactly as before."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from llmswitch import AsyncClient, Client
from llmswitch._core import _Core
from llmswitch._options import CHAT_OPTIONS
from llmswitch.errors import ConfigurationError
from llmswitch.messages import ReasoningConfig, ResponseFormat, ToolChoice
from llmswitch.testing import FakeProvider

HI = [{"role": "user", "content": "hi"}]
# DESIGN.md section 2: the chat() keyword list (contract).
CONTRACT = (
    "system", "tools", "tool_choice", "temperature", "max_tokens", "top_p", "stop",
    "response_format", "reasoning", "user", "metadata", "timeout",
)  # fmt: skip
CHAT_LIKE = ("chat", "stream", "count_tokens", "estimate_cost")
EMBED_OPTIONS = ("dimensions", "input_type", "user", "timeout", "extra_body", "extra_headers")
ALL_METHODS = (*CHAT_LIKE, "embed", "complete_code", "stream_code")


def _params(cls: type, name: str) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(getattr(cls, name)).parameters)


@pytest.mark.parametrize("cls", [Client, AsyncClient])
@pytest.mark.parametrize("method", CHAT_LIKE)
def test_every_chat_option_is_a_typed_keyword_parameter(cls: type, method: str) -> None:
    params = _params(cls, method)
    assert set(CONTRACT) <= set(CHAT_OPTIONS)
    for name in CHAT_OPTIONS:
        p = params[name]
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, name
        assert p.default is None, name
        assert p.annotation not in (inspect.Parameter.empty, "Any"), name
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


@pytest.mark.parametrize("cls", [Client, AsyncClient])
@pytest.mark.parametrize("method", ALL_METHODS)
def test_no_method_takes_arbitrary_options(cls: type, method: str) -> None:
    params = _params(cls, method)
    kinds = {p.kind for p in params.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    assert inspect.Parameter.VAR_POSITIONAL not in kinds
    for name, p in params.items():
        if name != "self":
            assert p.annotation is not inspect.Parameter.empty, f"{method}({name}) untyped"
    # The parameters' annotations resolve at run time too (for pydantic, docs, IDEs).
    fn = getattr(cls, method)
    where = vars(sys.modules[fn.__module__])
    for name, p in params.items():
        if name != "self":
            eval(p.annotation, where)  # a NameError would say which type is missing


@pytest.mark.parametrize("method", ALL_METHODS)
def test_sync_and_async_take_the_same_parameters(method: str) -> None:
    sync, asynchronous = _params(Client, method), _params(AsyncClient, method)
    assert [(p.name, p.kind, p.default, p.annotation) for p in sync.values()] == [
        (p.name, p.kind, p.default, p.annotation) for p in asynchronous.values()
    ]


def test_the_chat_like_methods_agree_with_chat() -> None:
    chat = _params(Client, "chat")
    for method in ("count_tokens", "estimate_cost"):
        other = _params(Client, method)
        for name in CHAT_OPTIONS:
            assert other[name].annotation == chat[name].annotation, (method, name)


def test_embed_options_are_typed_keywords() -> None:
    params = _params(Client, "embed")
    for name in EMBED_OPTIONS:
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_the_core_takes_the_chat_options_in_the_order_the_clients_pass_them() -> None:
    # The clients pass them by position (no dict packed and unpacked per call).
    params = list(inspect.signature(_Core.request).parameters.values())
    positional = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional == ["self", "model", "messages", *CHAT_OPTIONS]


def test_every_option_reaches_the_request() -> None:
    fake = FakeProvider().default_reply("ok")
    tools = [{"name": "f", "parameters": {"type": "object"}}]
    with Client(providers=[fake], max_retries=0) as client:
        client.chat(
            "fake/m", HI, system="be brief", tools=tools, tool_choice="required",
            temperature=0.5, max_tokens=7, top_p=0.9, stop=["x"], response_format="json",
            reasoning="low", user="u1", metadata={"k": "v"}, timeout=5,
            extra_body={"seed": 1}, extra_headers={"x-h": "1"},
        )  # fmt: skip
        # Positional model and messages, as before.
        client.chat("fake/m", HI)
    sent = fake.requests[0]
    assert sent.system == "be brief" and [t.name for t in sent.tools] == ["f"]
    assert sent.tool_choice == ToolChoice(mode="required")
    assert (sent.temperature, sent.max_tokens, sent.top_p, sent.stop) == (0.5, 7, 0.9, ("x",))
    assert sent.response_format == ResponseFormat(type="json_object")
    assert sent.reasoning == ReasoningConfig(effort="low")
    assert (sent.user, sent.metadata) == ("u1", {"k": "v"})
    assert (sent.extra_body, sent.extra_headers) == ({"seed": 1}, {"x-h": "1"})
    assert fake.requests[1].system is None and fake.requests[1].max_tokens is None


async def test_async_and_stream_options_reach_the_request() -> None:
    fake = FakeProvider().default_reply("ok")
    async with AsyncClient(providers=[fake], max_retries=0) as client:
        await client.chat("fake/m", HI, max_tokens=3, stop="s")
        async with client.stream("fake/m", HI, temperature=0.1, user="u") as stream:
            assert (await stream.get_response()).text == "ok"
    assert (fake.requests[0].max_tokens, fake.requests[0].stop) == (3, ("s",))
    assert (fake.requests[1].temperature, fake.requests[1].user) == (0.1, "u")


def test_values_are_still_checked_with_the_field_named() -> None:
    with Client(providers=[FakeProvider()], max_retries=0) as client:
        with pytest.raises(ConfigurationError) as info:
            client.chat("fake/m", HI, max_tokens="ten")  # type: ignore[arg-type]
        assert info.value.field == "max_tokens"
        with pytest.raises(ConfigurationError) as info:
            client.embed("fake/m", ["a"], dimensions=0)
        assert info.value.field == "dimensions"


@pytest.mark.parametrize("method", ["chat", "stream", "count_tokens", "embed"])
def test_a_misspelt_option_is_a_type_error(method: str) -> None:
    with Client(providers=[FakeProvider()], max_retries=0) as client:
        call = getattr(client, method)
        with pytest.raises(TypeError, match="unexpected keyword argument 'temprature'"):
            call("fake/m", HI, temprature=0.2)


SNIPPET = """\
from llmswitch import AsyncClient, Client

client = Client()
HI = [{"role": "user", "content": "hi"}]
client.chat("openai/gpt-4o-mini", HI, temperature=0.2, max_tokens=10, stop=["x"])
client.chat("openai/gpt-4o-mini", HI, temprature=0.2)
client.chat("openai/gpt-4o-mini", HI, max_tokens="ten")
client.stream("openai/gpt-4o-mini", HI, reasoning_effort="low")
client.embed("openai/text-embedding-3-small", ["a"], dimension=8)


async def main(aclient: AsyncClient) -> None:
    await aclient.chat("openai/gpt-4o-mini", HI, top_k=3)
"""


def test_mypy_catches_a_misspelt_or_mistyped_option(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(SNIPPET)
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
            "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", str(snippet),
        ],
        capture_output=True, text=True, cwd=root, timeout=300,
    )  # fmt: skip
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    lines = sorted(int(line.split(":")[1]) for line in errors)
    assert lines == [6, 7, 8, 9, 13], run.stdout + run.stderr
    text = run.stdout
    assert 'Unexpected keyword argument "temprature"' in text
    assert 'did you mean "temperature"' in text
    assert 'Argument "max_tokens" to "chat" of "Client" has incompatible type "str"' in text


def test_the_builder_sends_through_the_typed_chat() -> None:
    fake = FakeProvider().default_reply("ok")
    with Client(providers=[fake], max_retries=0) as client:
        client.request("fake/m").user("hi").max_tokens(4).options(extra_body={"a": 1}).send()
        with pytest.raises(TypeError, match="'temprature'"):
            client.request("fake/m").user("hi").options(temprature=1).send()
    assert fake.requests[0].max_tokens == 4 and fake.requests[0].extra_body == {"a": 1}
