"""``to_messages`` takes a shortcut for a list of plain ``{"role", "content": str}``
dicts (no second validation pass when they already meet the history rules): it must
give the same messages, and the same error for a history that breaks a rule, as the
general path (a tuple of the same dicts goes through it)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from llmswitch.errors import LLMError
from llmswitch.messages import to_messages

_turn = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["system", "user", "assistant"]),
        "content": st.sampled_from(["", "hi", " ", "a longer text"]),
    }
)
_other = st.sampled_from(
    [
        {"role": "user", "content": [{"type": "text", "text": "part"}]},
        {"role": "assistant", "content": None},
        {"role": "user", "content": "named", "name": "ann"},
        {"role": "tool", "content": "result", "tool_call_id": "c1"},
    ]
)


def _outcome(messages: Any) -> Any:
    try:
        return to_messages(messages)
    except LLMError as exc:
        return (type(exc), str(exc), getattr(exc, "field", None))


@given(st.lists(st.one_of(_turn, _turn, _turn, _other), min_size=1, max_size=6))
def test_plain_lists_match_the_general_path(history: list[dict[str, Any]]) -> None:
    assert _outcome(history) == _outcome(tuple(history))


def test_the_rules_still_hold_on_the_shortcut() -> None:
    assert to_messages([{"role": "system", "content": ""}, {"role": "user", "content": "q"}])
    for bad in (
        [{"role": "user", "content": ""}],
        [{"role": "user", "content": "q"}, {"role": "system", "content": "late"}],
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}],
    ):
        outcome = _outcome(bad)
        assert isinstance(outcome, tuple) and issubclass(outcome[0], LLMError)
