"""``_frozen.fast_init``: the value types' cheaper ``__init__`` behaves as dataclass's own."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from llmswitch._frozen import fast_init, maker, positional_maker
from llmswitch.messages import ChatRequest, ChatResponse, Message, Usage


@dataclass(frozen=True, slots=True, kw_only=True)
class Plain:
    a: int
    b: str = "x"
    c: list[int] = field(default_factory=list)


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Fast:
    a: int
    b: str = "x"
    c: list[int] = field(default_factory=list)


def test_same_values_defaults_and_fresh_factories() -> None:
    fast, plain = Fast(a=1), Plain(a=1)
    assert (fast.a, fast.b, fast.c) == (plain.a, plain.b, plain.c) == (1, "x", [])
    assert Fast(a=1).c is not Fast(a=1).c  # a new list per instance
    given = [1]
    assert Fast(a=1, c=given).c is given


def test_still_frozen_and_slotted() -> None:
    fast = Fast(a=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.a = 2  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        fast.other = 1  # type: ignore[attr-defined]


def test_equality_hash_repr_replace_pickle_copy() -> None:
    fast = Fast(a=1, b="y", c=[2])
    assert fast == Fast(a=1, b="y", c=[2]) and fast != Fast(a=2)
    assert repr(fast) == repr(Plain(a=1, b="y", c=[2])).replace("Plain", "Fast")
    assert dataclasses.replace(fast, a=5) == Fast(a=5, b="y", c=[2])
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(fast, protocol)) == fast
    assert copy.deepcopy(fast) == fast and copy.copy(fast) == fast
    assert hash(Fast(a=1, b="y", c=())) == hash(Fast(a=1, b="y", c=()))  # type: ignore[arg-type]


def test_keyword_only_and_required_fields_as_before() -> None:
    with pytest.raises(TypeError):
        Fast(1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Fast(a=1, d=2)  # type: ignore[call-arg]


def test_signature_keeps_names_defaults_and_types() -> None:
    fast = inspect.signature(Fast)
    plain = inspect.signature(Plain)
    assert [(p.name, p.kind, p.annotation) for p in fast.parameters.values()] == [
        (p.name, p.kind, p.annotation) for p in plain.parameters.values()
    ]
    assert fast.parameters["b"].default == "x"


def test_refuses_what_it_cannot_reproduce() -> None:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class Positional:
        a: int

    for cls in (Checked, Positional):
        with pytest.raises(TypeError, match="does not handle"):
            fast_init(cls)


def test_the_value_types_use_it() -> None:
    response = ChatResponse(id=None, model="m", provider="p")
    assert (
        response.usage == Usage()
        and response.usage is not ChatResponse(id=None, model="m", provider="p").usage
    )
    assert Message(role="user", content="hi").tool_calls == ()
    for cls in (ChatResponse, Message, Usage):  # built by fast_init, named as before
        assert "_FACTORY" in cls.__init__.__globals__
        assert cls.__init__.__qualname__ == f"{cls.__name__}.__init__"


def test_maker_builds_what_the_class_call_builds() -> None:
    make = maker(Fast)
    built = make(a=1, b="y", c=[2])
    assert type(built) is Fast and built == Fast(a=1, b="y", c=[2])
    assert make(a=1) == Fast(a=1) and make(a=1).c is not make(a=1).c  # fresh factories
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.a = 2  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(built)) == built and copy.copy(built) == built
    for bad in ({}, {"a": 1, "d": 2}):  # the class call's TypeErrors
        with pytest.raises(TypeError):
            make(**bad)
    with pytest.raises(TypeError):
        make(1)  # type: ignore[misc]


def test_maker_of_the_value_types_and_refusal() -> None:
    usage = maker(Usage)(input_tokens=3, output_tokens=4)
    assert usage == Usage(input_tokens=3, output_tokens=4) and usage.total_tokens is None
    response = maker(ChatResponse)(id=None, model="m", provider="p", usage=usage)
    assert response == ChatResponse(id=None, model="m", provider="p", usage=usage)
    assert maker(ChatResponse)(id=None, model="m", provider="p").usage == Usage()
    request = maker(ChatRequest)(provider="p", model="m", messages=())
    assert request == ChatRequest(provider="p", model="m", messages=())
    with pytest.raises(TypeError, match="not a fast_init class"):
        maker(Plain)


def test_positional_maker_takes_every_field_in_order() -> None:
    make = positional_maker(Fast)
    assert make(1, "y", [2]) == Fast(a=1, b="y", c=[2]) and type(make(1, "y", [])) is Fast
    for bad in ((1, "y"), (1, "y", [], 4)):  # every field, no more
        with pytest.raises(TypeError):
            make(*bad)
    with pytest.raises(TypeError, match="not a fast_init class"):
        positional_maker(Plain)


async def test_the_positional_call_sites_fill_the_right_fields() -> None:
    """_core.request and events.build_response pass 16 and 20 fields by position: a
    request with every option set, and a response, equal the keyword-built ones."""
    from llmswitch import AsyncClient
    from llmswitch.events import build_response
    from llmswitch.messages import ReasoningConfig, ResponseFormat, Tool, ToolChoice

    client = AsyncClient(env={"OPENAI_API_KEY": "sk-order"})
    _, request, _ = client._core.request(
        "openai/unlisted-model", [{"role": "user", "content": "hi"}], "sys",
        [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "required", 0.5, 7, 0.9, ["END"], "json", "high", "u1", {"m": "1"}, None,
        {"b": 1}, {"x-h": "v"},
    )  # fmt: skip
    assert request == ChatRequest(
        provider="openai", model="unlisted-model", messages=(Message(role="user", content="hi"),),
        system="sys", tools=(Tool(name="f", parameters={"type": "object"}),),
        tool_choice=ToolChoice(mode="required"), temperature=0.5, max_tokens=7, top_p=0.9,
        stop=("END",), response_format=ResponseFormat(type="json_object"),
        reasoning=ReasoningConfig(effort="high"), user="u1", metadata={"m": "1"},
        extra_body={"b": 1}, extra_headers={"x-h": "v"},
    )  # fmt: skip
    usage = Usage(input_tokens=1, output_tokens=2, total_tokens=3)
    response = build_response(
        provider="openai", id="r1", model="gpt-4o", text="t", tool_calls=(), reasoning="why",
        reasoning_blocks=(), refusal="no", finish_reason="length", raw_finish_reason="length",
        usage=usage, raw={"k": 1}, request_id="req",
    )  # fmt: skip
    expected = ChatResponse(
        id="r1", model="gpt-4o", provider="openai", text="t", reasoning="why", refusal="no",
        finish_reason="length", raw_finish_reason="length", usage=usage,
        cost=response.cost, raw={"k": 1}, request_id="req",
    )  # fmt: skip
    assert response == expected and response.cost is not None
    assert (response.raw, response.request_id, response.prompt, response.cached) == (
        {"k": 1}, "req", None, False,
    )  # fmt: skip
    await client.aclose()
