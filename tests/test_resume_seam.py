"""The sans-I/O parts of stream recovery (llmswitch._resume): the seam's cut of what a
continuation repeats, the continuation request, which providers continue a prefill.
The client's resumed streams are in tests/test_resume.py and tests/test_resume_e2e.py."""

from __future__ import annotations

from typing import Any

import pytest

from llmswitch._resume import (
    CONTINUE_INSTRUCTION,
    SEAM_WINDOW,
    _Overlap,
    continuation,
    prefills,
)
from llmswitch.messages import ChatRequest, Message, ReasoningConfig, ResponseFormat

# --------------------------------------------------------------------------- the seam's cut


@pytest.mark.parametrize(
    ("tail", "pieces", "shown", "trimmed"),
    [
        # exact continuation: nothing repeated
        ("The quick brown fo", ["x jumps"], "x jumps", ""),
        # the broken word made anew
        ("The quick brown fo", ["fox", " jumps"], "x jumps", "fo"),
        # the sentence from its start, arriving in small pieces
        ("Intro. The quick brown fo", ["The qu", "ick br", "own fox", " jumps"], "x jumps",
         "The quick brown fo"),
        # the whole text so far, and more
        ("abc", ["abcdef"], "def", "abc"),
        # a space the prefill left out, sent again
        (" ", [" bar"], "bar", " "),
        ("\n\n", ["\nNext"], "Next", "\n"),
        # nothing to compare with
        ("", ["hello"], "hello", ""),
    ],
)  # fmt: skip
def test_overlap_cuts_what_repeats_the_tail(
    tail: str, pieces: list[str], shown: str, trimmed: str
) -> None:
    overlap = _Overlap(tail)
    out = ""
    decided = False
    for piece in pieces:
        got = overlap.feed(piece) if not decided else piece
        if got is not None:
            decided = True
            out += got
    if not decided:
        out = overlap.flush()
    assert out == shown
    assert overlap.trimmed == trimmed


def test_overlap_holds_back_only_while_a_repetition_is_possible() -> None:
    overlap = _Overlap("one two three four")
    assert overlap.feed("two") is None  # may be "two three four" again
    assert overlap.feed(" thr") is None
    assert overlap.feed("illing") == "two thrilling"  # not a repetition after all
    assert overlap.trimmed == ""
    fresh = _Overlap("one two three four")
    assert fresh.feed("zebra") == "zebra"  # decided at once: not in the tail


def test_overlap_flush_decides_on_what_came() -> None:
    overlap = _Overlap("for a tail ending in fo")
    assert overlap.feed("f") is None  # may be "for a tail...": held back
    assert overlap.flush() == "f"  # "f" does not end the tail: nothing to cut
    overlap = _Overlap("for a tail ending in fo")
    assert overlap.feed("fo") is None  # may still be "for a tail..." again
    assert overlap.flush() == ""  # it ends the tail: cut
    assert overlap.trimmed == "fo"
    assert _Overlap("a tail ending in fo").feed("fo") == ""  # decided at once


# --------------------------------------------------------------------------- the request


def request(**kw: Any) -> ChatRequest:
    messages = kw.pop("messages", (Message(role="user", content="Tell me"),))
    return ChatRequest(provider="anthropic", model="claude-sonnet-4-5", messages=messages, **kw)


def test_prefill_sends_the_text_so_far_without_trailing_whitespace() -> None:
    new, how, tail = continuation(request(), "Foxes are \n", prefill=True)
    assert how == "prefill"
    assert new.messages[-1] == Message(role="assistant", content="Foxes are")
    assert tail == " \n"  # what the continuation may send again
    assert len(new.messages) == 2


def test_prefill_continues_the_callers_own_prefill() -> None:
    mine = (Message(role="user", content="List"), Message(role="assistant", content="1."))
    new, _how, _ = continuation(request(messages=mine), " apples, 2.", prefill=True)
    assert new.messages == (
        Message(role="user", content="List"),
        Message(role="assistant", content="1. apples, 2."),
    )


def test_continuation_request_asks_to_go_on() -> None:
    new, how, tail = continuation(request(), "Foxes are small", prefill=False)
    assert how == "continuation"
    assert new.messages[1:] == (
        Message(role="assistant", content="Foxes are small"),
        Message(role="user", content=CONTINUE_INSTRUCTION),
    )
    assert tail == "Foxes are small"
    long = "x" * (SEAM_WINDOW + 50)
    assert continuation(request(), long, prefill=False)[2] == "x" * SEAM_WINDOW


def test_no_text_yet_sends_the_request_again() -> None:
    original = request(response_format=ResponseFormat(type="json_object"), max_tokens=50)
    new, how, _ = continuation(original, "", prefill=True, output_tokens=10)
    assert how == "restart"
    assert new is original


def test_continuation_drops_the_schema_and_lowers_max_tokens() -> None:
    rf = ResponseFormat(type="json_schema", schema={"type": "object"})
    new, _, _ = continuation(
        request(response_format=rf, max_tokens=100), '{"a": ', prefill=True, output_tokens=30
    )
    assert new.response_format is None
    assert new.max_tokens == 70
    new, _, _ = continuation(request(max_tokens=100), "x", prefill=True, output_tokens=None)
    assert new.max_tokens == 100  # nothing counted: the cap stays


@pytest.mark.parametrize(
    ("kind", "model", "expected"),
    [
        ("anthropic", "claude-sonnet-4-5", True),
        ("ollama", "llama3.2", True),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("bedrock", "meta.llama3-70b-instruct-v1:0", False),
        ("vertex", "claude-sonnet-4-5@20250929", True),
        ("vertex", "anthropic/claude-sonnet-4-5@20250929", True),
        ("vertex", "gemini-2.5-flash", False),
        ("openai", "gpt-4o-mini", False),
        ("gemini", "gemini-2.5-flash", False),
        ("openai-compatible", "qwen", False),
        (None, "m", False),
    ],
)
def test_which_providers_prefill(kind: str | None, model: str, expected: bool) -> None:
    assert prefills(kind, model, request()) is expected


def test_thinking_turns_prefill_off() -> None:
    thinking = request(reasoning=ReasoningConfig(budget_tokens=2048))
    assert prefills("anthropic", "claude-sonnet-4-5", thinking) is False
    off = request(reasoning=ReasoningConfig(effort="none"))
    assert prefills("anthropic", "claude-sonnet-4-5", off) is True
