"""Who is calling: the tags a usage row (and a budget) is filed under.

The gateway (from the access key), the prompts registry (name/version/variant) and an
application (``with usage.tags(user="alice"):``) set them; the ledger and budgets read
them with :func:`current_tags`. A ``ContextVar`` carries them, so they follow the
call through threads started with ``contextvars.copy_context`` and through asyncio
tasks (each task copies the context it was created in), and nested blocks restore
the outer tags on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["CallTags", "current_tags", "tags"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTags:
    """The who-is-calling fields of a usage row; ``None`` = not set."""

    user: str | None = None
    team: str | None = None
    access_key: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    prompt_variant: str | None = None


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
    outer = _current.get()
    inner = CallTags(
        user=outer.user if user is None else user,
        team=outer.team if team is None else team,
        access_key=outer.access_key if access_key is None else access_key,
        prompt_name=outer.prompt_name if prompt_name is None else prompt_name,
        prompt_version=outer.prompt_version if prompt_version is None else prompt_version,
        prompt_variant=outer.prompt_variant if prompt_variant is None else prompt_variant,
    )
    token = _current.set(inner)
    try:
        yield inner
    finally:
        _current.reset(token)
