"""``llmswitch models --details``: each model's prices (USD per million tokens, with cache
read/write, 1-hour cache writes and long-context tiers) and capabilities, from the live
listing merged with the catalog (:func:`llmswitch.catalog.lookup`). Unknown is ``-`` in
the table and ``null`` in ``--json``; an unknown price is never shown as 0.

``--catalog`` lists the catalog's own models instead of asking the providers (no network).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..catalog import ModelSpec
    from ..messages import ModelInfo

__all__ = ["catalog_models", "details_json", "details_table"]

_COLUMNS = (
    "MODEL", "CONTEXT", "MAX OUT", "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE", "WRITE 1H",
    "LONG CONTEXT", "TOOLS", "VISION", "REASON", "EMBED", "FIM", "STREAM",
)  # fmt: skip
_RIGHT = {1, 2, 3, 4, 5, 6, 7}


def catalog_models(provider: str | None) -> list[ModelInfo]:
    """The catalog's models (of ``provider``) as listing entries."""
    from .. import catalog
    from ..messages import ModelInfo

    return [ModelInfo(id=m, provider=p) for p, m in catalog.models(provider)]


def _spec(m: ModelInfo) -> ModelSpec | None:
    from .. import catalog

    return catalog.lookup(m.provider, m.id)


def _pick(live: Any, spec: ModelSpec | None, name: str) -> Any:
    return live if live is not None else (getattr(spec, name) if spec is not None else None)


def details_json(m: ModelInfo) -> dict[str, Any]:
    spec = _spec(m)
    caps = {
        name: _pick(getattr(m, name, None), spec, name)
        for name in (
            "supports_chat", "supports_streaming", "supports_tools", "supports_vision",
            "supports_reasoning", "supports_embeddings", "supports_code_completion",
        )
    }  # fmt: skip
    prices: dict[str, Any] = {
        "input": spec.input_price if spec else None,
        "output": spec.output_price if spec else None,
        "cached_input": spec.cached_input_price if spec else None,
        "cache_write": spec.cache_write_price if spec else None,
        "cache_write_1h": spec.cache_write_1h_price if spec else None,
        "reasoning": spec.reasoning_price if spec else None,
        "tiers": [
            {
                "above_input_tokens": t.above,
                "input": t.input_price,
                "output": t.output_price,
                "cached_input": t.cached_input_price,
                "cache_write": t.cache_write_price,
                "cache_write_1h": t.cache_write_1h_price,
            }
            for t in (spec.tiers if spec else ())
        ],
        "unit": "USD per million tokens",
        "source": spec.price_source if spec else None,
        "since": spec.price_since.isoformat() if spec and spec.price_since else None,
    }
    return {
        "provider": m.provider,
        "id": m.id,
        "display_name": m.display_name or (spec.name if spec else None),
        "context_window": _pick(m.context_window, spec, "context_window"),
        "max_output_tokens": _pick(m.max_output_tokens, spec, "max_output_tokens"),
        **caps,
        "prices": prices,
        "created": m.created,
    }


def _money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"


def _flag(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _tiers(tiers: Sequence[dict[str, Any]]) -> str:
    parts = []
    for t in tiers:
        above = t["above_input_tokens"]
        size = f"{above // 1000}k" if above % 1000 == 0 else str(above)
        parts.append(f">{size}: {_money(t['input'])}/{_money(t['output'])}")
    return "; ".join(parts) or "-"


def details_table(models: list[ModelInfo]) -> str:
    """Aligned table, prices in USD per million tokens (``LONG CONTEXT``: input/output
    once the prompt exceeds the tier)."""
    rows: list[tuple[str, ...]] = [_COLUMNS]
    for m in sorted(models, key=lambda m: (m.provider, m.id)):
        d = details_json(m)
        p = d["prices"]
        rows.append(
            (
                f"{m.provider}/{m.id}",
                "-" if d["context_window"] is None else str(d["context_window"]),
                "-" if d["max_output_tokens"] is None else str(d["max_output_tokens"]),
                _money(p["input"]),
                _money(p["output"]),
                _money(p["cached_input"]),
                _money(p["cache_write"]),
                _money(p["cache_write_1h"]),
                _tiers(p["tiers"]),
                _flag(d["supports_tools"]),
                _flag(d["supports_vision"]),
                _flag(d["supports_reasoning"]),
                _flag(d["supports_embeddings"]),
                _flag(d["supports_code_completion"]),
                _flag(d["supports_streaming"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(
            c.rjust(w) if i in _RIGHT else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    from .. import catalog

    footer = f"prices: USD per million tokens, from {catalog.price_source()}; - = unknown"
    return "\n".join([*lines, footer]) + "\n"
