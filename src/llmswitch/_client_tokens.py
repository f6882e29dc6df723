"""``embed``, ``count_tokens`` and ``estimate_cost`` of the clients (mixed into
:class:`~llmswitch.client.Client` and :class:`~llmswitch.client.AsyncClient`): the calls
that take a request's inputs but are no chat. Their options are typed keyword
parameters like ``chat``'s (see :mod:`llmswitch._options`)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence  # noqa: F401 (annotations)
from typing import TYPE_CHECKING, Any

from ._options import (  # the aliases: named by the options' annotations, resolved here
    ChatOptions,
    EmbedOptions,
    EstimateOptions,
    MessagesInput,
    ReasoningInput,  # noqa: F401
    ResponseFormatInput,  # noqa: F401
    StopInput,  # noqa: F401
    TimeoutInput,  # noqa: F401
    ToolChoiceInput,  # noqa: F401
    ToolsInput,  # noqa: F401
    keywords,
    unexpected_keyword,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._core import _Core
    from .catalog import CostEstimate, TokenCount
    from .messages import EmbeddingResponse

__all__ = ["AsyncTokenCalls", "TokenCalls"]


_CHAT_KEYS = frozenset(ChatOptions.__annotations__)
_ESTIMATE_KEYS = frozenset(EstimateOptions.__annotations__)
_EMBED_KEYS = frozenset(EmbedOptions.__annotations__)


def _checked(method: str, options: Any, known: frozenset[str]) -> Any:
    if not known.issuperset(options):
        raise unexpected_keyword(method, options, known)
    return options


def _embed_request(core: _Core, model: str, input: Any, options: Any) -> Any:
    return core.embed_request(model, input, **_checked("embed", options, _EMBED_KEYS))


def _guards(core: _Core, model: str, provider: Any, request: Any, ctx: Any) -> list[Any]:
    """The scripts an embeddings call runs under: the ``embed_script`` of each layer of
    the pipeline that offers one (budgets, the gateway's tenant limits), outermost
    first; the other layers are for chat calls."""
    pipe = core.pipe
    if pipe is None:
        return []
    found = []
    call = None
    for layer in pipe.middleware:
        guard = getattr(layer, "embed_script", None)
        if guard is not None:
            if call is None:
                from .middleware.base import Call

                call = Call(request=request, provider=provider, ctx=ctx, model=model)
            script = guard(call)
            if script is not None:
                found.append(script)
    return found


def _guarded(scripts: list[Any], send: Any) -> Any:
    """``send()`` inside ``scripts`` (each a layer's decisions: admit, then settle)."""
    from .middleware._drive import drive_chat

    if not scripts:
        return send()
    return drive_chat(scripts[0], lambda _call: _guarded(scripts[1:], send))


async def _aguarded(scripts: list[Any], send: Any) -> Any:
    from .middleware._drive import adrive_chat

    if not scripts:
        return await send()
    return await adrive_chat(scripts[0], lambda _call: _aguarded(scripts[1:], send))


class _Attempt:
    """One embeddings request sent (``with`` around it): its usage-ledger row when the
    block ends, the answer (``response``, set inside) or the exception either way."""

    __slots__ = ("asked", "at", "core", "provider", "request", "response", "started")

    def __init__(self, core: _Core, provider: Any, request: Any, asked: str) -> None:
        self.core, self.provider, self.request, self.asked = core, provider, request, asked
        self.response: EmbeddingResponse | None = None
        self.at, self.started = time.time(), time.perf_counter()

    def __enter__(self) -> _Attempt:
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        _record_embed(self.core, self.provider, self.request, self.asked, self.at,
                      self.started, self.response, error)  # fmt: skip


def _record_embed(
    core: _Core, provider: Any, request: Any, asked: str, at: float, started: float,
    response: EmbeddingResponse | None, error: BaseException | None,
) -> None:  # fmt: skip
    """The usage ledger's row of an embeddings attempt (when the client records usage)."""
    ledger = core.ledger
    if ledger is None:
        return
    from .messages import Usage
    from .usage.middleware import embedding_record

    try:
        model = request.model if response is None else response.model or request.model
        usage = Usage() if response is None else response.usage
        plain = asked == f"{provider.id}/{request.model}"
        ledger.append(embedding_record(
            provider.id, model, usage, user=request.user, at=at,
            latency=time.perf_counter() - started, error=error,
            deployment=None if plain else asked,
        ))  # fmt: skip
    except Exception:  # the ledger must never fail the call it records
        from ._log import get_logger

        get_logger("llmswitch.usage").exception("usage row not recorded")


class TokenCalls:
    """Client's ``embed``, ``count_tokens`` and ``estimate_cost``."""

    _core: _Core

    @keywords(EmbedOptions)
    def embed(
        self, model: str, input: str | Sequence[str], **options: Unpack[EmbedOptions]
    ) -> EmbeddingResponse:
        """Embedding vectors, one per input in order; large inputs are split into the
        provider's batch size and reassembled. ``dimensions``: shorter vectors where the
        model can; ``input_type``: a retrieval hint (``"query"``/``"document"``) for
        providers that take one."""
        core = self._core
        provider, request, ctx = _embed_request(core, model, input, options)
        keyed = core.outside  # with a vault: its key for this call (_vault_wiring)

        def attempt(p: Any) -> EmbeddingResponse:  # one request sent: one ledger row
            with _Attempt(core, p, request, model) as sent:
                sent.response = p.embed(request, ctx)
                return sent.response

        def send() -> EmbeddingResponse:
            if keyed is not None:  # may try several stored keys: a row each
                return keyed.call(provider, request.user, attempt)  # type: ignore[no-any-return]
            return attempt(provider)

        return _guarded(_guards(core, model, provider, request, ctx), send)  # type: ignore[no-any-return]

    @keywords(ChatOptions)
    def count_tokens(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> TokenCount:
        """Input tokens of this request (messages, system, tools); takes the options of
        :meth:`chat`. A :class:`~llmswitch.catalog.TokenCount` (an ``int``) whose
        ``method`` says how: ``"tokenizer"`` (OpenAI models, offline), ``"provider"``
        (Anthropic, Gemini, Vertex, Bedrock count endpoints) or ``"estimate"``
        (elsewhere); ``exact`` whether it is what the provider bills."""
        from . import _counting

        options = _checked("count_tokens", options, _CHAT_KEYS)
        return _counting.count_tokens(self._core, model, messages, options)  # type: ignore[arg-type]

    @keywords(EstimateOptions)
    def estimate_cost(
        self, model: str, messages: MessagesInput, **options: Unpack[EstimateOptions]
    ) -> CostEstimate:
        """What this call would cost, before making it: a :class:`~llmswitch.catalog.
        CostEstimate` with the input tokens and the ``low_usd`` (input only) to
        ``high_usd`` (plus ``max_tokens``, else the model's maximum output) range; ``None``
        prices when the model's price is unknown. Takes the options of :meth:`chat`.
        Offline unless ``exact=True``, which asks the provider's count endpoint where
        :meth:`count_tokens` would."""
        from . import _counting

        exact = _checked("estimate_cost", options, _ESTIMATE_KEYS).pop("exact", False)
        return _counting.estimate_cost(self._core, model, messages, exact, options)  # type: ignore[arg-type]


class AsyncTokenCalls:
    """AsyncClient's ``embed``, ``count_tokens`` and ``estimate_cost``, awaited."""

    _core: _Core

    @keywords(EmbedOptions)
    async def embed(
        self, model: str, input: str | Sequence[str], **options: Unpack[EmbedOptions]
    ) -> EmbeddingResponse:
        """See :meth:`Client.embed`."""
        core = self._core
        provider, request, ctx = _embed_request(core, model, input, options)
        keyed = core.outside  # with a vault: its key for this call (_vault_wiring)

        async def attempt(p: Any) -> EmbeddingResponse:  # as Client.embed's
            with _Attempt(core, p, request, model) as sent:
                sent.response = await p.aembed(request, ctx)
                return sent.response

        async def send() -> EmbeddingResponse:
            if keyed is not None:
                return await keyed.acall(provider, request.user, attempt)  # type: ignore[no-any-return]
            return await attempt(provider)

        return await _aguarded(_guards(core, model, provider, request, ctx), send)  # type: ignore[no-any-return]

    @keywords(ChatOptions)
    async def count_tokens(
        self, model: str, messages: MessagesInput, **options: Unpack[ChatOptions]
    ) -> TokenCount:
        """See :meth:`Client.count_tokens`."""
        from . import _counting

        options = _checked("count_tokens", options, _CHAT_KEYS)
        return await _counting.acount_tokens(self._core, model, messages, options)  # type: ignore[arg-type]

    @keywords(EstimateOptions)
    async def estimate_cost(
        self, model: str, messages: MessagesInput, **options: Unpack[EstimateOptions]
    ) -> CostEstimate:
        """See :meth:`Client.estimate_cost`."""
        from . import _counting

        exact = _checked("estimate_cost", options, _ESTIMATE_KEYS).pop("exact", False)
        return await _counting.aestimate_cost(self._core, model, messages, exact, options)  # type: ignore[arg-type]
