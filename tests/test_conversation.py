"""Conversation: the history fitted to the context window (property-based), never
splitting a tool call from its results, never dropping the system prompt; summaries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmswitch import Conversation
from llmswitch.conversation import SUMMARY_HEADING, model_summarizer
from llmswitch.errors import ConfigurationError, ContextLengthExceededError
from llmswitch.messages import Message, ToolCall
from llmswitch.testing import FakeProvider


def _count(message: Message) -> int:
    """A simple exact counter: 1 per character of text, 5 per tool call, 2 of framing."""
    return 2 + len(message.text) + 5 * len(message.tool_calls)


@st.composite
def _histories(draw: st.DrawFn) -> list[Message]:
    out: list[Message] = []
    for turn in range(draw(st.integers(1, 12))):
        out.append(Message(role="user", content="u" * draw(st.integers(1, 40))))
        for call in range(draw(st.integers(0, 2))):  # tool rounds in this turn
            ids = [f"t{turn}-{call}-{k}" for k in range(draw(st.integers(1, 3)))]
            calls = tuple(ToolCall(id=i, name="f", arguments={}) for i in ids)
            out.append(Message(role="assistant", tool_calls=calls))
            out += [Message(role="tool", tool_call_id=i, content="r" * draw(st.integers(1, 30)))
                    for i in ids]  # fmt: skip
        out.append(Message(role="assistant", content="a" * draw(st.integers(1, 40))))
    return out


@settings(max_examples=200, deadline=None)
@given(_histories(), st.integers(60, 600), st.integers(1, 50), st.text(max_size=30))
def test_fitting_rules(history: list[Message], window: int, reserve: int, system: str) -> None:
    conv = Conversation(system=system or None, history=history, context_window=window,
                        max_tokens=reserve, count=_count)  # fmt: skip
    try:
        sent = conv.messages()
    except ContextLengthExceededError:
        # Only when the system prompt and the latest turn alone are too big.
        last_user = max(i for i, m in enumerate(history) if m.role == "user")
        need = sum(_count(m) for m in history[last_user:])
        if system:
            need += _count(Message(role="system", content=system))
        assert need > window - reserve - 3
        return
    if system:
        assert sent[0] == Message(role="system", content=system)  # never dropped
        sent = sent[1:]
    assert sent and sent == history[len(history) - len(sent) :]  # the newest, in order
    assert sent[0].role == "user"  # whole turns: starts with the user
    ids = {c.id for m in sent for c in m.tool_calls}
    assert all(m.tool_call_id in ids for m in sent if m.role == "tool")  # never split
    assert conv.tokens() <= window - reserve  # fits, with the answer's room
    dropped = history[: len(history) - len(sent)]
    if dropped:  # maximal: the next older turn would not have fit
        start = max(i for i, m in enumerate(dropped) if m.role == "user")
        more = sum(_count(m) for m in dropped[start:])
        assert conv.tokens() + more > window - reserve


def test_everything_is_kept_when_it_fits_or_the_window_is_unknown() -> None:
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert len(Conversation("openai/gpt-4o", "sys", history=history).messages()) == 3
    assert Conversation("nowhere/none", history=history).context_window is None
    assert len(Conversation("nowhere/none", history=history).messages()) == 2


def test_the_catalog_window_and_the_answer_reserve() -> None:
    conv = Conversation("openai/gpt-4o", max_tokens=1000)
    assert conv.context_window == 128_000
    assert conv.budget == 128_000 - 1000 - 3
    assert Conversation("openai/gpt-4o").budget == 128_000 - 4096 - 3  # the default reserve


def test_summaries_replace_dropped_turns_once() -> None:
    calls: list[list[str]] = []

    def summarize(messages: list[Message]) -> str:
        calls.append([m.text for m in messages])
        return f"s{len(calls)}"

    # Each turn costs 63 + 10 tokens; the system prompt 5, 46 with a summary; the
    # budget 220 - 10 - 3 = 207: two turns and a summary fit, three turns do not.
    conv = Conversation(system="sys", context_window=220, max_tokens=10, count=_count,
                        summarize=summarize)  # fmt: skip
    question = [f"question {i} " + "x" * 50 for i in range(4)]
    for i in range(3):
        conv.user(question[i]).assistant(f"answer {i}")
    sent = conv.messages()
    assert sent[0].text == f"sys\n\n{SUMMARY_HEADING}\ns1"
    assert [m.text for m in sent[1:]] == [question[1], "answer 1", question[2], "answer 2"]
    assert calls == [[question[0], "answer 0"]]
    assert conv.dropped == 2
    conv.messages()
    assert len(calls) == 1  # reused while the same turns are dropped
    conv.user(question[3]).assistant("answer 3")
    sent = conv.messages()
    # Extended: the previous summary and the newly dropped turn, one more call.
    assert calls[1] == [f"{SUMMARY_HEADING}\ns1", question[1], "answer 1"]
    assert sent[0].text.endswith("s2") and len(calls) == 2


def test_the_latest_turn_must_fit() -> None:
    conv = Conversation(system="s", context_window=50, max_tokens=10, count=_count)
    conv.user("x" * 100)
    with pytest.raises(ContextLengthExceededError, match="latest turn"):
        conv.messages()


def test_bad_input() -> None:
    with pytest.raises(ConfigurationError, match="system prompt is its system="):
        Conversation().add({"role": "system", "content": "no"})
    with pytest.raises(ConfigurationError, match="max_tokens"):
        Conversation(max_tokens=0)


def test_with_a_client_and_a_model_summarizer() -> None:
    from llmswitch import Client

    fake = FakeProvider(
        "openai", default={"text": "the gist", "usage": {"input_tokens": 1, "output_tokens": 1}}
    )
    with Client(providers=[fake]) as client:
        conv = Conversation(
            "openai/gpt-4o",
            system="sys",
            context_window=120,
            max_tokens=10,
            count=_count,
            summarize=model_summarizer(client, "openai/gpt-4o-mini"),
        )
        for i in range(4):
            conv.user(f"q{i} " + "y" * 20)
            conv.add(client.chat(conv.model, conv.messages(), max_tokens=conv.max_tokens))
        sent = conv.messages()
    assert sent[0].text.endswith(f"{SUMMARY_HEADING}\nthe gist")
    assert any(r.model == "gpt-4o-mini" for r in fake.requests)  # the summary call
    assert sent[-1].role == "assistant" and sent[-1].text == "the gist"
