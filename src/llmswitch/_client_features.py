"""``client.capabilities()``, ``client.register_provider()`` and ``client.request()``,
as methods mixed into ``Client`` and ``AsyncClient`` (kept apart so ``client.py`` stays
about calling and iterating). The logic lives in :mod:`llmswitch._capabilities`,
:mod:`llmswitch.providers._plugins` and :mod:`llmswitch._builder`."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .errors import LLMError

if TYPE_CHECKING:
    from ._builder import RequestBuilder
    from ._capabilities import Capabilities
    from ._core import _Core

__all__ = ["AsyncFeatures", "Features"]


class _Shared:
    _core: _Core  # the client's (set by its constructor)

    def register_provider(self, id: str, provider: Any) -> None:
        """Serve provider id ``id`` (``"id/model"``) with ``provider`` from the next call
        on: a provider object (``id``, ``chat``/``achat``, ``stream``/``astream``...), a
        :class:`~llmswitch.ProviderPlugin`, or a builder function ``build(id, settings,
        env)`` called when the provider is first used. Replaces a built-in or plugin of
        the same id for this client; kept across ``reload()``."""
        from .providers._plugins import check_registration

        check_registration(id, provider)
        self._core.register(id, provider)

    def request(self, model: str | None = None) -> RequestBuilder:
        """A fluent, immutable request: ``client.request("openai/gpt-4o-mini").system(...)
        .user("Hi").temperature(0.2).send()`` (or ``.stream()``); each step returns a new
        builder. ``model``: default ``$LLMSWITCH_MODEL``. See :mod:`llmswitch._builder`."""
        from ._builder import RequestBuilder

        return RequestBuilder(self, model)


class Features(_Shared):
    """The sync methods (``Client``)."""

    list_models: Callable[..., Any]  # Client's

    def capabilities(self, model: str | None = None) -> Capabilities:
        """What ``model`` (``"provider/model"``, an alias or a model group; default
        ``$LLMSWITCH_MODEL``) can do: from the catalog, the provider, and its live model
        listing (asked once per configuration; a listing that fails leaves those fields
        unknown). Unknown is ``None``. See :class:`~llmswitch.Capabilities`."""
        core = self._core
        model = core.default() if model is None else model
        for pid in core.unlisted(model):
            with contextlib.suppress(LLMError):  # best effort: the static sources answer
                self.list_models(pid)
        return core.capabilities(model)


class AsyncFeatures(_Shared):
    """The async methods (``AsyncClient``)."""

    list_models: Callable[..., Awaitable[Any]]  # AsyncClient's

    async def capabilities(self, model: str | None = None) -> Capabilities:
        """:meth:`Client.capabilities`, awaited (the model listing is asked async)."""
        core = self._core
        model = core.default() if model is None else model
        for pid in core.unlisted(model):
            with contextlib.suppress(LLMError):  # best effort: the static sources answer
                await self.list_models(pid)
        return core.capabilities(model)
