"""Model metadata (context window, maximum output, capabilities) from the bundled
``models.json``: what a model *is*, not what it costs (prices: :mod:`._prices`).

Lookup resolves a provider's id to the file's entry: Azure deployments of OpenAI models
read OpenAI's, Vertex reads Gemini's (Anthropic's for ``claude-...@date``); Bedrock's geo
prefixes (``us.``, ``eu.``, ``apac.``, ``global.``, ``jp.``, ``au.``) are dropped; a dated
snapshot (``gpt-4o-2024-08-06``, ``claude-haiku-4-5-20251001``,
``anthropic.claude-sonnet-4-5-20250929-v1:0``) takes the entry of the longest known id it
extends with ``-``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

__all__ = ["CAPABILITIES", "ModelSpec", "PriceTier", "metadata_for", "metadata_table"]

CAPABILITIES = (
    "supports_chat",
    "supports_streaming",
    "supports_tools",
    "supports_vision",
    "supports_reasoning",
    "supports_embeddings",
    "supports_code_completion",
)

_META_PROVIDER = {"azure": "openai", "vertex": "gemini"}
_GEO_PREFIXES = ("us.", "eu.", "apac.", "global.", "jp.", "au.", "us-gov.", "ca.")


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceTier:
    """Prices (USD per million tokens) once a call's input exceeds ``above`` tokens."""

    above: int
    input_price: float | None = None
    output_price: float | None = None
    cached_input_price: float | None = None
    cache_write_price: float | None = None
    cache_write_1h_price: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """Facts about a model. Prices are USD per million tokens in force today (None: unknown,
    never 0 for unknown); ``tiers`` the long-context prices; ``price_source`` where the
    prices come from; ``price_since`` the date the current prices started (when dated).
    Capabilities: None means unknown."""

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
    cache_write_1h_price: float | None = None
    reasoning_price: float | None = None
    tiers: tuple[PriceTier, ...] = ()
    supports_chat: bool | None = None
    supports_streaming: bool | None = None
    supports_embeddings: bool | None = None
    supports_code_completion: bool | None = None
    name: str | None = None
    price_source: str | None = None
    price_since: date | None = None
    sources: tuple[str, ...] = field(default=())  # where the metadata came from


@cache
def metadata_table() -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
    """The bundled metadata: provider -> model id -> fields."""
    from importlib import resources

    from .._json import loads

    raw = loads(resources.files(__package__).joinpath("models.json").read_bytes())
    return {provider: models for provider, models in raw["providers"].items()}


def _strip_geo(model: str) -> str:
    for prefix in _GEO_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


@cache
def metadata_for(provider: str, model: str) -> Mapping[str, Any] | None:
    """The bundled metadata entry for ``model`` (see the module docstring), or None."""
    ref = _strip_geo(model) if provider == "bedrock" else model
    table = _META_PROVIDER.get(provider, provider)
    if provider == "vertex":  # Claude on Vertex: claude-sonnet-4-5@20250929
        ref = ref.partition("@")[0]
        if ref.startswith("claude"):
            table = "anthropic"
    models = metadata_table().get(table)
    if not models:
        return None
    spec = models.get(ref)
    if spec is not None:
        return spec
    # the longest known id this one extends: a dated snapshot, a version suffix
    best = max(
        (m for m in models if ref.startswith(m + "-") or ref.startswith(m + ":")),
        key=len,
        default=None,
    )
    return models[best] if best is not None else None
