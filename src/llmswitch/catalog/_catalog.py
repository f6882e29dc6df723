"""The catalog: bundled prices and metadata, merged with live discovery and user overrides.

Precedence, per field: an override from ``llmswitch.toml`` (``[catalog.models."p/m"]``),
then what the provider reported live (the discovery cache), then the bundled files.
A price override replaces that price key at every date (the bundled history and tiers of
the overridden key no longer apply); keys not overridden keep the bundled prices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..messages import Usage
from ._prices import (
    Price,
    PricedModel,
    Rates,
    Tiered,
    cost_from_prices,
    find_priced,
    flat_rates,
    parse_prices,
    price_source,
)
from ._specs import CAPABILITIES, ModelSpec, PriceTier, metadata_for, metadata_table

__all__ = ["Catalog", "CatalogSettings", "ModelOverride"]

# ModelOverride price field -> price key (USD per million tokens in the file)
OVERRIDE_PRICES = {
    "input_price": "input",
    "output_price": "output",
    "cached_input_price": "cache_read",
    "cache_write_price": "cache_write",
    "cache_write_1h_price": "cache_write_1h",
    "reasoning_price": "reasoning",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelOverride:
    """A ``[catalog.models."provider/model"]`` entry: prices in USD per million tokens,
    limits in tokens, capability booleans. None leaves the catalog's value."""

    input_price: float | None = None
    output_price: float | None = None
    cached_input_price: float | None = None
    cache_write_price: float | None = None
    cache_write_1h_price: float | None = None
    reasoning_price: float | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_chat: bool | None = None
    supports_streaming: bool | None = None
    supports_tools: bool | None = None
    supports_vision: bool | None = None
    supports_reasoning: bool | None = None
    supports_embeddings: bool | None = None
    supports_code_completion: bool | None = None

    def prices(self) -> dict[str, Price]:
        values = {key: getattr(self, name) for name, key in OVERRIDE_PRICES.items()}
        return parse_prices({k: v for k, v in values.items() if v is not None})


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogSettings:
    """``[catalog]`` of ``llmswitch.toml``: ``models`` overrides by ``"provider/model"``;
    ``discovery``: fill limits from the providers' model lists cached on disk, refreshed
    when older than ``refresh`` seconds (default a day)."""

    models: Mapping[str, ModelOverride] = field(default_factory=dict)
    discovery: bool = True
    refresh: float = 86400.0


@dataclass(frozen=True, slots=True)
class _Priced:
    """What cost_nano needs of a model, resolved once per (provider, model). ``flat``: the
    prices when they never change with the date (most models), else None."""

    model: PricedModel | None
    override: Mapping[str, Price] = field(default_factory=dict)
    flat: Mapping[str, Price] | None = None
    # flat_rates(flat): the common case's prices without lookups (see cost_nano).
    rates: Rates | None = None

    @classmethod
    def of(cls, model: PricedModel | None, override: Mapping[str, Price]) -> _Priced:
        if model is None:
            flat = override or None
        else:
            base = model.flat
            flat = None if base is None else ({**base, **override} if override else base)
        return cls(model, override, flat, flat_rates(flat))

    def prices_at(
        self, at: datetime | None, context: Mapping[str, str] | None
    ) -> Mapping[str, Price] | None:
        if self.model is None:
            return self.override or None
        base = self.model.prices_at(at, context)
        if not self.override:
            return base
        return {**base, **self.override}


