"""Model metadata and exact prices.

Prices come from the bundled ``prices.json``, converted from the genai-prices database by
``tools/update_catalog.py`` (dated, with cache read/write, 1-hour cache writes, long-context
tiers and price history); metadata (context window, maximum output, capabilities) from
``models.json``. Both load on first use. A :class:`Catalog` merges them with what providers
report live and with ``[catalog.models]`` overrides; the module functions use the default
catalog, which a client replaces (:func:`install`) when its configuration has overrides.

Money is integer nano-USD (1e-9 USD): :func:`cost_nano`. ``resp.cost`` is that / 1e9.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..messages import ChatRequest, Usage
from ._catalog import Catalog, CatalogSettings, ModelOverride
from ._estimate import (
    DEFAULT_MAX_OUTPUT_TOKENS,
    CostEstimate,
    CountMethod,
    TokenCount,
    estimate_with,
)
from ._prices import price_source
from ._specs import ModelSpec, PriceTier

__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "Catalog",
    "CatalogSettings",
    "CostEstimate",
    "CountMethod",
    "ModelOverride",
    "ModelSpec",
    "PriceTier",
    "TokenCount",
    "cost_nano",
    "cost_of",
    "default_catalog",
    "discover",
    "estimate_request",
    "install",
    "lookup",
    "models",
    "price_source",
]

_BUNDLED = Catalog()  # the bundled data alone: shared, so resetting to it allocates nothing
_default = _BUNDLED


def default_catalog() -> Catalog:
    """The catalog the module functions (and ``resp.cost``) use."""
    return _default


def install(catalog: Catalog | None) -> None:
    """Make ``catalog`` the default (None: back to the bundled data alone). A client whose
    configuration has ``[catalog]`` settings installs its catalog when it is built."""
    global _default
    _default = catalog if catalog is not None else _BUNDLED


def discover(provider: str, models: Mapping[str, Mapping[str, Any]]) -> None:
    """Merge what ``provider`` reported for its models (model id -> facts such as
    ``context_window``) into the default catalog."""
    global _default
    if _default is _BUNDLED:
        _default = Catalog()
    _default.discover(provider, models)


def lookup(provider: str, model: str) -> ModelSpec | None:
    """Facts for ``model``; dated snapshots (``gpt-4o-2024-08-06``) fall back to their family."""
    return _default.lookup(provider, model)


def models(provider: str | None = None) -> list[tuple[str, str]]:
    """``(provider, model)`` of every model the default catalog describes."""
    return _default.models(provider)


def cost_nano(
    provider: str,
    model: str,
    usage: Usage,
    *,
    at: datetime | None = None,
    context: Mapping[str, str] | None = None,
) -> int | None:
    """Exact cost in nano-USD of ``usage`` on ``model`` at time ``at`` (default now), or
    ``None`` when a needed price or count is unknown (never 0 for unknown). One rounding
    per call, half up; see :mod:`llmswitch.catalog._prices` for the accounting."""
    return _default.cost_nano(provider, model, usage, at=at, context=context)


def cost_of(provider: str, model: str, usage: Usage, *, at: datetime | None = None) -> float | None:
    """USD for ``usage`` (``cost_nano / 1e9``), or ``None`` when unknown."""
    if at is None:  # on every response: no keyword to pass in the common case (now)
        nano = _default.cost_nano(provider, model, usage)
    else:
        nano = _default.cost_nano(provider, model, usage, at=at)
    return None if nano is None else nano / 1e9


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
        lookup, cost_nano, request, at=at, input_tokens=input_tokens, method=method
    )
