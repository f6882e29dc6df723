"""Who is calling: the tags a usage row (and a budget) is filed under.

The gateway (from the access key), the prompts registry (name/version/variant) and an
application (``with usage.tags(user="alice"):``) set them; the ledger and budgets read
them with :func:`current_tags`. A ``ContextVar`` carries them, so they follow the
call through threads started with ``contextvars.copy_context`` and through asyncio
tasks (each task copies the context it was created in), and nested blocks restore
the outer tags on exit.

A stream is read after ``client.stream()`` returns, maybe outside the block it was
opened in (the gateway sends a stream's body after its handler has left the caller's
tags): the client keeps the tags in force when the stream was opened in its
``Call.state`` (:data:`TAGS_KEY`), and the layers read a call's tags with
:func:`call_tags`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

__all__ = ["TAGS_KEY", "CallTags", "call_tags", "current_tags", "enter_tags", "leave_tags", "tags"]

# Where a stream's tags, taken when it was opened, sit in ``Call.state``.
TAGS_KEY = "llmswitch.tags"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTags:
    """The who-is-calling fields of a usage row; ``None`` = not set."""

    user: str | None = None
    team: str | None = None
    access_key: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    prompt_variant: str | None = None

    def over(self, outer: CallTags) -> CallTags:
        """These tags inside ``outer``: fields left ``None`` take ``outer``'s."""
        if outer is _EMPTY:
            return self
        return CallTags(
            user=outer.user if self.user is None else self.user,
            team=outer.team if self.team is None else self.team,
            access_key=outer.access_key if self.access_key is None else self.access_key,
            prompt_name=outer.prompt_name if self.prompt_name is None else self.prompt_name,
            prompt_version=(
                outer.prompt_version if self.prompt_version is None else self.prompt_version
            ),
            prompt_variant=(
                outer.prompt_variant if self.prompt_variant is None else self.prompt_variant
            ),
        )


_EMPTY = CallTags()
_current: ContextVar[CallTags] = ContextVar("llmswitch_call_tags", default=_EMPTY)


def current_tags() -> CallTags:
    """The tags in force here (all ``None`` outside any :func:`tags` block)."""
    return _current.get()


@contextmanager
def tags(
    user: str | None = None,
    team: str | None = None,
    access_key: str | None = None,
    prompt_name: str | None = None,
    prompt_version: int | None = None,
    prompt_variant: str | None = None,
) -> Iterator[CallTags]:
    """Tag the calls made inside the block. Arguments left ``None`` keep the value of an
    enclosing block, so a gateway can set the key and team and a prompt the version::

        with usage.tags(user="alice", team="ml"):
            client.chat(...)   # its usage row carries user=alice, team=ml

    Works the same in sync and async code (a ``with`` inside a coroutine tags only that
    task's calls)."""
    given = CallTags(
        user=user, team=team, access_key=access_key, prompt_name=prompt_name,
        prompt_version=prompt_version, prompt_variant=prompt_variant,
    )  # fmt: skip
    token = enter_tags(given)
    try:
        yield _current.get()
    finally:
        leave_tags(token)


def call_tags(state: Mapping[str, object]) -> CallTags:
    """The tags of the call whose ``Call.state`` this is: those in force when its stream
    was opened (:data:`TAGS_KEY`) over those in force here (a field the opening block
    left ``None`` is taken from where the stream is read); a chat call, which runs
    inside the block it was made in, has only the latter."""
    kept = state.get(TAGS_KEY)
    here = _current.get()
    if type(kept) is not CallTags or kept is _EMPTY:
        return here
    return kept.over(here)


def enter_tags(given: CallTags) -> Token[CallTags]:
    """:func:`tags` without the ``with``, for a caller that keeps one :class:`CallTags`
    per caller (the gateway, per access key): ``given`` over the tags in force until
    :func:`leave_tags` with the token returned."""
    return _current.set(given.over(_current.get()))


def leave_tags(token: Token[CallTags]) -> None:
    _current.reset(token)