class Catalog:
    """Model facts and prices for one client: the bundled data, ``discovered`` (per
    provider, per model id: ``context_window``/``max_output_tokens``/capabilities a
    provider reported) and ``overrides`` (keys ``"provider/model"``)."""

    def __init__(
        self,
        overrides: Mapping[str, ModelOverride] | None = None,
        discovered: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    ) -> None:
        self._overrides = dict(overrides or {})
        self._discovered = {p: dict(m) for p, m in (discovered or {}).items()}
        # provider -> model -> prices. Nested, not keyed by a (provider, model) tuple: the
        # model named in a response is a new string each time, and a tuple key would be
        # built, hashed and compared element by element on every response.
        self._priced: dict[str, dict[str, _Priced]] = {}
        self._specs: dict[tuple[str, str], ModelSpec | None] = {}

    @property
    def overrides(self) -> Mapping[str, ModelOverride]:
        return self._overrides

    def discover(self, provider: str, models: Mapping[str, Mapping[str, Any]]) -> None:
        """Take what a provider reported for its models (replacing its earlier listing)."""
        self._discovered[provider] = dict(models)
        self._specs.clear()

    def _override(self, provider: str, model: str) -> ModelOverride | None:
        return self._overrides.get(f"{provider}/{model}")

    def priced(self, provider: str, model: str) -> _Priced:
        models = self._priced.get(provider)
        if models is None:
            models = {}
            if len(self._priced) < 256:  # provider and model ids come from callers: bounded
                self._priced[provider] = models
        found = models.get(model)
        if found is None:
            override = self._override(provider, model)
            found = _Priced.of(find_priced(provider, model), override.prices() if override else {})
            if len(models) < 4096:
                models[model] = found
        return found

    def cost_nano(
        self,
        provider: str,
        model: str,
        usage: Usage,
        *,
        at: datetime | None = None,
        context: Mapping[str, str] | None = None,
    ) -> int | None:
        """Exact cost of ``usage`` in nano-USD (1e-9 USD), or None when a needed price or
        count is unknown. The provider's own reported cost (``usage.reported_cost_nano``)
        wins when present. ``at``: the call's time (default now) picks the price in force;
        ``context`` selects price variants (``{"service_tier": "flex"}``)."""
        reported = usage.reported_cost_nano
        if reported is not None:
            return reported
        models = self._priced.get(provider)
        priced = (models.get(model) if models is not None else None) or self.priced(provider, model)
        rates = priced.rates
        inp = usage.input_tokens
        if (
            rates is not None
            and inp is not None
            and inp <= rates[4]  # below any long-context tier
            and not usage.cache_write_tokens
            and not context
        ):
            # cost_from_prices for flat_rates, without the price lookups: on every
            # response (inline: a call more is a tenth of it). tests/test_cost_golden.py
            # holds the two equal through this method.
            out = usage.output_tokens
            if out is None:
                return None
            p_in, p_out, p_read, p_reasoning, _ = rates
            total = 0
            read = usage.cached_input_tokens
            if read and p_read is not None:
                total = read * p_read
                inp -= read
            if inp > 0:
                total += inp * p_in
            reasoning = usage.reasoning_tokens
            if reasoning and out and p_reasoning is not None:
                reasoning = min(reasoning, out)
                total += reasoning * p_reasoning
                out -= reasoning
            # units of 1e-6 nano-USD -> nano-USD, half up, once per call
            return (total + out * p_out + 500_000) // 1_000_000
        prices = priced.flat
        if prices is None or context:
            prices = priced.prices_at(at, context)
            if prices is None:
                return None
        return cost_from_prices(prices, usage)

    def models(self, provider: str | None = None) -> list[tuple[str, str]]:
        """``(provider, model)`` of every model the catalog describes: the bundled metadata,
        discovered models and overrides (``provider`` limits it to one provider)."""
        found = {(p, m) for p, models in metadata_table().items() for m in models}
        found |= {(p, m) for p, models in self._discovered.items() for m in models}
        found |= {tuple(key.split("/", 1)) for key in self._overrides if "/" in key}  # type: ignore[misc]
        return sorted(k for k in found if provider is None or k[0] == provider)

    def lookup(self, provider: str, model: str) -> ModelSpec | None:
        """Facts for ``model`` as ``provider`` serves it, or None when nothing is known."""
        key = (provider, model)
        if key in self._specs:
            return self._specs[key]
        spec = self._build(provider, model)
        if len(self._specs) < 4096:
            self._specs[key] = spec
        return spec

    def _build(self, provider: str, model: str) -> ModelSpec | None:
        meta = metadata_for(provider, model)
        live = self._discovered.get(provider, {}).get(model)
        override = self._override(provider, model)
        priced = self.priced(provider, model)
        if meta is None and live is None and override is None and priced.model is None:
            return None
        facts: dict[str, Any] = {}
        sources: list[str] = []
        if priced.model is not None and priced.model.context_window:
            facts["context_window"] = priced.model.context_window
        if meta is not None:
            facts.update(meta)
            sources.append("bundled")
        if live:
            facts.update({k: v for k, v in live.items() if v is not None})
            sources.append("discovered")
        values: dict[str, Any] = {
            k: facts.get(k) for k in ("context_window", "max_output_tokens", *CAPABILITIES)
        }
        if meta is not None and values["supports_chat"] is None:
            values["supports_chat"] = values.get("supports_embeddings") is not True
        if override is not None:
            for name in ("context_window", "max_output_tokens", *CAPABILITIES):
                value = getattr(override, name)
                if value is not None:
                    values[name] = value
            sources.append("llmswitch.toml")
        values.update(_price_fields(priced, override))
        return ModelSpec(
            provider=provider,
            model=model,
            name=priced.model.name if priced.model is not None else None,
            sources=tuple(sources),
            **values,
        )


def _usd(price: Price | None) -> float | None:
    if price is None:
        return None
    base = price.base if isinstance(price, Tiered) else price
    return base / 1_000_000_000


def _price_fields(priced: _Priced, override: ModelOverride | None) -> dict[str, Any]:
    prices = priced.prices_at(None, None) or {}
    out: dict[str, Any] = {
        "input_price": _usd(prices.get("input")),
        "output_price": _usd(prices.get("output")),
        "cached_input_price": _usd(prices.get("cache_read")),
        "cache_write_price": _usd(prices.get("cache_write", prices.get("cache_write_5m"))),
        "cache_write_1h_price": _usd(prices.get("cache_write_1h")),
        "reasoning_price": _usd(prices.get("reasoning")),
    }
    starts = sorted(
        {start for p in prices.values() if isinstance(p, Tiered) for start, _ in p.tiers}
    )
    out["tiers"] = tuple(_tier(prices, start) for start in starts)
    if priced.model is not None:
        out["price_source"] = price_source()
        out["price_since"] = _since(priced.model)
    if override is not None and priced.override:
        out["price_source"] = (
            "llmswitch.toml"
            if priced.model is None
            else f"llmswitch.toml over {out['price_source']}"
        )
    return out


def _tier(prices: Mapping[str, Price], start: int) -> PriceTier:
    def at(key: str) -> float | None:
        price = prices.get(key)
        if price is None:
            return None
        if isinstance(price, Tiered):
            return price.at(start + 1) / 1_000_000_000
        return price / 1_000_000_000

    return PriceTier(
        above=start,
        input_price=at("input"),
        output_price=at("output"),
        cached_input_price=at("cache_read"),
        cache_write_price=at("cache_write"),
        cache_write_1h_price=at("cache_write_1h"),
    )


def _since(model: PricedModel) -> date | None:
    today = datetime.now().date()
    started = [e.start for e in model.entries if e.start is not None and e.start <= today]
    return max(started) if started else None
