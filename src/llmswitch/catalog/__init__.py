"""Model metadata and prices, from the bundled ``models.json`` (loaded on first use)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from ..messages import ChatRequest, Usage
from ._estimate import DEFAULT_MAX_OUTPUT_TOKENS, CostEstimate, CountMethod, estimate_with

__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "CostEstimate",
    "CountMethod",
    "ModelSpec",
    "cost_of",
    "estimate_request",
    "lookup",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """Static facts about a model. Prices are USD per million tokens."""

    provider: str
    model: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    input_price: float | None = None
    output_price: float | None = None
    cached_input_price: float | None = None
    cache_write_price: float | None = None
    supports_tools: bool | None = None
    supports_vision: bool | None = None
    supports_reasoning: bool | None = None


@cache
def _table() -> dict[tuple[str, str], dict[str, Any]]:
    from importlib import resources

    from .._json import loads

    raw = loads(resources.files(__package__).joinpath("models.json").read_bytes())
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for provider, models in raw["providers"].items():
        for model, spec in models.items():
            table[(provider, model)] = spec
    return table


@cache
def lookup(provider: str, model: str) -> ModelSpec | None:
    """Facts for ``model``; dated snapshots (``gpt-4o-2024-08-06``) fall back to their family."""
    table = _table()
    key_provider = "openai" if provider == "azure" else provider
    spec = table.get((key_provider, model))
    if spec is None:
        # longest known model id that prefixes this one
        best = max(
            (m for (p, m) in table if p == key_provider and model.startswith(m + "-")),
            key=len,
            default=None,
        )
        spec = table.get((key_provider, best)) if best else None
    if spec is None:
        return None
    return ModelSpec(provider=provider, model=model, **spec)


def cost_of(provider: str, model: str, usage: Usage) -> float | None:
    """USD for ``usage`` on ``model``, or ``None`` when the price or the counts are unknown."""
    spec = lookup(provider, model)
    if spec is None or spec.input_price is None or spec.output_price is None:
        return None
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    cached = usage.cached_input_tokens or 0
    written = usage.cache_write_tokens or 0
    fresh = max(usage.input_tokens - cached - written, 0)
    cached_price = (
        spec.cached_input_price if spec.cached_input_price is not None else spec.input_price
    )
    write_price = spec.cache_write_price if spec.cache_write_price is not None else spec.input_price
    micro = (
        fresh * spec.input_price
        + cached * cached_price
        + written * write_price
        + usage.output_tokens * spec.output_price
    )
    return micro / 1_000_000


def _cost_nano_compat(
    provider: str, model: str, usage: Usage, *, at: datetime | None = None
) -> int | None:
    # Until cost_nano (exact integer nano-USD) lands here: cost_of in nano-USD.
    usd = cost_of(provider, model, usage)
    return None if usd is None else round(usd * 1e9)


def estimate_request(
    request: ChatRequest,
    *,
    at: datetime | None = None,
    input_tokens: int | None = None,
    method: CountMethod | None = None,
) -> CostEstimate:
    """The cost range of ``request`` before it is sent: offline, no I/O, fast (budgets call
    it on every call). See :class:`CostEstimate`. ``input_tokens``/``method`` price a count
    made elsewhere (tokenizer, provider endpoint) instead of the built-in estimate; ``at``
    prices at that time (default now)."""
    return estimate_with(
        lookup, _cost_nano_compat, request, at=at, input_tokens=input_tokens, method=method
    )
