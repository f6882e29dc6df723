"""Prices from the bundled ``prices.json`` (genai-prices, converted by tools/update_catalog.py)
and the exact integer cost of a call's usage.

Units: a price is held as an integer number of nano-USD per million tokens (genai-prices
has at most 9 decimals of USD per million tokens, so this is exact). The cost of a call is
``sum(tokens * price)`` in units of 1e-6 nano-USD, rounded once, half up, to whole nano-USD:
one rounding per call, never per token or per price component.

Accounting (docs WIRE.md 6.3, the same leaf split genai-prices uses): ``input_tokens``
includes cache reads and cache writes; ``output_tokens`` includes reasoning. Cache reads
are priced at the cache-read price, cache writes at the cache-write price (the 1-hour part,
``cache_write_1h_tokens``, at the 1-hour price where the model has one), and the rest of the
input at the input price. A component without its own price falls into its parent (a cache
read on a model with no cache-read price costs the input price). A tiered price
("long context") applies to *all* tokens of its kind once the call's total input tokens
exceed the tier's start (the providers' cliff rule). Price history: of a model's dated
entries the last one in force at the call's time (UTC) is used; an entry with an hour range
(DeepSeek's off-peak prices) is in force during those UTC hours.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeAlias

from ..messages import Usage

if TYPE_CHECKING:
    from decimal import Decimal

__all__ = [
    "PRICE_KEYS",
    "PriceEntry",
    "PricedModel",
    "Tiered",
    "cost_from_prices",
    "find_priced",
    "flat_rates",
    "nano_per_mtok",
    "price_source",
    "sources_for",
]

PRICE_KEYS = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_5m",
    "cache_write_1h",
    "reasoning",
)

# llmswitch provider id -> the genai-prices providers to look in (in order). Azure's own
# entry falls back to OpenAI's (in the data); Vertex serves Gemini at Google's prices.
# Ollama (and any local or unknown server) has no price: None unless configured.
_SOURCES: dict[str, tuple[str, ...]] = {
    "openai": ("openai",),
    "azure": ("azure",),
    "anthropic": ("anthropic",),
    "gemini": ("google",),
    "vertex": ("google",),
    "bedrock": ("aws",),
    "mistral": ("mistral",),
    "deepseek": ("deepseek",),
}


@dataclass(frozen=True, slots=True)
class Tiered:
    """A price that changes once the call's input tokens exceed a start (nano-USD per
    million tokens): ``tiers`` is ``((start, price), ...)`` in ascending order."""

    base: int
    tiers: tuple[tuple[int, int], ...]

    def at(self, input_tokens: int) -> int:
        price = self.base
        for start, tier_price in self.tiers:
            if input_tokens > start:
                price = tier_price
        return price


Price = int | Tiered


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One set of prices and when it is in force: from ``start`` (UTC date, inclusive), or
    during the UTC minutes ``[minute_from, minute_to)`` of each day, or always."""

    prices: Mapping[str, Price]
    start: date | None = None
    minutes: tuple[int, int] | None = None
    when: Mapping[str, str] | None = None  # a variant's request context (batch, service tier)
    start_s: float | None = None  # ``start`` as epoch seconds (UTC midnight)

    def in_force(self, t: float) -> bool:
        """Whether in force at epoch second ``t``."""
        if self.start_s is not None:
            return t >= self.start_s
        if self.minutes is not None:
            minute = int(t // 60) % 1440
            lo, hi = self.minutes
            return lo <= minute < hi if lo <= hi else minute >= lo or minute < hi
        return True


@dataclass(frozen=True, slots=True)
class PricedModel:
    """A model's price history as the price database gives it. ``flat``: the prices when
    they never change (one entry, no dates, no hours), for the fast path."""

    source: str  # the genai-prices provider id
    id: str
    name: str | None
    context_window: int | None
    entries: tuple[PriceEntry, ...]
    variants: tuple[PriceEntry, ...] = ()

    @property
    def flat(self) -> Mapping[str, Price] | None:
        entries = self.entries
        if len(entries) == 1 and entries[0].start is None and entries[0].minutes is None:
            return entries[0].prices
        return None

    def prices_at(
        self, at: datetime | None, context: Mapping[str, str] | None = None
    ) -> Mapping[str, Price]:
        """The prices in force at ``at`` (naive = UTC; None = now); ``context`` selects
        variants, e.g. ``{"service_tier": "flex"}``, which override single keys."""
        t = _epoch(at)
        entries = self.entries
        chosen = entries[0].prices
        for entry in reversed(entries):
            if entry.in_force(t):
                chosen = entry.prices
                break
        if not context:
            return chosen
        merged = dict(chosen)
        taken: set[str] = set()
        for variant in self.variants:
            if variant.when is None or not variant.in_force(t):
                continue
            if all(context.get(k) == v for k, v in variant.when.items()):
                for key, price in variant.prices.items():
                    if key not in taken:
                        merged[key] = price
                        taken.add(key)
        return merged


def _epoch(at: datetime | None) -> float:
    if at is None:
        return time.time()
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC).timestamp()  # naive means UTC, as in genai-prices
    return at.timestamp()


