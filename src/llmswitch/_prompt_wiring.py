"""``prompt=`` in ``chat``/``stream``, and ``client.prompts``.

``client.chat(model, prompt="NAME[:LABEL|@VERSION]", variables={...})`` resolves the
stored prompt (through a running experiment, for the call's user, unless it pins a
version), renders it, and makes the same call without it:

- ``system``: the prompt's, unless the call passes its own ``system=`` (which wins);
- ``messages``: the prompt's, then the call's own ``messages=`` appended after them
  (a conversation so far, a follow-up question);
- ``model``: an experiment arm's model when it sets one, else the call's, else the
  prompt's ``model`` (so ``model`` may be omitted), else ``$LLMSWITCH_MODEL``;
- options (``temperature``, ``max_tokens``...): the prompt's, where the call gives none.

The answer carries ``resp.prompt`` (:class:`~llmswitch.messages.PromptRef`: name,
version, variant), and the call's usage-ledger rows carry the same as prompt_name,
prompt_version and prompt_variant (:func:`llmswitch.usage.tags` around the call; for
a stream around each step, since a stream runs where it is iterated). A call without
``prompt=`` goes through none of this.

The prompts live in the client's database (``[storage] database_url``,
``$LLMSWITCH_DATABASE_URL``, else the default SQLite file), opened on first use.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._chat_stream import atext_pieces, text_pieces
from .errors import PromptError
from .messages import ChatResponse, PromptRef
from .usage._tags import current_tags, tags

if TYPE_CHECKING:
    from .events import Event
    from .prompts import PromptCall, PromptStore

__all__ = [
    "AsyncPromptAccess",
    "PromptAccess",
    "PromptedAsyncStream",
    "PromptedStream",
    "aprompted_chat",
    "arguments",
    "prompted_chat",
    "prompted_stream",
]

_NOT_ARGUMENTS = frozenset({"self", "prompt", "variables"})


def arguments(names: Mapping[str, Any]) -> dict[str, Any]:
    """A method's own arguments (its ``locals()`` taken first thing) without ``self``
    and the prompt's: the call to make once the prompt is applied."""
    return {k: v for k, v in names.items() if k not in _NOT_ARGUMENTS}


# ---- client.prompts


class _Access:
    """The client's :class:`PromptStore`, made on first use, over a database of its own
    (the same URL the ledger uses; the ledger's own ``Database`` belongs to its writer
    thread). Remade when a reload changes the database URL."""

    _core: Any
    _prompt_store: Any = None
    _prompt_key: Any = None

    @property
    def prompts(self) -> PromptStore:
        """The stored prompts of this client's database: ``add``, ``get``, ``list``,
        ``label``, ``diff``, ``export``... (:class:`llmswitch.prompts.PromptStore`)."""
        core = self._core
        # The environment the client was made with (``env=``), as the ledger reads it.
        env = getattr(core, "_source", None) or os.environ
        url = core.config.database_url
        key = (url, env.get("LLMSWITCH_DATABASE_URL"), env.get("LLMSWITCH_HOME"))
        store = self._prompt_store
        if store is None or self._prompt_key != key:
            from .prompts import PromptStore
            from .storage.sql import open_database

            field = "[storage] database_url" if url else "database_url"
            store = PromptStore(open_database(url, env, field=field))
            old = self._prompt_store
            self._prompt_store, self._prompt_key = store, key
            if old is not None:
                old.database.close()
        return store  # type: ignore[no-any-return]

    def _close_prompts(self) -> None:
        store, self._prompt_store = self._prompt_store, None
        if store is not None:
            store.database.close()

    async def _aclose_prompts(self) -> None:
        store, self._prompt_store = self._prompt_store, None
        if store is not None:
            await store.database.aclose()


class PromptAccess(_Access):
    """``client.prompts`` for ``Client``."""


class AsyncPromptAccess(_Access):
    """``client.prompts`` for ``AsyncClient``: use its ``a``-methods (``aadd``,
    ``aget``, ``alabel``...) from async code; a call's ``prompt=`` does."""


# ---- applying a rendered prompt to a call


def _apply(call: PromptCall, args: dict[str, Any]) -> dict[str, Any]:
    if call.arm_model is not None:
        args["model"] = call.arm_model
    elif args.get("model") is None and call.model is not None:
        args["model"] = call.model
    if args.get("system") is None and call.system is not None:
        args["system"] = call.system
    extra = args.get("messages")
    if extra is not None and (isinstance(extra, str | bytes) or not hasattr(extra, "__iter__")):
        raise PromptError("messages must be a list of messages", field="messages")
    args["messages"] = [*call.messages, *(extra or ())]
    for name, value in call.options.items():
        if args.get(name) is None:
            args[name] = value
    return args


def _user(args: Mapping[str, Any]) -> str | None:
    user = args.get("user")
    return user if isinstance(user, str) else current_tags().user


def _tagged(ref: PromptRef) -> Any:
    return tags(prompt_name=ref.name, prompt_version=ref.version, prompt_variant=ref.variant)


def _need_prompt(prompt: Any) -> str:
    if prompt is None:
        raise PromptError("variables= is for a stored prompt: pass prompt= too", field="variables")
    return prompt  # type: ignore[no-any-return]


def prompted_chat(client: Any, prompt: Any, variables: Any, args: dict[str, Any]) -> ChatResponse:
    """``client.chat(**args)`` with the stored prompt applied."""
    ref = _need_prompt(prompt)
    call = client.prompts.render(ref, variables, user=_user(args))
    with _tagged(call.ref):
        resp: ChatResponse = client.chat(**_apply(call, args))
    return dataclasses.replace(resp, prompt=call.ref)


