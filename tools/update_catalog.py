#!/usr/bin/env python3
"""Regenerate ``src/llmswitch/catalog/prices.json`` from the genai-prices package.

    uv run python tools/update_catalog.py            # write the file
    uv run python tools/update_catalog.py --check    # exit 1 when the file is stale

genai-prices (https://github.com/pydantic/genai-prices, MIT) is a maintained, dated price
database: per model the prices in USD per million tokens (input, output, cache read, cache
write with Anthropic's 5-minute/1-hour split), long-context tiers, and the price history
(start dates, DeepSeek's off-peak hours). It is a *development* dependency only: it pulls
pydantic and a 1.6 MB data module, far over llmswitch's import budget, so this tool turns
the part llmswitch uses into a compact JSON file shipped with the package. Bump
genai-prices (``uv lock --upgrade-package genai-prices``), rerun this tool, commit the file.

On top of genai-prices, ``tools/catalog_supplement.json`` adds published prices it lacks
(today: Claude Sonnet 4's long-context tier over 200k input tokens, from Anthropic's
pricing page), each entry naming its source URL and the date it was read.

Kept per model: id, name, match rule (which model ids it covers, genai-prices' own clauses),
context window, every dated/timed price entry and the request-context variants (batch,
service tiers), with these price keys: input, output, cache_read, cache_write,
cache_write_5m, cache_write_1h, reasoning. Prices are decimal strings (exact). Dropped:
per-modality (audio/image/video) prices, per-search and per-request fees; llmswitch's
``Usage`` does not count those, so they are not billed here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path
from typing import Any

from genai_prices import types
from genai_prices.data import providers

OUT = Path(__file__).resolve().parent.parent / "src/llmswitch/catalog/prices.json"
# Published prices genai-prices lacks (each entry with its source URL and date), applied
# on top of it: data, not code, so a price is added or dropped without touching the tool.
SUPPLEMENT = Path(__file__).resolve().parent / "catalog_supplement.json"

# genai-prices provider ids bundled: the built-in providers' price sources and the
# OpenAI-compatible providers users commonly configure (catalog/_prices.py maps ids).
SOURCES = ("openai", "azure", "anthropic", "google", "aws", "mistral", "deepseek")

PRICE_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "cache_write_5m_mtok": "cache_write_5m",
    "cache_write_1h_mtok": "cache_write_1h",
    "output_reasoning_mtok": "reasoning",
}


def _decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    # nano-USD per million tokens must be an integer for exact integer arithmetic
    if (value * 1_000_000_000) % 1:
        raise SystemExit(f"price {value} has more than 9 decimals; catalog/_prices.py assumes 9")
    return text


def _price(value: Decimal | types.TieredPrices) -> Any:
    if isinstance(value, types.TieredPrices):
        return {
            "base": _decimal(value.base),
            "tiers": [[tier.start, _decimal(tier.price)] for tier in value.tiers],
        }
    return _decimal(value)


def _prices(model_price: types.ModelPrice) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in model_price.__dict__.items():
        if value is not None and key in PRICE_KEYS:
            out[PRICE_KEYS[key]] = _price(value)
    return out


def _constraint(constraint: Any) -> dict[str, Any]:
    if constraint is None:
        return {}
    if isinstance(constraint, types.StartDateConstraint):
        return {"start": constraint.start_date.isoformat()}
    if isinstance(constraint, types.TimeOfDateConstraint):
        return {"time": [_utc_time(constraint.start_time), _utc_time(constraint.end_time)]}
    raise SystemExit(f"unknown price constraint {constraint!r}")


def _utc_time(value: dt.time) -> str:
    if value.tzinfo is not None:
        value = dt.datetime.combine(dt.date(1970, 1, 1), value).astimezone(dt.UTC).time()
    return value.strftime("%H:%M")


def _match(clause: Any) -> Any:
    if isinstance(clause, types.ClauseOr):
        return {"or": [_match(c) for c in clause.or_]}
    if isinstance(clause, types.ClauseAnd):
        return {"and": [_match(c) for c in clause.and_]}
    for name in ("starts_with", "ends_with", "contains", "regex", "equals"):
        if hasattr(clause, name):
            return {name: getattr(clause, name)}
    raise SystemExit(f"unknown match clause {clause!r}")


def _model(model: types.ModelInfo) -> dict[str, Any]:
    entries = model.prices if isinstance(model.prices, list) else [model.prices]
    prices = []
    for entry in entries:
        if isinstance(entry, types.ConditionalPrice):
            prices.append({**_constraint(entry.constraint), "p": _prices(entry.prices)})
        else:
            prices.append({"p": _prices(entry)})
    out: dict[str, Any] = {"id": model.id, "match": _match(model.match)}
    if model.name:
        out["name"] = model.name
    if model.context_window:
        out["context_window"] = model.context_window
    if model.deprecated:
        out["deprecated"] = True
    out["prices"] = prices
    variants = [
        {"when": dict(v.when), **_constraint(v.constraint), "p": _prices(v.prices)}
        for v in model.price_variants or ()
    ]
    if variants:
        out["variants"] = variants
    return out


def build() -> dict[str, Any]:
    by_id = {p.id: p for p in providers}
    out: dict[str, Any] = {
        "_source": {
            "name": "genai-prices",
            "version": version("genai-prices"),
            "url": "https://github.com/pydantic/genai-prices",
            "snapshot": dt.date.today().isoformat(),
            "generated_by": "tools/update_catalog.py",
            "units": "USD per million tokens; decimal strings",
        },
        "providers": {},
    }
    for source in SOURCES:
        provider = by_id[source]
        out["providers"][source] = {
            "name": provider.name,
            "fallback": [p for p in provider.fallback_model_providers or () if p in SOURCES],
            "models": [_model(m) for m in provider.models],
        }
    supplement(out, json.loads(SUPPLEMENT.read_text()))
    return out


def supplement(out: dict[str, Any], data: dict[str, Any]) -> None:
    """Add ``data``'s long-context tiers (tools/catalog_supplement.json) to the models it
    names: each price it lists becomes ``{"base": genai-prices' price, "tiers":
    [[above_input_tokens, price]]}`` in every price entry and variant that has that
    price. A model it names that is missing, or that already has a tier there (then
    genai-prices caught up: drop the entry), stops the tool."""
    sources: list[str] = []
    for entry in data["long_context"]:
        start = entry["above_input_tokens"]
        for source, ids in entry["models"].items():
            models = {m["id"]: m for m in out["providers"][source]["models"]}
            for model_id in ids:
                if model_id not in models:
                    raise SystemExit(f"{SUPPLEMENT.name}: no {source} model {model_id!r}")
                model = models[model_id]
                for prices in [e["p"] for e in model["prices"]] + [
                    v["p"] for v in model.get("variants", ())
                ]:
                    _add_tier(prices, start, entry["prices"], f"{source}/{model_id}")
        sources.append(f"{entry['source']} (retrieved {entry['retrieved']})")
    out["_source"]["supplement"] = {"file": f"tools/{SUPPLEMENT.name}", "sources": sources}


def _add_tier(prices: dict[str, Any], start: int, tier: dict[str, str], where: str) -> None:
    for key, price in tier.items():
        if key not in prices:
            continue  # genai-prices has no such price for this model: none to tier
        if isinstance(prices[key], dict):
            raise SystemExit(
                f"{SUPPLEMENT.name}: genai-prices now tiers {where} {key}; drop that entry"
            )
        prices[key] = {"base": prices[key], "tiers": [[start, _decimal(Decimal(price))]]}


def render(data: dict[str, Any]) -> str:
    # one model per line: small diffs when genai-prices changes a price
    lines = ["{", f'"_source": {json.dumps(data["_source"])},', '"providers": {']
    provs = list(data["providers"].items())
    for i, (pid, prov) in enumerate(provs):
        head = {k: v for k, v in prov.items() if k != "models"}
        lines.append(f'{json.dumps(pid)}: {json.dumps(head)[:-1]}, "models": [')
        models = prov["models"]
        for j, model in enumerate(models):
            lines.append(
                json.dumps(model, separators=(",", ":")) + ("," if j < len(models) - 1 else "")
            )
        lines.append("]}" + ("," if i < len(provs) - 1 else ""))
    lines += ["}", "}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when prices.json is stale")
    args = parser.parse_args()
    data = build()
    if args.check:
        current = json.loads(OUT.read_text())
        data["_source"]["snapshot"] = current["_source"]["snapshot"]
        if current != data:
            print(f"{OUT} is stale: run tools/update_catalog.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(render(data))
    count = sum(len(p["models"]) for p in data["providers"].values())
    print(f"wrote {OUT} ({count} models, genai-prices {data['_source']['version']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
