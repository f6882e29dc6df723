"""Golden costs: real response usage per provider, through the adapters' own usage parsers,
priced by the catalog and checked to the nano-dollar against the provider's published
formula (the arithmetic is written out: price in USD per million tokens = that many
thousand nano-USD per token). Then a differential check against genai-prices' own
``calc_price`` over every bundled model, and the price history (``at=``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmswitch import catalog
from llmswitch.catalog import Catalog, ModelOverride
from llmswitch.catalog._catalog import _Priced
from llmswitch.catalog._prices import (
    Price,
    Tiered,
    _data,
    cost_from_prices,
    flat_rates,
)
from llmswitch.messages import Usage
from llmswitch.providers.anthropic._response import parse_usage as anthropic_usage
from llmswitch.providers.bedrock._response import parse_usage as bedrock_usage
from llmswitch.providers.gemini._response import parse_usage as gemini_usage
from llmswitch.providers.openai._response import map_usage as openai_usage

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- per provider


def test_openai_cached_and_reasoning_tokens() -> None:
    # gpt-5: $1.25 input, $0.125 cached input, $10 output (reasoning is billed as output)
    usage = openai_usage(
        {
            "prompt_tokens": 2006,
            "completion_tokens": 1500,
            "total_tokens": 3506,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 1024, "audio_tokens": 0},
        }
    )
    fresh = (2006 - 1920) * 1_250  # 107_500
    cached = 1920 * 125  # 240_000
    output = 1500 * 10_000  # 15_000_000 (includes the 1024 reasoning tokens)
    assert catalog.cost_nano("openai", "gpt-5", usage, at=NOW) == fresh + cached + output
    assert fresh + cached + output == 15_347_500
    # a dated snapshot and Azure price the same
    assert catalog.cost_nano("openai", "gpt-5-2025-08-07", usage, at=NOW) == 15_347_500
    assert catalog.cost_nano("azure", "gpt-5", usage, at=NOW) == 15_347_500


def test_anthropic_cache_read_and_5_minute_and_1_hour_writes() -> None:
    # claude-opus-4-5: $5 input; cache read 0.1x = $0.50; 5-minute write 1.25x = $6.25;
    # 1-hour write 2x = $10; output $25
    raw = {
        "input_tokens": 50,
        "cache_creation_input_tokens": 3000,
        "cache_read_input_tokens": 10000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
        "output_tokens": 400,
    }
    usage = anthropic_usage(raw)
    assert (usage.input_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == (
        13050,
        3000,
        2000,
    )
    expected = 50 * 5_000 + 10000 * 500 + 1000 * 6_250 + 2000 * 10_000 + 400 * 25_000
    assert expected == 41_500_000
    assert catalog.cost_nano("anthropic", "claude-opus-4-5-20251101", usage, at=NOW) == expected
    # without the TTL split every write is a 5-minute write
    unsplit = anthropic_usage({k: v for k, v in raw.items() if k != "cache_creation"})
    assert catalog.cost_nano("anthropic", "claude-opus-4-5", unsplit, at=NOW) == (
        50 * 5_000 + 10000 * 500 + 3000 * 6_250 + 400 * 25_000
    )


def test_claude_long_context_tier() -> None:
    # claude-sonnet-4-5 over 200k input tokens (cache reads count): $6 in, $0.60 cache
    # read, $22.50 out for *all* tokens of the call; at or below 200k: $3 / $0.30 / $15
    over = anthropic_usage(
        {"input_tokens": 150000, "cache_read_input_tokens": 60000, "output_tokens": 2000}
    )
    assert catalog.cost_nano("anthropic", "claude-sonnet-4-5", over, at=NOW) == (
        150000 * 6_000 + 60000 * 600 + 2000 * 22_500  # 981_000_000
    )
    under = anthropic_usage(
        {"input_tokens": 140000, "cache_read_input_tokens": 60000, "output_tokens": 2000}
    )
    assert catalog.cost_nano("anthropic", "claude-sonnet-4-5", under, at=NOW) == (
        140000 * 3_000 + 60000 * 300 + 2000 * 15_000  # exactly 200k: still the base price
    )


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-sonnet-4-20250514"),
        ("anthropic", "claude-sonnet-4-0"),
        ("vertex", "claude-sonnet-4@20250514"),
        ("bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0"),
        ("bedrock", "global.anthropic.claude-sonnet-4-20250514-v1:0"),
    ],
)
def test_claude_sonnet_4_long_context_tier_from_the_supplement(provider: str, model: str) -> None:
    # Anthropic's long-context pricing for Sonnet 4 (tools/catalog_supplement.json, which
    # genai-prices lacks): over 200k input tokens $6 in, $0.60 cache read, $7.50 5-minute
    # write, $22.50 out for all tokens of the call; at or below 200k $3 / $0.30 / $3.75 / $15
    over = Usage(input_tokens=210_000, output_tokens=2000, cached_input_tokens=60_000,
                 cache_write_tokens=10_000)  # fmt: skip
    assert catalog.cost_nano(provider, model, over, at=NOW) == (
        140_000 * 6_000 + 60_000 * 600 + 10_000 * 7_500 + 2000 * 22_500  # 996_000_000
    )
    under = Usage(input_tokens=200_000, output_tokens=2000, cached_input_tokens=60_000,
                  cache_write_tokens=10_000)  # fmt: skip
    assert catalog.cost_nano(provider, model, under, at=NOW) == (
        130_000 * 3_000 + 60_000 * 300 + 10_000 * 3_750 + 2000 * 15_000  # exactly 200k: base
    )


def test_claude_sonnet_4_1_hour_cache_writes_scale_too() -> None:
    over = Usage(input_tokens=300_000, output_tokens=0, cache_write_tokens=100_000,
                 cache_write_1h_tokens=100_000)  # fmt: skip
    assert catalog.cost_nano("anthropic", "claude-sonnet-4-0", over, at=NOW) == (
        200_000 * 6_000 + 100_000 * 12_000
    )


def test_the_supplement_names_its_source() -> None:
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "tools" / "catalog_supplement.json"
    for entry in json.loads(path.read_text())["long_context"]:
        assert entry["source"].startswith("https://") and entry["retrieved"]
    supplement = _data()["_source"]["supplement"]
    assert supplement["file"] == "tools/catalog_supplement.json"
    assert any("docs.anthropic.com" in s for s in supplement["sources"])


def test_gemini_thoughts_and_tool_use_prompt_tokens() -> None:
    # gemini-2.5-flash: $0.30 input, $0.03 cached, $2.50 output (thinking billed as output);
    # toolUsePromptTokenCount is input, thoughtsTokenCount is output
    usage = gemini_usage(
        {
            "promptTokenCount": 1200,
            "toolUsePromptTokenCount": 300,
            "candidatesTokenCount": 250,
            "thoughtsTokenCount": 750,
            "cachedContentTokenCount": 1000,
            "totalTokenCount": 2500,
        }
    )
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens) == (1500, 1000, 750)
    expected = (1500 - 1000) * 300 + 1000 * 30 + (250 + 750) * 2_500
    assert expected == 2_680_000
    assert catalog.cost_nano("gemini", "gemini-2.5-flash", usage, at=NOW) == expected
    assert catalog.cost_nano("vertex", "gemini-2.5-flash", usage, at=NOW) == expected


def test_gemini_2_5_pro_long_context_tier() -> None:
    # gemini-2.5-pro: prompts over 200k tokens cost $2.50 in / $15 out, else $1.25 / $10
    long = gemini_usage(
        {"promptTokenCount": 250000, "candidatesTokenCount": 1000, "thoughtsTokenCount": 500}
    )
    assert catalog.cost_nano("gemini", "gemini-2.5-pro", long, at=NOW) == (
        250000 * 2_500 + 1500 * 15_000  # 647_500_000
    )
    short = gemini_usage(
        {"promptTokenCount": 200000, "candidatesTokenCount": 1000, "thoughtsTokenCount": 500}
    )
    assert catalog.cost_nano("gemini", "gemini-2.5-pro", short, at=NOW) == (
        200000 * 1_250 + 1500 * 10_000  # 265_000_000
    )


def test_bedrock_claude_with_cache_details_and_nova() -> None:
    # in-region Claude Sonnet 4.5 on Bedrock: $3.30 in, $0.33 cache read, $4.125 5-minute
    # write, $6.60 1-hour write, $16.50 out; inputTokens excludes the cache reads and writes
    raw = {
        "inputTokens": 100,
        "outputTokens": 200,
        "totalTokens": 5300,
        "cacheReadInputTokens": 4000,
        "cacheWriteInputTokens": 1000,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 1000}],
    }
    usage = bedrock_usage(raw)
    assert (usage.input_tokens, usage.cache_write_1h_tokens) == (5100, 1000)
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    expected = 100 * 3_300 + 4000 * 330 + 1000 * 6_600 + 200 * 16_500
    assert expected == 11_550_000
    assert catalog.cost_nano("bedrock", model, usage, at=NOW) == expected
    five = bedrock_usage({k: v for k, v in raw.items() if k != "cacheDetails"})
    assert catalog.cost_nano("bedrock", model, five, at=NOW) == expected - 1000 * (6_600 - 4_125)
    # Amazon Nova Pro: $0.80 in, $0.20 cache read, $3.20 out
    nova = bedrock_usage({"inputTokens": 1000, "outputTokens": 500, "cacheReadInputTokens": 2000})
    assert catalog.cost_nano("bedrock", "amazon.nova-pro-v1:0", nova, at=NOW) == (
        1000 * 800 + 2000 * 200 + 500 * 3_200  # 2_800_000
    )


def test_rounding_is_once_per_call_half_up() -> None:
    # nova-micro cache reads: $0.00875 per million = 8.75 nano-USD per token
    two = Usage(input_tokens=2, output_tokens=0, cached_input_tokens=2)
    assert catalog.cost_nano("bedrock", "amazon.nova-micro-v1:0", two, at=NOW) == 18  # 17.5 up
    three = Usage(input_tokens=3, output_tokens=0, cached_input_tokens=3)
    assert catalog.cost_nano("bedrock", "amazon.nova-micro-v1:0", three, at=NOW) == 26  # 26.25


# --------------------------------------------------------------------------- unknown


def test_unknown_is_none_never_zero() -> None:
    usage = Usage(input_tokens=10, output_tokens=5)
    assert catalog.cost_nano("ollama", "llama3.2", usage) is None  # local: no price
    assert catalog.cost_nano("openai", "no-such-model", usage) is None
    assert catalog.cost_nano("openai", "gpt-4o", Usage(output_tokens=5)) is None
    assert catalog.cost_nano("openai", "gpt-4o", Usage(input_tokens=5)) is None
    # an embedding model has no output price: its input alone is the cost
    embed = Usage(input_tokens=1000)
    assert catalog.cost_nano("openai", "text-embedding-3-small", embed) == 1000 * 20
    assert catalog.lookup("ollama", "llama3.2") is None


def test_provider_reported_cost_wins() -> None:
    usage = openai_usage({"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.000123})
    assert usage.reported_cost_nano == 123_000
    assert catalog.cost_nano("openrouter", "anything", usage) == 123_000
    assert catalog.cost_nano("openai", "gpt-4o", usage) == 123_000
    assert openai_usage({"prompt_tokens": 1, "cost": "1"}).reported_cost_nano is None


# --------------------------------------------------------------------------- history


def test_price_in_force_on_the_call_date() -> None:
    # OpenAI cut o3 from $10/$40 to $2/$8 on 2025-06-10
    usage = Usage(input_tokens=1000, output_tokens=1000)
    before = datetime(2025, 6, 9, 23, 59, tzinfo=UTC)
    after = datetime(2025, 6, 10, 0, 0, tzinfo=UTC)
    assert catalog.cost_nano("openai", "o3", usage, at=before) == 1000 * 10_000 + 1000 * 40_000
    assert catalog.cost_nano("openai", "o3", usage, at=after) == 1000 * 2_000 + 1000 * 8_000
    # claude-sonnet-4-6: 1M context at the long-context tier until 2026-03-13, flat after
    big = Usage(input_tokens=300000, output_tokens=1000)
    old = catalog.cost_nano("anthropic", "claude-sonnet-4-6", big, at=datetime(2026, 3, 12))
    new = catalog.cost_nano("anthropic", "claude-sonnet-4-6", big, at=datetime(2026, 3, 13))
    assert (old, new) == (300000 * 6_000 + 1000 * 22_500, 300000 * 3_000 + 1000 * 15_000)


def test_deepseek_off_peak_hours() -> None:
    # deepseek-chat: standard $0.27/$1.10 from 00:30 to 16:30 UTC, half price otherwise
    usage = Usage(input_tokens=1000, output_tokens=1000)
    day = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    night = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert (
        catalog.cost_nano("deepseek", "deepseek-chat", usage, at=day) == 1000 * 270 + 1000 * 1_100
    )
    assert catalog.cost_nano("deepseek", "deepseek-chat", usage, at=night) == (
        1000 * 135 + 1000 * 550
    )


# --------------------------------------------------------------------------- overrides


def test_overrides_and_custom_models() -> None:
    cat = Catalog(
        overrides={
            "my-vllm/llama-3-70b": ModelOverride(
                input_price=0.5, output_price=1.5, context_window=8192
            ),
            "openai/gpt-4o": ModelOverride(input_price=2.0),  # a negotiated input price
        }
    )
    usage = Usage(input_tokens=1000, output_tokens=100)
    assert cat.cost_nano("my-vllm", "llama-3-70b", usage) == 1000 * 500 + 100 * 1_500
    assert cat.cost_nano("openai", "gpt-4o", usage) == 1000 * 2_000 + 100 * 10_000
    spec = cat.lookup("my-vllm", "llama-3-70b")
    assert spec is not None and spec.context_window == 8192 and spec.input_price == 0.5
    assert spec.price_source == "llmswitch.toml"
    assert catalog.cost_nano("my-vllm", "llama-3-70b", usage) is None  # the default is untouched


# --------------------------------------------------------------------------- differential

_OURS = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "google": "gemini",
    "aws": "bedrock",
    "mistral": "mistral",
    "deepseek": "deepseek",
}
_USAGES = [
    Usage(input_tokens=1234, output_tokens=567),
    Usage(
        input_tokens=250_000, output_tokens=3000, cached_input_tokens=40_000, reasoning_tokens=10
    ),
    Usage(
        input_tokens=9000,
        output_tokens=700,
        cached_input_tokens=5000,
        cache_write_tokens=3000,
        cache_write_1h_tokens=1000,
    ),
]


def _supplemented() -> set[tuple[str, str]]:
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "tools" / "catalog_supplement.json"
    return {
        (source, model_id)
        for entry in json.loads(path.read_text())["long_context"]
        for source, ids in entry["models"].items()
        for model_id in ids
    }


_SUPPLEMENTED = _supplemented()


def _genai_nano(source: str, model_id: str, usage: Usage, at: datetime) -> int | None:
    genai_prices = pytest.importorskip("genai_prices")
    theirs = genai_prices.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cached_input_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
    )
    try:
        calc = genai_prices.calc_price(
            theirs, model_id, provider_id=source, genai_request_timestamp=at
        )
    except (LookupError, ValueError):
        return None
    return int((calc.total_price * Decimal(10**9)).to_integral_value(ROUND_HALF_UP))


@pytest.mark.parametrize("at", [NOW, datetime(2025, 3, 1, 3, 0, tzinfo=UTC)])
def test_every_bundled_model_matches_genai_prices_calc_price(at: datetime) -> None:
    compared = 0
    for source, provider in _OURS.items():
        for model in _data()["providers"][source]["models"]:
            for usage in _USAGES:
                ours = catalog.cost_nano(provider, model["id"], usage, at=at)
                if ours is None:
                    continue  # no input or output price: genai-prices would say 0
                theirs = _genai_nano(source, model["id"], usage, at)
                if theirs is None:
                    continue
                if (source, model["id"]) in _SUPPLEMENTED and usage.input_tokens > 200_000:
                    continue  # a tier genai-prices lacks (tools/catalog_supplement.json)
                assert ours == theirs, (source, model["id"], usage)
                compared += 1
    assert compared > 900


def test_the_bundled_prices_are_genai_prices_own() -> None:
    """prices.json is what tools/update_catalog.py makes of the installed genai-prices: no
    hand edits, and a genai-prices upgrade without regenerating fails here."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("genai_prices")
    tool = Path(__file__).resolve().parent.parent / "tools" / "update_catalog.py"
    done = subprocess.run(
        [sys.executable, str(tool), "--check"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    source = _data()["_source"]
    assert source["name"] == "genai-prices" and source["snapshot"] and source["version"]


# --------------------------------------------------------------------------- the fast path

_counts = st.one_of(st.none(), st.integers(min_value=0, max_value=10**9))
_price = st.integers(min_value=0, max_value=10**12)  # nano-USD per million tokens
# A price as the database gives it: plain, or tiered on the call's input tokens.
_tiered = st.builds(
    Tiered,
    base=_price,
    tiers=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**9), _price), min_size=1, max_size=3
    ).map(lambda ts: tuple(sorted(ts))),
)
_any_price = st.one_of(_price, _tiered)


