"""Cost-saving hints from the ledger: for each model used in a time range, the models
with the same capabilities that would have cost less for the same tokens, and how much
of its input was read from the provider's prompt cache.

What the hints measure, and what they cannot:

- **Cheaper models.** Each model's usage over the range (input, cached input, cache
  writes, output, reasoning) is priced with today's catalog prices
  (``catalog.cost_nano``) on the model itself and on every other catalog model that
  has at least its capabilities (tools, vision, reasoning: each one the used model has),
  a known context window at least as large as the largest single call in the range
  (its input + output tokens), and room for its longest output. Same capabilities is
  not same quality: a hint is a model worth evaluating, not a drop-in replacement.
  A candidate without cache prices is priced with its cached tokens as plain input.
  Long-context tiers are per call, so the calls are priced per band of input size
  (the tier thresholds of today's price data: 100k, 128k, 200k, 272k tokens), each
  band as its average call times its number of calls.
- **Caching.** The ledger does not store prompts, so it cannot see which calls repeat
  a prefix. What it has: ``cached_share``, the share of input tokens the provider
  already billed as cache reads, and ``caching_saving_usd``, the most caching could
  have saved: the cost difference if every input token that was neither read from nor
  written to the cache had been a cache read. The real saving is lower: only a
  repeated prefix (1024+ tokens on OpenAI and Anthropic) used within the cache's
  lifetime is read from cache, and Anthropic bills the write first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..messages import Usage
from .report import ReportQuery, _database, _recover

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Connection

    from ..catalog import ModelSpec
    from ..storage.sql import Database

__all__ = ["Alternative", "ModelHint", "hints"]

_CAPABILITIES = ("supports_tools", "supports_vision", "supports_reasoning")
# Input sizes where long-context prices start (catalog/prices.json "tiers"): calls are
# summed per band between them, so a tier applies to the calls that reach it.
BANDS = (100_000, 128_000, 200_000, 272_000)
_SUMS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
         "reasoning_tokens")  # fmt: skip

Band = tuple[int, Usage]  # (calls, their summed usage)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alternative:
    """A cheaper model for a used model's usage: what that usage would have cost on it."""

    provider: str
    model: str
    cost_nano: int
    saving_nano: int

    def as_dict(self, base_nano: int) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "cost_usd": self.cost_nano / 1e9,
            "saving_usd": self.saving_nano / 1e9,
            "saving_share": self.saving_nano / base_nano if base_nano else None,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelHint:
    """One used model (module docs): its usage, what it cost, cheaper alternatives
    (cheapest first) and its prompt-cache figures. Money in integer nano-USD."""

    provider: str
    model: str
    calls: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    recorded_nano: int | None  # the ledger's cost (prices on the calls' dates)
    priced_nano: int | None  # the same usage at today's prices: what alternatives beat
    alternatives: tuple[Alternative, ...] = ()
    cached_share: float | None = None
    caching_supported: bool | None = None  # the model has a cache-read price
    caching_saving_nano: int | None = None  # the upper bound (module docs)

    @property
    def best_saving_nano(self) -> int:
        """The largest saving on offer: the cheapest alternative's or caching's bound."""
        return max(
            self.alternatives[0].saving_nano if self.alternatives else 0,
            self.caching_saving_nano or 0,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, USD as floats (``llmswitch usage --hints --format json``)."""
        base = self.priced_nano or 0
        return {
            "provider": self.provider,
            "model": self.model,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": _usd(self.recorded_nano),
            "cost_at_current_prices_usd": _usd(self.priced_nano),
            "alternatives": [a.as_dict(base) for a in self.alternatives],
            "cached_share": self.cached_share,
            "caching_supported": self.caching_supported,
            "caching_saving_usd": _usd(self.caching_saving_nano),
        }


Pricer = Callable[[str, str, Usage], "int | None"]
Lookup = Callable[[str, str], "ModelSpec | None"]


def hints(
    database: Database | str | None = None,
    since: Any = None,
    until: Any = None,
    *,
    limit: int = 3,
    candidates: Iterable[tuple[str, str]] | None = None,
    recover: bool = True,
    journal: str | None = None,
    **filters: Any,
) -> list[ModelHint]:
    """Hints for every model used over ``since``..``until`` among the rows matching
    ``filters`` (as for :func:`~llmswitch.usage.report.report`), biggest possible saving
    first; at most ``limit`` alternatives each. ``candidates``: the ``(provider,
    model)`` pairs to consider instead of the whole catalog (e.g. only providers you
    have keys for)."""
    query = ReportQuery.make(("provider", "model"), since, until, filters)
    db, owned = _database(database)
    try:
        if recover:
            _recover(db, journal)
        if not db.status().exists:
            return []
        used, peaks, bands = db.read(_usage_peaks_bands, query)
    finally:
        if owned:
            db.close()
    from .. import catalog

    pool = list(candidates) if candidates is not None else _catalog_models()
    return rank(used, peaks, pool, catalog.lookup, _pricer(), limit=limit, bands=bands)


def rank(
    used: list[dict[str, Any]],
    peaks: Mapping[tuple[str, str], tuple[int, int]],
    pool: list[tuple[str, str]],
    lookup: Lookup,
    price: Pricer,
    *,
    limit: int = 3,
    bands: Mapping[tuple[str, str], list[Band]] | None = None,
) -> list[ModelHint]:
    """The hints of ``used`` (report rows by provider and model) given each model's
    ``peaks`` (largest input + output of one call, largest output) and its calls per
    input-size band (``bands``; default: one band of the row's totals). Sans-I/O."""
    out = []
    specs = [(p, m, lookup(p, m)) for p, m in pool]
    for row in used:
        provider, model = row["provider"], row["model"]
        mine = (bands or {}).get((provider, model)) or [(row["calls"], _usage(row))]
        spec = lookup(provider, model)
        base = _cost(price, provider, model, mine)
        alternatives: tuple[Alternative, ...] = ()
        if spec is not None and base is not None:
            context, longest = peaks.get((provider, model), (0, 0))
            found = []
            for cp, cm, cspec in specs:
                if cspec is None or (cp, cm) == (provider, model):
                    continue
                if not _fits(spec, cspec, context, longest):
                    continue
                cost = _candidate_cost(price, cp, cm, mine)
                if cost is not None and cost < base:
                    found.append(Alternative(provider=cp, model=cm, cost_nano=cost,
                                             saving_nano=base - cost))  # fmt: skip
            found.sort(key=lambda a: (a.cost_nano, a.provider, a.model))
            alternatives = tuple(found[:limit])
        inputs = row["input_tokens"]
        supported = None if spec is None else spec.cached_input_price is not None
        out.append(
            ModelHint(
                provider=provider, model=model, calls=row["calls"], input_tokens=inputs,
                cached_input_tokens=row["cached_input_tokens"],
                output_tokens=row["output_tokens"], recorded_nano=row["cost_nano"],
                priced_nano=base, alternatives=alternatives,
                cached_share=row["cached_input_tokens"] / inputs if inputs else None,
                caching_supported=supported,
                caching_saving_nano=_caching_bound(price, provider, model, mine, base)
                if supported else None,
            )
        )  # fmt: skip
    out.sort(key=lambda h: (-h.best_saving_nano, -(h.priced_nano or 0), h.provider, h.model))
    return out


def _usage(sums: Mapping[str, Any]) -> Usage:
    counts = {name: int(sums[name] or 0) for name in _SUMS}
    total = counts["input_tokens"] + counts["output_tokens"]
    return Usage(total_tokens=total, **counts)


def _cost(price: Pricer, provider: str, model: str, bands: list[Band]) -> int | None:
    """What ``bands`` cost on ``model``: each band's average call, times its calls."""
    total = 0
    for calls, usage in bands:
        each = price(provider, model, _average(usage, calls))
        if each is None:
            return None
        total += each * calls
    return total


def _average(usage: Usage, calls: int) -> Usage:
    if calls <= 1:
        return usage
    counts = {name: round((getattr(usage, name) or 0) / calls) for name in _SUMS}
    return Usage(total_tokens=counts["input_tokens"] + counts["output_tokens"], **counts)


def _fits(used: ModelSpec, candidate: ModelSpec, context: int, longest: int) -> bool:
    if candidate.supports_chat is False:  # an embedding or completion-only model
        return False
    for capability in _CAPABILITIES:
        if getattr(used, capability) and not getattr(candidate, capability):
            return False
    if candidate.context_window is None or candidate.context_window < context:
        return False
    return candidate.max_output_tokens is None or candidate.max_output_tokens >= longest


def _candidate_cost(price: Pricer, provider: str, model: str, bands: list[Band]) -> int | None:
    cost = _cost(price, provider, model, bands)
    if cost is None and any(u.cached_input_tokens or u.cache_write_tokens for _, u in bands):
        # No cache prices on the candidate: its cached tokens as plain input.
        plain = [(n, replace(u, cached_input_tokens=0, cache_write_tokens=0)) for n, u in bands]
        cost = _cost(price, provider, model, plain)
    return cost


def _caching_bound(
    price: Pricer, provider: str, model: str, bands: list[Band], base: int | None
) -> int | None:
    if base is None:
        return None
    # Every input token neither read from nor written to the cache, read from it.
    read = [(n, replace(u, cached_input_tokens=_readable(u))) for n, u in bands]
    best = _cost(price, provider, model, read)
    return None if best is None else max(base - best, 0)


def _readable(usage: Usage) -> int:
    return max((usage.input_tokens or 0) - (usage.cache_write_tokens or 0), 0)


def _usage_peaks_bands(
    conn: Connection, query: ReportQuery
) -> tuple[
    list[dict[str, Any]],
    dict[tuple[str, str], tuple[int, int]],
    dict[tuple[str, str], list[Band]],
]:
    from sqlalchemy import case, func, literal_column, select

    from ..storage.sql.schema import usage_ledger as t

    used = [r for r in query.rows(conn, detail=True) if r["input_tokens"] or r["output_tokens"]]
    zero: ColumnElement[int] = literal_column("0")
    inputs = func.coalesce(t.c.input_tokens, zero)
    outputs = func.coalesce(t.c.output_tokens, zero)
    peak = (
        select(t.c.provider, t.c.model, func.max(inputs + outputs), func.max(outputs))
        .where(*query.conditions())
        .group_by(t.c.provider, t.c.model)
    )
    peaks = {(p, m): (int(c or 0), int(o or 0)) for p, m, c, o in conn.execute(peak)}
    # Literals, not bound parameters: PostgreSQL must see the SELECT's CASE and the
    # GROUP BY's as the same expression.
    band = case(
        *((inputs <= literal_column(str(limit)), literal_column(str(i)))
          for i, limit in enumerate(BANDS)),
        else_=literal_column(str(len(BANDS))),
    ).label("band")  # fmt: skip
    sums = [func.sum(t.c[name]).label(name) for name in _SUMS]
    per_band = (
        select(t.c.provider, t.c.model, band, func.count().label("calls"), *sums)
        .where(*query.conditions())
        .group_by(t.c.provider, t.c.model, band)
    )
    bands: dict[tuple[str, str], list[Band]] = {}
    for r in conn.execute(per_band).mappings():
        sums_of = {name: r[name] for name in _SUMS}
        bands.setdefault((r["provider"], r["model"]), []).append((int(r["calls"]), _usage(sums_of)))
    return used, peaks, bands


def _pricer() -> Pricer:
    from .. import catalog

    def price(provider: str, model: str, usage: Usage) -> int | None:
        return catalog.cost_nano(provider, model, usage)

    return price


def _catalog_models() -> list[tuple[str, str]]:
    from .. import catalog

    return sorted(catalog.models())


def _usd(nano: int | None) -> float | None:
    return None if nano is None else nano / 1e9
