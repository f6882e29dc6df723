"""``Conversation``: a system prompt and a history that always fits the model.

::

    conv = Conversation("openai/gpt-4o", system="You are terse.", max_tokens=500)
    conv.user("What is a monad?")
    resp = client.chat(conv.model, conv.messages(), max_tokens=conv.max_tokens)
    conv.add(resp)                      # the assistant turn (tool calls included)

``messages()`` is the system prompt and as much of the history as fits in the model's
context window (``catalog`` ``context_window``, or ``context_window=``) minus the room
reserved for the answer (``max_tokens``, default 4096). The rules:

- the history is cut into **turns**: a user message and everything after it up to the
  next user message (the answer, the assistant's tool calls and their tool results),
  so an assistant's tool call is never separated from its results, and what is sent
  always starts with a user message;
- the oldest turns are dropped first; the system prompt and the latest turn never are
  (if those alone do not fit, :class:`~llmswitch.errors.ContextLengthExceededError`);
- with ``summarize=`` (opt-in: a callable, or :func:`model_summarizer` for a model
  call) the dropped turns are summarised instead of lost: the summary is added to the
  system prompt, made once per set of dropped turns, and extended (previous summary
  plus the newly dropped turns) when more fall out.

Tokens are counted with ``count=`` (a function of one :class:`Message`), by default the
catalog's offline estimate (:func:`llmswitch.catalog.estimate_text_tokens` per message
plus framing), which errs high so what is sent fits; pass an exact counter (e.g. one
built on ``llmswitch.catalog.tokens``) to use the window more fully.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .errors import ConfigurationError, ContextLengthExceededError
from .messages import ChatResponse, Message, _to_message

__all__ = ["SUMMARY_HEADING", "Conversation", "model_summarizer"]

SUMMARY_HEADING = "Summary of the earlier conversation:"
_PRIMING = 3  # the reply's priming tokens, as the catalog's estimate counts them

Counter = Callable[[Message], int]
Summarizer = Callable[[Sequence[Message]], str]


def _default_count(message: Message) -> int:
    from .catalog._estimate import _message_tokens

    return _message_tokens(message)


def _window(model: str | None) -> int | None:
    if model is None or "/" not in model:
        return None
    from . import catalog

    provider, name = model.split("/", 1)
    spec = catalog.lookup(provider, name)
    return None if spec is None else spec.context_window


class Conversation:
    """A system prompt and a history fitted to ``model``'s context window (module
    docs). ``model``: ``"provider/model"`` (its window comes from the catalog);
    ``context_window``: the window in tokens, for a model the catalog does not know or
    to stay below it; ``max_tokens``: room kept for the answer; ``summarize``: see the
    module docs; ``count``: tokens of one message."""

    def __init__(
        self,
        model: str | None = None,
        system: str | None = None,
        *,
        history: Iterable[Message | Mapping[str, Any]] = (),
        context_window: int | None = None,
        max_tokens: int | None = None,
        summarize: Summarizer | None = None,
        count: Counter | None = None,
    ) -> None:
        from .catalog import DEFAULT_MAX_OUTPUT_TOKENS

        for name, value in (("context_window", context_window), ("max_tokens", max_tokens)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):  # fmt: skip
                raise ConfigurationError(f"{name} must be a positive integer", field=name)
        self.model = model
        self.system = system
        self.max_tokens = max_tokens
        self.context_window = context_window if context_window is not None else _window(model)
        self.summarize = summarize
        self._reserve = max_tokens if max_tokens is not None else DEFAULT_MAX_OUTPUT_TOKENS
        self._count = count or _default_count
        self._history: list[Message] = []
        self._summary: tuple[int, str] | None = None  # (messages it covers, its text)
        self.extend(history)

    # ---- building the history

    def add(self, message: Message | Mapping[str, Any] | ChatResponse) -> Conversation:
        """Append a message (a :class:`Message`, an OpenAI-style dict, or a response:
        its assistant turn). A system message is refused: the system prompt is
        :attr:`system`."""
        if isinstance(message, ChatResponse):
            message = message.message
        # One message converted alone (its place in the history is checked when sent).
        checked = message if isinstance(message, Message) else _to_message(message, "message")
        if checked.role == "system":
            raise ConfigurationError(
                "a Conversation's system prompt is its system= (set conv.system)", field="role"
            )
        self._history.append(checked)
        return self

    def extend(self, messages: Iterable[Message | Mapping[str, Any] | ChatResponse]) -> None:
        for message in messages:
            self.add(message)

    def user(self, content: str) -> Conversation:
        return self.add(Message(role="user", content=content))

    def assistant(self, content: str) -> Conversation:
        return self.add(Message(role="assistant", content=content))

    def tool_result(self, tool_call_id: str, content: str) -> Conversation:
        return self.add(Message(role="tool", tool_call_id=tool_call_id, content=content))

    @property
    def history(self) -> list[Message]:
        """Every message added, dropped or not (a copy)."""
        return list(self._history)

    # ---- what is sent

    @property
    def budget(self) -> int | None:
        """Tokens the system prompt and history may take (``None``: no known window)."""
        if self.context_window is None:
            return None
        return self.context_window - self._reserve - _PRIMING

    def messages(self) -> list[Message]:
        """The system prompt (with any summary) and the history that fits, oldest
        first: what to pass as ``messages=``."""
        system, kept = self.fit()
        head = [] if system is None else [Message(role="system", content=system)]
        return head + kept

    def fit(self) -> tuple[str | None, list[Message]]:
        """``(system text, kept messages)``: the fitted conversation (module docs)."""
        turns = _turns(self._history)
        budget = self.budget
        if budget is None or not turns:
            return self._system_with(None), list(self._history)
        costs = [sum(self._count(m) for m in turn) for turn in turns]
        first = self._first_kept(costs, self._system_cost(None), budget)
        summary = None
        if first > 0 and self.summarize is not None:
            # The summary takes room too: drop more turns until both fit.
            while True:
                summary = self._summary_of(turns, first)
                start = self._first_kept(costs, self._system_cost(summary), budget)
                if start <= first:
                    break
                first = start
        kept = [m for turn in turns[first:] for m in turn]
        return self._system_with(summary), kept

    def tokens(self) -> int:
        """Tokens of what :meth:`messages` returns, as ``count`` counts them."""
        return sum(self._count(m) for m in self.messages()) + _PRIMING

    @property
    def dropped(self) -> int:
        """How many messages of the history :meth:`messages` leaves out now."""
        return len(self._history) - len(self.fit()[1])

    # ---- internals

    def _first_kept(self, costs: list[int], system: int, budget: int) -> int:
        """The index of the oldest turn kept: as many of the newest as fit."""
        if system + costs[-1] > budget:
            raise ContextLengthExceededError(
                f"the system prompt and the latest turn take {system + costs[-1]} tokens; "
                f"the budget is {budget} (context window {self.context_window} minus "
                f"{self._reserve} for the answer)",
                model=self.model,
            )
        used = system
        first = len(costs)
        while first > 0 and used + costs[first - 1] <= budget:
            first -= 1
            used += costs[first]
        return first

    def _system_with(self, summary: str | None) -> str | None:
        if summary is None:
            return self.system
        note = f"{SUMMARY_HEADING}\n{summary}"
        return note if not self.system else f"{self.system}\n\n{note}"

    def _system_cost(self, summary: str | None) -> int:
        text = self._system_with(summary)
        return 0 if text is None else self._count(Message(role="system", content=text))

    def _summary_of(self, turns: list[list[Message]], first: int) -> str:
        """The summary of the turns before ``first``: reused when it covers exactly
        those, extended from a shorter one, made afresh otherwise."""
        assert self.summarize is not None
        covered = sum(len(t) for t in turns[:first])
        if self._summary is not None and self._summary[0] == covered:
            return self._summary[1]
        dropped = [m for turn in turns[:first] for m in turn]
        if self._summary is not None and self._summary[0] < covered:
            done, text = self._summary
            earlier = Message(role="system", content=f"{SUMMARY_HEADING}\n{text}")
            dropped = [earlier, *dropped[done:]]
        text = self.summarize(dropped)
        self._summary = (covered, text)
        return text


def _turns(history: Sequence[Message]) -> list[list[Message]]:
    """The history cut before each user message (module docs)."""
    turns: list[list[Message]] = []
    for message in history:
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def model_summarizer(
    client: Any, model: str, *, max_tokens: int = 400, instruction: str | None = None
) -> Summarizer:
    """A ``summarize=`` that asks ``model`` through ``client`` (a sync ``Client``)::

    conv = Conversation("openai/gpt-4o", summarize=model_summarizer(client,
                        "openai/gpt-4o-mini"))
    """
    ask = instruction or (
        "Summarise the conversation below for the assistant who continues it: the "
        "user's goals, facts and decisions established, open questions. Be brief."
    )

    def summarize(messages: Sequence[Message]) -> str:
        lines = []
        for m in messages:
            text = m.text or ", ".join(f"{c.name}({c.arguments})" for c in m.tool_calls)
            lines.append(f"{m.role}: {text}")
        resp = client.chat(model, [{"role": "user", "content": "\n".join(lines)}],
                           system=ask, max_tokens=max_tokens)  # fmt: skip
        return str(resp.text).strip()

    return summarize
