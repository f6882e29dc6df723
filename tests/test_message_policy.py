"""Message rules (issue 7 item 12): one decision per case, the same on every provider.

Adapters used to differ silently: Anthropic and Gemini dropped an empty user turn (until
``messages: []`` went out), a system message late in the history was hoisted to the top,
a tool result for a call that never happened was sent. Now :func:`to_messages` checks
the history once, before any provider sees it, and rejects each case with a
``ConfigurationError`` naming the field; what stays valid is mapped to what each
provider accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from llmswitch import ConfigurationError, ImagePart, Message, TextPart, ToolCall
from llmswitch.messages import ChatRequest, to_messages
from llmswitch.providers.anthropic import _request as anthropic
from llmswitch.providers.bedrock import _request as bedrock
from llmswitch.providers.gemini import _request as gemini
from llmswitch.providers.ollama import _request as ollama
from llmswitch.providers.openai import _request as openai
from tests.support.loopback import Loopback
from tests.support.upstreams import UPSTREAMS

MODELS = {name: u.model for name, u in UPSTREAMS.items()}


USER = {"role": "user", "content": "Weather in Paris?"}
CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "c1", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    ],
}
RESULT = {"role": "tool", "tool_call_id": "c1", "content": "18C"}

# (name, messages, the field the error names)
REJECTED: list[tuple[str, list[Any], str]] = [
    ("no messages", [], "messages"),
    ("empty user string", [{"role": "user", "content": ""}], "messages[0].content"),
    ("empty user list", [{"role": "user", "content": []}], "messages[0].content"),
    (
        "user with only empty text parts",
        [{"role": "user", "content": [{"type": "text", "text": ""}, ""]}],
        "messages[0].content",
    ),
    (
        "empty user turn later in the history",
        [USER, {"role": "assistant", "content": "Sunny."}, {"role": "user", "content": ""}],
        "messages[2].content",
    ),
    (
        "assistant with neither text nor tool calls",
        [USER, {"role": "assistant", "content": None}, {"role": "user", "content": "and?"}],
        "messages[1].content",
    ),
    (
        "assistant with empty text",
        [USER, {"role": "assistant", "content": ""}, {"role": "user", "content": "and?"}],
        "messages[1].content",
    ),
    ("system message at the end", [USER, {"role": "system", "content": "Be terse."}], "messages[1].role"),
    (
        "developer message after a turn",
        [{"role": "system", "content": "a"}, USER, {"role": "developer", "content": "b"}],
        "messages[2].role",
    ),
    ("tool result for an unknown call", [USER, CALL, {**RESULT, "tool_call_id": "c2"}], "messages[2].tool_call_id"),
    ("tool result before its call", [USER, RESULT, CALL], "messages[1].tool_call_id"),
    ("two results for one call", [USER, CALL, RESULT, RESULT], "messages[3].tool_call_id"),
    ("typed empty user message", [Message(role="user", content="")], "messages[0].content"),
    (
        "typed late system message",
        [Message(role="user", content="hi"), Message(role="system", content="late")],
        "messages[1].role",
    ),
    (
        "typed tool result for an unknown call",
        [Message(role="user", content="hi"), Message(role="tool", tool_call_id="x", content="1")],
        "messages[1].tool_call_id",
    ),
    (
        "typed image with a bad scheme",
        [Message(role="user", content=(ImagePart(url="ftp://x.io/a.png"),))],
        "messages[0].content[0].image_url.url",
    ),
    ("typed unknown role", [Message(role="wizard", content="hi")], "messages[0].role"),  # type: ignore[arg-type]
]  # fmt: skip


@pytest.mark.parametrize("provider", sorted(MODELS))
@pytest.mark.parametrize(
    ("messages", "field"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
@pytest.mark.usefixtures("aws_env")
def test_each_rule_is_the_same_error_on_every_provider_before_any_request(
    loopback: Loopback, provider: str, messages: list[Any], field: str
) -> None:
    client = UPSTREAMS[provider].client(loopback)
    with pytest.raises(ConfigurationError) as chat:
        client.chat(MODELS[provider], messages=messages)
    with (
        pytest.raises(ConfigurationError) as stream,
        client.stream(MODELS[provider], messages=messages),
    ):
        pass
    assert chat.value.field == stream.value.field == field
    assert str(chat.value).startswith(f"{field}: ")
    assert loopback.requests == []  # nothing was sent, nothing dropped on the way
    client.close()


def test_the_errors_say_what_to_do() -> None:
    def problem(messages: list[Any]) -> str:
        with pytest.raises(ConfigurationError) as info:
            to_messages(messages)
        return str(info.value)

    assert (
        problem([{"role": "user", "content": ""}])
        == "messages[0].content: a user message needs content"
    )
    assert problem([USER, {"role": "system", "content": "x"}]) == (
        "messages[1].role: a system message must come before the conversation (or use system=)"
    )
    assert "'c2'" in problem([USER, CALL, {**RESULT, "tool_call_id": "c2"}])
    assert "already has a result (messages[2])" in problem([USER, CALL, RESULT, RESULT])
    assert "needs content or tool_calls" in problem([USER, {"role": "assistant", "content": ""}])
    # messages=[] was already rejected; still is, on the plain-list fast path too.
    assert problem([]) == "messages: at least one message is required"


# --------------------------------------------------------------------------- what stays valid


def req(messages: list[Any], provider: str, **kw: Any) -> ChatRequest:
    model = MODELS[provider].split("/", 1)[1]
    return ChatRequest(provider=provider, model=model, messages=to_messages(messages), **kw)


BODIES: dict[str, Callable[[ChatRequest], dict[str, Any]]] = {
    "openai": lambda r: openai.build_body(r, stream=False, flavor="openai"),
    "anthropic": lambda r: anthropic.build_body(r, stream=False),
    "gemini": gemini.build_body,
    "bedrock": bedrock.build_body,
    "ollama": lambda r: ollama.build_body(r, stream=False),
}


def turns(provider: str, body: dict[str, Any]) -> list[Any]:
    return body["contents"] if provider == "gemini" else body["messages"]


def test_tool_call_turn_without_text_and_empty_tool_result_reach_every_provider() -> None:
    for empty in ("", [], [{"type": "text", "text": ""}]):
        history = [USER, CALL, {**RESULT, "content": empty}]
        sent = {p: turns(p, build(req(history, p))) for p, build in BODIES.items()}
        assert sent["openai"][1:] == [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": empty or ""},
        ]
        assert sent["anthropic"][1:] == [
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "c1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1"}]},
        ]
        assert sent["gemini"][1:] == [
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "id": "c1", "response": {"result": ""}}}]},
        ]  # fmt: skip
        assert sent["bedrock"][1:] == [
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "c1", "name": "get_weather", "input": {"city": "Paris"}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "c1", "content": [], "status": "success"}}]},
        ]  # fmt: skip
        assert sent["ollama"][2] == {
            "role": "tool",
            "content": "",
            "tool_name": "get_weather",
            "tool_call_id": "c1",
        }


def test_an_empty_tool_result_list_is_sent_to_openai_as_an_empty_string() -> None:
    # The Chat Completions API rejects an empty content array.
    body = BODIES["openai"](req([USER, CALL, {**RESULT, "content": []}], "openai"))
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": ""}


def test_a_reused_call_id_in_a_later_turn_takes_a_new_result() -> None:
    history = [USER, CALL, RESULT, {"role": "user", "content": "And now?"}, CALL, RESULT]
    assert len(to_messages(history)) == 6


def test_system_prompt_then_leading_system_messages_in_order_everywhere() -> None:
    history = [
        {"role": "system", "content": "B"},
        {"role": "developer", "content": [{"type": "text", "text": "C"}]},
        USER,
    ]
    sent = {p: build(req(history, p, system="A")) for p, build in BODIES.items()}
    for provider in ("openai", "ollama"):  # separate system messages, in that order
        got = [(m["role"], m["content"]) for m in sent[provider]["messages"]]
        assert got[:3] in (
            [("system", "A"), ("system", "B"), ("system", "C")],
            [("system", "A"), ("system", "B"), ("system", [{"type": "text", "text": "C"}])],
        ), provider
    assert sent["anthropic"]["system"] == "A\n\nB\n\nC"
    assert sent["gemini"]["systemInstruction"] == {
        "parts": [{"text": "A"}, {"text": "B"}, {"text": "C"}]
    }
    assert sent["bedrock"]["system"] == [{"text": "A"}, {"text": "B"}, {"text": "C"}]


def test_a_bare_image_url_string_is_the_same_as_the_url_dict_on_every_provider() -> None:
    def user(image: Any) -> list[Any]:
        return [{"role": "user", "content": [{"type": "text", "text": "What is it?"},
                                             {"type": "image_url", "image_url": image}]}]  # fmt: skip

    url = "https://example.com/cat.png"
    for provider, build in BODIES.items():
        outcomes = []
        for form in (url, {"url": url}):
            try:
                outcomes.append(build(req(user(form), provider)))
            except ConfigurationError as exc:  # Bedrock and Ollama need the bytes
                outcomes.append((exc.field, str(exc)))
        assert outcomes[0] == outcomes[1], provider
    # Typed messages holding dict parts are converted the same way.
    typed = Message(role="user", content=[{"type": "image_url", "image_url": url}])  # type: ignore[list-item]
    assert to_messages([typed])[0].content == (ImagePart(url=url),)
    with pytest.raises(ConfigurationError) as info:
        to_messages(
            [{"role": "user", "content": [{"type": "image_url", "image_url": "ftp://x/y.png"}]}]
        )
    assert info.value.field == "messages[0].content[0].image_url.url"


def test_valid_typed_messages_pass_unchanged() -> None:
    history = (
        Message(role="system", content="Be terse."),
        Message(role="user", content=(TextPart(text="hi"), ImagePart(url="https://x.io/a.png"))),
        Message(role="assistant", tool_calls=(ToolCall(id="t", name="f", arguments={}),)),
        Message(role="tool", tool_call_id="t", content=""),
    )
    out = to_messages(list(history))
    assert all(a is b for a, b in zip(out, history, strict=True))


@pytest.mark.parametrize("provider", ["gemini", "openai", "ollama"])
def test_an_image_in_an_assistant_turn_is_an_error_not_dropped(provider: str) -> None:
    image = {"type": "image_url", "image_url": "https://example.com/cat.png"}
    history = [USER, {"role": "assistant", "content": [image]}, {"role": "user", "content": "so?"}]
    with pytest.raises(ConfigurationError) as info:
        BODIES[provider](req(history, provider))
    assert info.value.field == "messages[1].content[0]"
