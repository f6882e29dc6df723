"""``count_tokens`` and ``estimate_cost`` of the clients: which counter answers.

- An OpenAI model (``gpt-4o``, ``gpt-4.1``, ``o3``, ``gpt-4``...) on a provider that speaks
  OpenAI's wire (OpenAI, Azure, OpenAI-compatible) is counted offline with its tokenizer
  (:mod:`llmswitch.catalog.tokens`): no request, no key needed.
- A provider with a count endpoint (Anthropic, Gemini, Vertex, Bedrock) is asked.
- Anything else (Ollama, DeepSeek, Mistral, a provider object without a counter, an
  OpenAI-compatible server running another model) gets an estimate, labelled so.

The answer is a :class:`~llmswitch.catalog.TokenCount`: an ``int`` with ``method`` and
``exact``. ``estimate_cost`` prices a count with :func:`llmswitch.catalog.estimate_request`:
offline by default (the tokenizer where there is one, else the estimate), the count
above when ``exact=True``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .catalog import CostEstimate, TokenCount, estimate_request

if TYPE_CHECKING:
    from ._core import _Core
    from .messages import ChatRequest
    from .providers.runtime import CallContext, Provider

__all__ = ["acount_tokens", "aestimate_cost", "count_tokens", "estimate_cost"]

# Provider kinds that send OpenAI's chat format, so OpenAI's tokenizer and framing apply.
_OPENAI_WIRE = frozenset({"openai", "azure", "openai-compatible"})


def _openai_wire(core: _Core, provider: Provider) -> bool:
    from .providers.registry import builtin_kind

    configured = core.config.providers.get(provider.id)
    kind = configured.effective_kind if configured is not None else builtin_kind(provider.id)
    return kind in _OPENAI_WIRE


def _tokenizer_applies(core: _Core, provider: Provider, request: ChatRequest) -> bool:
    from .catalog.tokens import encoding_name_for_model

    return encoding_name_for_model(request.model) is not None and _openai_wire(core, provider)


def _has_endpoint(provider: Provider, request: ChatRequest) -> bool:
    """Whether the provider has a count endpoint for this request (nothing is sent)."""
    adapter = getattr(provider, "adapter", None)
    if adapter is not None and hasattr(adapter, "count_tokens_request"):
        endpoint = getattr(provider, "endpoint", None)
        return adapter.count_tokens_request(request, endpoint) is not None
    return callable(getattr(provider, "count_tokens", None))


def _offline(core: _Core, provider: Provider, request: ChatRequest) -> TokenCount:
    from .catalog.tokens import count_request

    return count_request(request, openai_wire=_openai_wire(core, provider))


async def _aoffline(core: _Core, provider: Provider, request: ChatRequest) -> TokenCount:
    from .catalog.tokens import encoding_for_request, is_loaded

    wire = _openai_wire(core, provider)
    if is_loaded(encoding_for_request(request, openai_wire=wire)):
        return _offline(core, provider, request)
    # The first count loads a vocabulary (a few tenths of a second): not on the loop.
    return await asyncio.to_thread(_offline, core, provider, request)


def _ask(core: _Core, provider: Provider, request: ChatRequest, ctx: CallContext) -> TokenCount:
    keyed = core.outside  # with a vault: its key for this call (_vault_wiring)
    if keyed is not None:
        n = keyed.call(provider, request.user, lambda p: p.count_tokens(request, ctx))
    else:
        n = provider.count_tokens(request, ctx)  # type: ignore[attr-defined]
    return TokenCount(n, method="provider", exact=True)


async def _aask(
    core: _Core, provider: Provider, request: ChatRequest, ctx: CallContext
) -> TokenCount:
    keyed = core.outside
    if keyed is not None:
        n = await keyed.acall(provider, request.user, lambda p: p.acount_tokens(request, ctx))
    else:
        n = await provider.acount_tokens(request, ctx)  # type: ignore[attr-defined]
    return TokenCount(n, method="provider", exact=True)


def _counted(core: _Core, provider: Provider, request: ChatRequest, ctx: CallContext) -> TokenCount:
    if _tokenizer_applies(core, provider, request) or not _has_endpoint(provider, request):
        return _offline(core, provider, request)
    return _ask(core, provider, request, ctx)


async def _acounted(
    core: _Core, provider: Provider, request: ChatRequest, ctx: CallContext
) -> TokenCount:
    if _tokenizer_applies(core, provider, request) or not _has_endpoint(provider, request):
        return await _aoffline(core, provider, request)
    return await _aask(core, provider, request, ctx)


def count_tokens(core: _Core, model: str, messages: Any, options: dict[str, Any]) -> TokenCount:
    provider, request, ctx = core.request(model, messages, **options)
    return _counted(core, provider, request, ctx)


async def acount_tokens(
    core: _Core, model: str, messages: Any, options: dict[str, Any]
) -> TokenCount:
    provider, request, ctx = core.request(model, messages, **options)
    return await _acounted(core, provider, request, ctx)


def estimate_cost(
    core: _Core, model: str, messages: Any, exact: bool, options: dict[str, Any]
) -> CostEstimate:
    provider, request, ctx = core.request(model, messages, **options)
    count = _counted(core, provider, request, ctx) if exact else _offline(core, provider, request)
    return estimate_request(request, input_tokens=count)


async def aestimate_cost(
    core: _Core, model: str, messages: Any, exact: bool, options: dict[str, Any]
) -> CostEstimate:
    provider, request, ctx = core.request(model, messages, **options)
    if exact:
        count = await _acounted(core, provider, request, ctx)
    else:
        count = await _aoffline(core, provider, request)
    return estimate_request(request, input_tokens=count)