def nano_per_mtok(value: Decimal | str | float | int) -> int:
    """USD per million tokens -> integer nano-USD per million tokens, rounded half up at
    the ninth decimal (exact for every bundled price)."""
    from decimal import Decimal  # on first use: not part of ``import llmswitch``

    if isinstance(value, float):
        value = repr(value)  # the shortest decimal that reads back as this float
    scaled = Decimal(value) * 1_000_000_000
    return int(scaled.to_integral_value(rounding="ROUND_HALF_UP"))


def _price(raw: Any) -> Price:
    if isinstance(raw, str):
        return nano_per_mtok(raw)
    return Tiered(
        nano_per_mtok(raw["base"]),
        tuple((int(start), nano_per_mtok(p)) for start, p in raw["tiers"]),
    )


def _entry(raw: Mapping[str, Any]) -> PriceEntry:
    prices = {key: _price(value) for key, value in raw["p"].items()}
    start = date.fromisoformat(raw["start"]) if "start" in raw else None
    start_s = None
    if start is not None:
        start_s = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
    minutes = None
    if "time" in raw:
        lo, hi = (int(t[:2]) * 60 + int(t[3:5]) for t in raw["time"])
        minutes = (lo, hi)
    return PriceEntry(prices, start, minutes, raw.get("when"), start_s)


# A match rule is genai-prices' clause tree: {"or": [...]}, {"starts_with": "gpt-4o"}, ...
def _matches(rule: Mapping[str, Any], ref: str) -> bool:
    ((kind, arg),) = rule.items()
    if kind == "equals":
        return bool(ref == arg.lower())
    if kind == "starts_with":
        return ref.startswith(arg.lower())
    if kind == "contains":
        return arg.lower() in ref
    if kind == "ends_with":
        return ref.endswith(arg.lower())
    if kind == "regex":
        return re.search(arg, ref) is not None
    if kind == "or":
        return any(_matches(r, ref) for r in arg)
    if kind == "and":
        return all(_matches(r, ref) for r in arg)
    return False


_COMPACT_DATE = re.compile(r"-(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)")


@cache
def _data() -> dict[str, Any]:
    from importlib import resources

    from .._json import loads

    raw: dict[str, Any] = loads(resources.files(__package__).joinpath("prices.json").read_bytes())
    return raw


def price_source() -> str:
    """``genai-prices 0.2.3 (snapshot 2026-12-01)``: what the bundled prices are."""
    src = _data()["_source"]
    return f"{src['name']} {src['version']} (snapshot {src['snapshot']})"


def sources_for(provider: str) -> tuple[str, ...]:
    """The price-database providers a llmswitch provider id is priced from."""
    found = _SOURCES.get(provider)
    if found is not None:
        return found
    return (provider,) if provider in _data()["providers"] else ()


def _find_in(source: str, ref: str, *, fallback: bool) -> PricedModel | None:
    provider = _data()["providers"].get(source)
    if provider is None:
        return None
    for raw in provider["models"]:
        if _matches(raw["match"], ref):
            return _priced(source, raw)
    if fallback:
        for other in provider["fallback"]:
            found = _find_in(other, ref, fallback=False)
            if found is not None:
                return found
    return None


def _priced(source: str, raw: Mapping[str, Any]) -> PricedModel:
    return PricedModel(
        source=source,
        id=raw["id"],
        name=raw.get("name"),
        context_window=raw.get("context_window"),
        entries=tuple(_entry(e) for e in raw["prices"]),
        variants=tuple(_entry(v) for v in raw.get("variants", ())),
    )