async def aprompted_chat(
    client: Any, prompt: Any, variables: Any, args: dict[str, Any]
) -> ChatResponse:
    ref = _need_prompt(prompt)
    call = await client.prompts.arender(ref, variables, user=_user(args))
    with _tagged(call.ref):
        resp: ChatResponse = await client.chat(**_apply(call, args))
    return dataclasses.replace(resp, prompt=call.ref)


def prompted_stream(client: Any, prompt: Any, variables: Any, args: dict[str, Any]) -> Any:
    """``client.stream(**args)`` with the stored prompt applied (resolved now, from
    the cache or with one read; nothing is sent until ``with``)."""
    ref = _need_prompt(prompt)
    call = client.prompts.render(ref, variables, user=_user(args))
    with _tagged(call.ref):
        inner = client.stream(**_apply(call, args))
    return PromptedStream(inner, call.ref)


def aprompted_stream(client: Any, prompt: Any, variables: Any, args: dict[str, Any]) -> Any:
    """The async stream: the prompt is resolved when the stream is entered (a label
    lookup may need the database, which ``stream()`` itself cannot await)."""
    return PromptedAsyncStream(client, _need_prompt(prompt), variables, args)


class PromptedStream:
    """The ``ChatStream`` of a call made with ``prompt=``, wrapped: used the same way
    (``with``, iteration, ``text_stream``, ``response``, ``close``), with the prompt's
    tags in force while it runs and ``response.prompt`` saying which version answered.
    Anything else is the inner stream's."""

    __slots__ = ("_inner", "_ref", "_response")

    def __init__(self, inner: Any, ref: PromptRef) -> None:
        self._inner = inner
        self._ref = ref
        self._response: ChatResponse | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> PromptedStream:
        with _tagged(self._ref):
            self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Event]:
        events = iter(self._inner)
        try:
            while True:
                with _tagged(self._ref):
                    event = next(events, None)
                if event is None:
                    return
                yield event
        finally:
            with _tagged(self._ref):
                events.close()  # type: ignore[attr-defined]

    @property
    def text_stream(self) -> Iterator[str]:
        """Just the text pieces, as they arrive."""
        return text_pieces(self)

    @property
    def response(self) -> ChatResponse:
        if self._response is None:
            with _tagged(self._ref):
                inner = self._inner.response
            self._response = dataclasses.replace(inner, prompt=self._ref)
        return self._response

    def close(self) -> None:
        with _tagged(self._ref):
            self._inner.close()


class PromptedAsyncStream:
    """:class:`PromptedStream` for ``AsyncClient``'s ``AsyncChatStream``."""

    __slots__ = (
        "_args", "_client", "_gen", "_inner", "_prompt", "_ref", "_response", "_variables",
    )  # fmt: skip

    def __init__(self, client: Any, prompt: str, variables: Any, args: dict[str, Any]) -> None:
        self._client, self._prompt, self._variables, self._args = client, prompt, variables, args
        self._inner: Any = None
        self._ref: PromptRef | None = None
        self._response: ChatResponse | None = None
        self._gen: Any = None  # the one async generator iteration goes through

    def __getattr__(self, name: str) -> Any:
        return getattr(self._open_sync(), name)

    def _open_sync(self) -> Any:
        if self._inner is None:
            raise PromptError(
                "a prompt= stream must be entered first (async with ...)", field="prompt"
            )
        return self._inner

    async def _open(self) -> Any:
        if self._inner is None:
            client, args = self._client, self._args
            call = await client.prompts.arender(self._prompt, self._variables, user=_user(args))
            self._ref = call.ref
            with _tagged(call.ref):
                self._inner = client.stream(**_apply(call, args))
        return self._inner

    async def __aenter__(self) -> PromptedAsyncStream:
        inner = await self._open()
        with _tagged(self._ref):  # type: ignore[arg-type]
            await inner.__aenter__()
        return self

    def __aexit__(self, *exc: object) -> Any:
        return self.aclose()

    def __aiter__(self) -> AsyncIterator[Event]:
        if self._gen is None:
            self._gen = self._iterate()
        return self._gen  # type: ignore[no-any-return]

    def __anext__(self) -> Any:
        return self.__aiter__().__anext__()

    async def _iterate(self) -> AsyncIterator[Event]:
        inner = await self._open()
        events = inner.__aiter__()
        ref: Any = self._ref
        try:
            while True:
                with _tagged(ref):
                    try:
                        event = await events.__anext__()
                    except StopAsyncIteration:
                        return
                yield event
        finally:
            with _tagged(ref):
                await events.aclose()  # type: ignore[attr-defined]

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Just the text pieces, as they arrive."""
        return atext_pieces(self)

    @property
    def response(self) -> ChatResponse:
        if self._response is None:
            inner = self._open_sync()
            with _tagged(self._ref):  # type: ignore[arg-type]
                found = inner.response
            self._response = dataclasses.replace(found, prompt=self._ref)
        return self._response

    async def get_response(self) -> ChatResponse:
        async for _ in self:
            pass
        return self.response

    async def aclose(self) -> None:
        if self._gen is not None:
            await self._gen.aclose()
        if self._inner is not None:
            with _tagged(self._ref):  # type: ignore[arg-type]
                await self._inner.aclose()