@settings(max_examples=600, deadline=None)
@given(
    inp=_counts, out=_counts, read=_counts, reasoning=_counts,
    p_in=_any_price, p_out=_any_price,
    p_read=st.one_of(st.none(), _any_price), p_reasoning=st.one_of(st.none(), _any_price),
)  # fmt: skip
def test_flat_rates_cost_the_same_as_the_general_accounting(
    inp: int | None, out: int | None, read: int | None, reasoning: int | None,
    p_in: Price, p_out: Price, p_read: Price | None, p_reasoning: Price | None,
) -> None:  # fmt: skip
    """cost_nano (its lookup-free path for prices below any tier without cache writes,
    the general one above a tier's start) and the general cost_from_prices agree to the
    nano-dollar on any counts, consistent or not."""
    prices: dict[str, Price] = {"input": p_in, "output": p_out}
    if p_read is not None:
        prices["cache_read"] = p_read
    if p_reasoning is not None:
        prices["reasoning"] = p_reasoning
    usage = Usage(
        input_tokens=inp, output_tokens=out, cached_input_tokens=read, reasoning_tokens=reasoning
    )
    rates = flat_rates(prices)
    assert rates is not None
    starts = [s for p in prices.values() if isinstance(p, Tiered) for s, _ in p.tiers]
    assert rates[4] == min(starts, default=rates[4])
    # through Catalog.cost_nano itself, as on every response (the model's prices as
    # priced() resolves them for an override-only model)
    cat = Catalog()
    cat._priced["x"] = {"m": _Priced.of(None, prices)}
    assert cat.cost_nano("x", "m", usage) == cost_from_prices(prices, usage)