@cache
def find_priced(provider: str, model: str) -> PricedModel | None:
    """The price database's entry for ``model`` as ``provider`` serves it, or None.
    Dated snapshots and aliases resolve through the database's own match rules;
    ``gpt-5.2-20251211`` is retried as ``gpt-5.2-2025-12-11``."""
    ref = model.lower()
    for source in sources_for(provider):
        found = _find_in(source, ref, fallback=True)
        if found is None:
            dashed = _COMPACT_DATE.sub(lambda m: f"-{m[1]}-{m[2]}-{m[3]}", ref)
            if dashed != ref:
                found = _find_in(source, dashed, fallback=True)
        if found is not None:
            return found
    return None


def cost_from_prices(prices: Mapping[str, Price], usage: Usage) -> int | None:
    """Exact cost of ``usage`` at ``prices`` in nano-USD (see the module docstring), or None
    when a needed price or count is unknown. On every response: plain int arithmetic, a
    tier looked up only for a tiered price."""
    inp = usage.input_tokens
    out = usage.output_tokens
    get = prices.get
    p_in = get("input")
    if inp is None or p_in is None:
        return None
    p_out = get("output")
    if p_out is None:
        if out:  # output tokens with no output price: unknown, not free
            return None
        out = 0
    elif out is None:
        return None
    if type(p_in) is not int:
        p_in = p_in.at(inp)  # type: ignore[union-attr]
    fresh = inp
    total = 0
    read = usage.cached_input_tokens
    if read:
        price = get("cache_read")
        if price is not None:
            total += read * (price if type(price) is int else price.at(inp))  # type: ignore[union-attr]
            fresh -= read
    written = usage.cache_write_tokens
    if written:
        cost, covered = _writes(get, written, usage.cache_write_1h_tokens or 0, inp)
        total += cost
        fresh -= covered  # writes no price covers stay in the input
    total += (fresh if fresh > 0 else 0) * p_in
    if out:
        reasoning = usage.reasoning_tokens
        if reasoning:
            price = get("reasoning")
            if price is not None:
                reasoning = min(reasoning, out)
                total += reasoning * (price if type(price) is int else price.at(inp))  # type: ignore[union-attr]
                out -= reasoning
        if type(p_out) is not int:
            p_out = p_out.at(inp)  # type: ignore[union-attr]
        total += out * p_out  # type: ignore[operator]
    # units of 1e-6 nano-USD -> nano-USD, half up, once per call
    return (total + 500_000) // 1_000_000


Rates: TypeAlias = tuple[int, int, int | None, int | None, int]

# ``upto`` of untiered rates: more input tokens than any call has.
_NO_TIER = 2**62


def flat_rates(prices: Mapping[str, Price] | None) -> Rates | None:
    """``(input, output, cache_read, reasoning, upto)`` for ``Catalog.cost_nano``: the
    prices that hold while a call's input tokens are at most ``upto`` (a tiered price's
    base below its first tier's start; untiered, any count). None when input or output is
    missing (cache-write prices only matter to a usage with writes)."""
    if prices is None:
        return None
    upto = _NO_TIER
    rates: list[int | None] = []
    for key in ("input", "output", "cache_read", "reasoning"):
        price = prices.get(key)
        if type(price) is Tiered:
            for start, _ in price.tiers:  # ascending, but the rule needs only the least
                upto = min(upto, start)
            price = price.base
        elif price is not None and type(price) is not int:
            return None
        rates.append(price)
    p_in, p_out, read, reasoning = rates
    if p_in is None or p_out is None:
        return None
    return (p_in, p_out, read, reasoning, upto)


def _writes(get: Any, written: int, hour: int, inp: int) -> tuple[int, int]:
    """The cache writes' cost and how many of them a price covered: 1-hour writes at their
    price when the model has one, the rest at the 5-minute (or general) write price."""

    def at(price: Price) -> int:
        return price if type(price) is int else price.at(inp)  # type: ignore[union-attr]

    total = 0
    rest = written
    hour = min(hour, written)
    p_hour = get("cache_write_1h")
    if hour and p_hour is not None:
        total += hour * at(p_hour)
        rest -= hour
    p_five = get("cache_write_5m")
    if p_five is not None:
        total += (written - hour) * at(p_five)
        rest -= written - hour
    p_write = get("cache_write")
    if rest and p_write is not None:
        total += rest * at(p_write)
        rest = 0
    return total, written - rest


def parse_prices(values: Mapping[str, Decimal | str | float | int]) -> dict[str, Price]:
    """User prices (USD per million tokens, by price key) in the internal unit."""
    return {key: nano_per_mtok(value) for key, value in values.items()}


def entries_of(model: PricedModel | None) -> Sequence[PriceEntry]:
    return model.entries if model is not None else ()
