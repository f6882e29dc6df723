"""The Anthropic request's shortcut for plain histories (alternating user/assistant
text turns) gives exactly the message list the general block-building path gives, and
steps aside for every history it does not cover."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmswitch.messages import ChatRequest, Message, ReasoningBlock, TextPart, ToolCall
from llmswitch.providers.anthropic._request import (
    _block_messages,
    _plain_messages,
    _system,
    build_body,
)

texts = st.text(min_size=0, max_size=12)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    role = draw(st.sampled_from(["user", "assistant", "system"]))
    kind = draw(st.sampled_from(["text", "text", "text", "parts", "cache", "call", "thought"]))
    content: str | tuple[TextPart, ...] = draw(texts)
    extra: dict[str, object] = {}
    if kind == "parts":
        content = tuple(TextPart(text=t) for t in draw(st.lists(texts, min_size=1, max_size=3)))
    elif kind == "cache":
        extra["cache_control"] = {"type": "ephemeral"}
    elif kind == "call" and role == "assistant":
        extra["tool_calls"] = (ToolCall(id="c1", name="f", arguments={"x": 1}),)
    elif kind == "thought" and role == "assistant":
        extra["reasoning"] = (ReasoningBlock(text="hm", signature="sig"),)
    return Message(role=role, content=content, **extra)  # type: ignore[arg-type]


def _request(history: list[Message]) -> ChatRequest:
    return ChatRequest(provider="anthropic", model="claude-sonnet-4-5", messages=tuple(history))


@settings(max_examples=400, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=6))
def test_the_shortcut_is_the_general_path_wherever_it_applies(history: list[Message]) -> None:
    request = _request(history)
    plain: list[dict[str, object]] = []
    system_turns = _plain_messages(request, plain)
    if system_turns is not None:
        assert plain == _block_messages(request)
        assert system_turns == any(m.role == "system" for m in history)
    body = build_body(request, stream=False)
    assert body["messages"] == _block_messages(request)
    # the system prompt is built whenever there is one, wherever its turns are
    assert body.get("system") == _system(request)


def test_a_plain_conversation_takes_the_shortcut() -> None:
    history = [
        Message(role="system", content="be brief"),
        Message(role="user", content="hi"),
        Message(role="assistant", content="hello"),
        Message(role="user", content="and?"),
    ]
    plain: list[dict[str, object]] = []
    assert _plain_messages(_request(history), plain) is True  # a system turn passed over
    assert plain == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and?"},
    ]
    assert build_body(_request(history), stream=False)["system"] == "be brief"


def test_two_user_turns_in_a_row_are_merged_by_the_general_path() -> None:
    history = [Message(role="user", content="a"), Message(role="user", content="b")]
    assert _plain_messages(_request(history), []) is None
    assert build_body(_request(history), stream=False)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]