def test_flat_rates_leave_missing_prices_to_the_general_path() -> None:
    assert flat_rates({"input": 1}) is None
    assert flat_rates({"output": Tiered(base=1, tiers=((10, 2),))}) is None
    assert flat_rates(None) is None


def test_a_tiered_model_is_costed_on_both_sides_of_its_tier() -> None:
    """Claude Sonnet 4.5 (long-context prices above 200k input tokens): the fast path
    serves it below the tier; above it the tier's price applies to every token of its
    kind (the cliff rule), through the general path."""
    cat = Catalog()
    assert cat.priced("anthropic", "claude-sonnet-4-5").rates is not None
    below = Usage(input_tokens=200_000, output_tokens=1_000, cached_input_tokens=100_000)
    above = Usage(input_tokens=200_001, output_tokens=1_000, cached_input_tokens=100_000)
    # $3 / $15 / $0.30 read per million below; $6 / $22.50 / $0.60 above
    assert cat.cost_nano("anthropic", "claude-sonnet-4-5", below) == (
        100_000 * 3_000 + 1_000 * 15_000 + 100_000 * 300
    )
    assert cat.cost_nano("anthropic", "claude-sonnet-4-5", above) == (
        100_001 * 6_000 + 1_000 * 22_500 + 100_000 * 600
    )
