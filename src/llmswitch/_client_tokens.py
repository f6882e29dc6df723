"""``embed``, ``count_tokens`` and ``estimate_cost`` of the clients (mixed into
:class:`~llmswitch.client.Client` and :class:`~llmswitch.client.AsyncClient`): the calls
that take a request's inputs but are no chat. Their options are typed keyword
parameters like ``chat``'s (see :mod:`llmswitch._options`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._options import (
    MessagesInput,
    ReasoningInput,
    ResponseFormatInput,
    StopInput,
    TimeoutInput,
    ToolChoiceInput,
    ToolsInput,
)

if TYPE_CHECKING:
    from ._core import _Core
    from .catalog import CostEstimate, TokenCount
    from .messages import EmbeddingResponse

__all__ = ["AsyncTokenCalls", "TokenCalls"]


class TokenCalls:
    """Client's ``embed``, ``count_tokens`` and ``estimate_cost``."""

    _core: _Core

    def embed(
        self,
        model: str,
        input: str | Sequence[str],
        *,
        dimensions: int | None = None,
        input_type: str | None = None,
        user: str | None = None,
        timeout: TimeoutInput | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> EmbeddingResponse:
        """Embedding vectors, one per input in order; large inputs are split into the
        provider's batch size and reassembled. ``dimensions``: shorter vectors where the
        model can; ``input_type``: a retrieval hint (``"query"``/``"document"``) for
        providers that take one."""
        core = self._core
        provider, request, ctx = core.embed_request(
            model,
            input,
            dimensions=dimensions,
            input_type=input_type,
            user=user,
            timeout=timeout,
            extra_body=extra_body,
            extra_headers=extra_headers,
        )
        keyed = core.outside  # with a vault: its key for this call (_vault_wiring)
        if keyed is not None:
            return keyed.call(provider, request.user, lambda p: p.embed(request, ctx))  # type: ignore[no-any-return]
        return provider.embed(request, ctx)  # type: ignore[no-any-return]

    def count_tokens(
        self,
        model: str,
        messages: MessagesInput,
        *,
        system: str | None = None,
        tools: ToolsInput | None = None,
        tool_choice: ToolChoiceInput | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        stop: StopInput | None = None,
        response_format: ResponseFormatInput | None = None,
        reasoning: ReasoningInput | None = None,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: TimeoutInput | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> TokenCount:
        """Input tokens of this request (messages, system, tools); takes the options of
        :meth:`chat`. A :class:`~llmswitch.catalog.TokenCount` (an ``int``) whose
        ``method`` says how: ``"tokenizer"`` (OpenAI models, offline), ``"provider"``
        (Anthropic, Gemini, Vertex, Bedrock count endpoints) or ``"estimate"``
        (elsewhere); ``exact`` whether it is what the provider bills."""
        from . import _counting

        options = dict(
            system=system, tools=tools, tool_choice=tool_choice, temperature=temperature,
            top_p=top_p, stop=stop, response_format=response_format, reasoning=reasoning,
            user=user, metadata=metadata, timeout=timeout, extra_body=extra_body,
            extra_headers=extra_headers,
        )  # fmt: skip
        options["max_tokens"] = max_tokens
        return _counting.count_tokens(self._core, model, messages, options)

    def estimate_cost(
        self,
        model: str,
        messages: MessagesInput,
        *,
        system: str | None = None,
        tools: ToolsInput | None = None,
        tool_choice: ToolChoiceInput | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        stop: StopInput | None = None,
        response_format: ResponseFormatInput | None = None,
        reasoning: ReasoningInput | None = None,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: TimeoutInput | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        exact: bool = False,
    ) -> CostEstimate:
        """What this call would cost, before making it: a :class:`~llmswitch.catalog.
        CostEstimate` with the input tokens and the ``low_usd`` (input only) to
        ``high_usd`` (plus ``max_tokens``, else the model's maximum output) range; ``None``
        prices when the model's price is unknown. Takes the options of :meth:`chat`.
        Offline unless ``exact=True``, which asks the provider's count endpoint where
        :meth:`count_tokens` would."""
        from . import _counting

        options = dict(
            system=system, tools=tools, tool_choice=tool_choice, temperature=temperature,
            top_p=top_p, stop=stop, response_format=response_format, reasoning=reasoning,
            user=user, metadata=metadata, timeout=timeout, extra_body=extra_body,
            extra_headers=extra_headers,
        )  # fmt: skip
        options["max_tokens"] = max_tokens
        return _counting.estimate_cost(self._core, model, messages, exact, options)


class AsyncTokenCalls:
    """AsyncClient's ``embed``, ``count_tokens`` and ``estimate_cost``, awaited."""

    _core: _Core

    async def embed(
        self,
        model: str,
        input: str | Sequence[str],
        *,
        dimensions: int | None = None,
        input_type: str | None = None,
        user: str | None = None,
        timeout: TimeoutInput | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> EmbeddingResponse:
        """See :meth:`Client.embed`."""
        core = self._core
        provider, request, ctx = core.embed_request(
            model,
            input,
            dimensions=dimensions,
            input_type=input_type,
            user=user,
            timeout=timeout,
            extra_body=extra_body,
            extra_headers=extra_headers,
        )
        keyed = core.outside  # with a vault: its key for this call (_vault_wiring)
        if keyed is not None:
            return await keyed.acall(provider, request.user, lambda p: p.aembed(request, ctx))
        return await provider.aembed(request, ctx)  # type: ignore[no-any-return]

    async def count_tokens(
        self,
        model: str,
        messages: MessagesInput,
        *,
        system: str | None = None,
        tools: ToolsInput | None = None,
        tool_choice: ToolChoiceInput | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        stop: StopInput | None = None,
        response_format: ResponseFormatInput | None = None,
        reasoning: ReasoningInput | None = None,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: TimeoutInput | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> TokenCount:
        """See :meth:`Client.count_tokens`."""
        from . import _counting

        options = dict(
            system=system, tools=tools, tool_choice=tool_choice, temperature=temperature,
            top_p=top_p, stop=stop, response_format=response_format, reasoning=reasoning,
            user=user, metadata=metadata, timeout=timeout, extra_body=extra_body,
            extra_headers=extra_headers,
        )  # fmt: skip
        options["max_tokens"] = max_tokens
        return await _counting.acount_tokens(self._core, model, messages, options)

    async def estimate_cost(
        self,
        model: str,
        messages: MessagesInput,
        *,
        system: str | None = None,
        tools: ToolsInput | None = None,
        tool_choice: ToolChoiceInput | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        stop: StopInput | None = None,
        response_format: ResponseFormatInput | None = None,
        reasoning: ReasoningInput | None = None,
        user: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        timeout: TimeoutInput | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        exact: bool = False,
    ) -> CostEstimate:
        """See :meth:`Client.estimate_cost`."""
        from . import _counting

        options = dict(
            system=system, tools=tools, tool_choice=tool_choice, temperature=temperature,
            top_p=top_p, stop=stop, response_format=response_format, reasoning=reasoning,
            user=user, metadata=metadata, timeout=timeout, extra_body=extra_body,
            extra_headers=extra_headers,
        )  # fmt: skip
        options["max_tokens"] = max_tokens
        return await _counting.aestimate_cost(self._core, model, messages, exact, options)
