"""``_frozen.fast_init`` builds an instance through a plain twin class with the same
slots: the instance must end up with its own class and every field set, whatever
the instance is (a subclass takes the per-slot path), and a failing default factory
must leave no half-built object of the wrong class behind a caller's reference."""

from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmswitch._frozen import fast_init
from llmswitch.messages import ChatRequest, ChatResponse, Message, Usage


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Fast:
    a: int
    b: str = "x"
    c: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plain:
    a: int
    b: str = "x"
    c: list[int] = field(default_factory=list)


@given(st.integers(), st.text(), st.lists(st.integers()))
def test_same_fields_as_dataclass_init(a: int, b: str, c: list[int]) -> None:
    fast, plain = Fast(a=a, b=b, c=c), Plain(a=a, b=b, c=c)
    assert type(fast) is Fast
    assert dataclasses.astuple(fast) == dataclasses.astuple(plain)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.b = "changed"  # type: ignore[misc]


def test_the_library_value_types_keep_their_class() -> None:
    usage = Usage(input_tokens=1, output_tokens=2)
    message = Message(role="user", content="hi")
    request = ChatRequest(provider="p", model="m", messages=(message,), max_tokens=5)
    response = ChatResponse(id="r", model="m", provider="p", text="t", usage=usage)
    for value, cls in ((usage, Usage), (message, Message), (request, ChatRequest),
                       (response, ChatResponse)):  # fmt: skip
        assert type(value) is cls and value.__class__ is cls and isinstance(value, cls)
    assert request.messages == (message,) and request.max_tokens == 5 and request.stop == ()
    assert response.usage is usage and response.text == "t" and response.tool_calls == ()


def test_a_subclass_instance_is_built_with_its_own_class() -> None:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Sub(Fast):
        d: int = 4

    # Sub's own (dataclass) __init__ sets its fields; Fast's runs for a plain subclass:
    class Bare(Fast):
        __slots__ = ("extra",)

    sub = Sub(a=1, d=5)
    assert type(sub) is Sub and (sub.a, sub.b, sub.c, sub.d) == (1, "x", [], 5)
    bare = Bare(a=2, b="y")
    assert type(bare) is Bare and (bare.a, bare.b, bare.c) == (2, "y", [])


def test_a_failing_default_factory_leaves_nothing_of_the_twin_class() -> None:
    def boom() -> list[int]:
        raise RuntimeError("factory failed")

    @fast_init
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Fails:
        a: int
        c: list[int] = field(default_factory=boom)

    with pytest.raises(RuntimeError, match="factory failed"):
        Fails(a=1)
    gc.collect()
    twins = [o for o in gc.get_objects() if type(o).__name__ == "_FailsFields"]
    assert twins == []
    assert Fails(a=1, c=[3]).c == [3]


def test_fields_named_like_builtins() -> None:
    @fast_init
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Named:
        type: str
        id: int = 0
        object: str = "o"

    named = Named(type="text", id=3)
    assert type(named) is Named and (named.type, named.id, named.object) == ("text", 3, "o")
