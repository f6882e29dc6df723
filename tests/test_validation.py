"""Invalid input fails before any network call, with an error naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from llmswitch import Client, ConfigurationError, ImagePart, Message, TextPart, ToolCall
from llmswitch.messages import to_messages, to_tools

ENV = {
    "OPENAI_API_KEY": "sk-test-validation-0123456789",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
}
HI = [{"role": "user", "content": "hi"}]


def _client() -> Client:
    # Port 9 (discard) is closed: if validation let a call through, it would fail
    # with a TransportError, not a ConfigurationError.
    return Client(env=ENV)


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([], "messages"),
        ("hello", "messages"),
        ([{"role": "wizard", "content": "x"}], "messages[0].role"),
        ([{"role": "user"}], "messages[0].content"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
        (
            [{"role": "user", "content": "x"}, {"role": "tool", "content": "18C"}],
            "messages[1].tool_call_id",
        ),
        (
            [{"role": "user", "content": [{"type": "video", "url": "x"}]}],
            "messages[0].content[0].type",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}],
                }
            ],
            "messages[0].content[0].image_url.url",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}],
                }
            ],
            "messages[0].content[0].image_url.url",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@@"}}
                    ],
                }
            ],
            "messages[0].content[0].image_url.url",
        ),
        ([{"role": "user", "content": "x", "colour": "red"}], "messages[0].colour"),
        (
            [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{bad"}}],
                }
            ],
            "messages[0].tool_calls[0].function.arguments",
        ),
        ([{"role": "user", "content": "x", "tool_calls": [{"id": "1"}]}], "messages[0].tool_calls"),
    ],
)
def test_bad_messages_name_the_field(messages: Any, field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _client().chat("openai/gpt-4o-mini", messages=messages)
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": {"type": "string"}},
                    }
                ]
            },
            "tools[0].parameters",
        ),
        ({"tools": [{"name": "f", "parameters": ["not", "a", "schema"]}]}, "tools[0].parameters"),
        ({"tools": [{"description": "no name"}]}, "tools[0].name"),
        ({"tool_choice": "required"}, "tool_choice"),
        (
            {
                "tools": [{"name": "f"}],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
            },
            "tool_choice",
        ),
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"stop": [1]}, "stop"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"reasoning": "extreme"}, "reasoning"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": {"frist_token": 3}}, "timeout.frist_token"),
    ],
)
def test_bad_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _client().chat("openai/gpt-4o-mini", messages=HI, **options)
    assert info.value.field == field


def test_a_misspelt_option_is_a_type_error_naming_it() -> None:
    # The options are keyword parameters (mypy catches the typo before it runs).
    with pytest.raises(TypeError, match="'temprature'"):
        _client().chat("openai/gpt-4o-mini", messages=HI, temprature=0.2)  # type: ignore[call-arg]


def test_an_unknown_option_inside_suggests_the_right_name() -> None:
    # Code that hands options on by name (the request builder's .options()) reaches the
    # core's check, which keeps the suggestion.
    core = _client()._core
    with pytest.raises(ConfigurationError, match="did you mean 'temperature'"):
        core.request("openai/gpt-4o-mini", HI, temprature=0.2)


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        _client().chat("nope/model", messages=HI)
    assert "unknown provider 'nope'" in str(info.value)
    assert "openai" in str(info.value) and "anthropic" in str(info.value)


def test_model_without_provider_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="'<provider>/<model>'"):
        _client().chat("gpt-4o-mini", messages=HI)


@pytest.mark.parametrize(
    ("model", "variable"),
    [
        ("openai/gpt-4o-mini", "OPENAI_API_KEY"),
        ("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
        ("azure/my-deployment", "AZURE_OPENAI_ENDPOINT"),
    ],
)
def test_unconfigured_provider_names_the_variable_to_set(model: str, variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        Client(env={}).chat(model, messages=HI)


def test_typed_objects_and_dicts_are_equivalent() -> None:
    typed = to_messages(
        [
            Message(
                role="user", content=(TextPart(text="look"), ImagePart(url="https://x.test/a.png"))
            ),
            Message(
                role="assistant", tool_calls=(ToolCall(id="c1", name="f", arguments={"a": 1}),)
            ),
            Message(role="tool", content="ok", tool_call_id="c1"),
        ]
    )
    dicts = to_messages(
        [
            {"role": "user", "content": [{"type": "text", "text": "look"},
                                         {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ]
    )  # fmt: skip
    assert [m.to_dict() for m in typed] == [m.to_dict() for m in dicts]
    assert to_messages([m.to_dict() for m in typed]) == typed


def test_developer_role_is_a_system_message_and_short_tool_form_is_accepted() -> None:
    (msg,) = to_messages([{"role": "developer", "content": "be terse"}])
    assert msg.role == "system"
    (tool,) = to_tools([{"name": "f", "description": "d", "parameters": {"type": "object"}}])
    assert (tool.name, tool.description) == ("f", "d")


def test_data_url_image_exposes_media_type_and_payload() -> None:
    (msg,) = to_messages(
        [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="}
                ],
            }
        ]
    )
    assert isinstance(msg.content, tuple)
    part = msg.content[0]
    assert isinstance(part, ImagePart)
    assert (part.media_type, part.data) == ("image/png", "iVBORw0KGgo=")


def test_api_key_never_in_error_or_repr() -> None:
    client = _client()
    with pytest.raises(ConfigurationError) as info:
        client.chat("openai/gpt-4o-mini", messages=[])
    provider = client._core.provider("openai")
    assert "sk-test-validation" not in repr(provider) + repr(info.value) + str(info.value)
    assert "sk-test-validation" not in repr(provider.endpoint)  # type: ignore[attr-defined]
