# ruff: noqa: RUF001  (texts in other scripts)
"""catalog.estimate_request: the offline cost range of a request before it is sent."""

from __future__ import annotations

from llmswitch.catalog import DEFAULT_MAX_OUTPUT_TOKENS, CostEstimate, estimate_request, lookup
from llmswitch.messages import ChatRequest, ImagePart, Message, TextPart


def _request(provider: str = "openai", model: str = "gpt-4o-mini", **fields: object) -> ChatRequest:
    messages = fields.pop("messages", (Message(role="user", content="Name three prime numbers."),))
    return ChatRequest(provider=provider, model=model, messages=messages, **fields)  # type: ignore[arg-type]


def test_range_of_a_counted_request_matches_the_published_prices() -> None:
    # gpt-4o-mini: $0.15 / M input = 150 nano-USD a token, $0.60 / M output = 600.
    est = estimate_request(_request(max_tokens=200), input_tokens=1_000)
    assert est == CostEstimate(
        input_tokens=1_000, input_exact=True, method="tokenizer", max_output_tokens=200,
        low_nano=150_000, high_nano=150_000 + 200 * 600,
    )  # fmt: skip
    assert est.low_usd == 0.00015
    assert est.high_usd == 0.00027


def test_without_max_tokens_the_high_end_uses_the_models_max_output() -> None:
    spec = lookup("openai", "gpt-4o-mini")
    assert spec is not None and spec.max_output_tokens
    est = estimate_request(_request(), input_tokens=10)
    assert est.max_output_tokens == spec.max_output_tokens
    assert est.high_nano == 10 * 150 + spec.max_output_tokens * 600


def test_unknown_price_is_none_never_zero() -> None:
    est = estimate_request(_request("ollama", "llama3.2"))
    assert est.low_nano is None and est.high_nano is None
    assert est.low_usd is None and est.high_usd is None
    assert est.max_output_tokens == DEFAULT_MAX_OUTPUT_TOKENS
    assert est.input_tokens > 0 and est.method == "estimate" and not est.input_exact


def test_the_estimate_grows_with_the_text_and_counts_system_tools_and_images() -> None:
    short = estimate_request(_request())
    long = estimate_request(
        _request(messages=(Message(role="user", content="Name three prime numbers. " * 40),))
    )
    assert long.input_tokens > short.input_tokens * 10
    with_system = estimate_request(_request(system="You are a terse assistant."))
    assert with_system.input_tokens > short.input_tokens
    image = Message(
        role="user",
        content=(TextPart(text="What is this?"), ImagePart(url="https://example.com/a.png")),
    )
    assert estimate_request(_request(messages=(image,))).input_tokens > 500


def test_the_character_estimate_errs_high_against_the_real_tokenizer() -> None:
    # Budgets reserve with this estimate: it should not undercount prose, code or other
    # scripts on today's OpenAI tokenizer, nor overcount wildly.
    from pathlib import Path

    from llmswitch.catalog._estimate import estimate_text_tokens
    from llmswitch.catalog.tokens import get_encoding

    root = Path(__file__).resolve().parent.parent
    texts = {
        "README (English, code, some non-ASCII)": (root / "README.md").read_text(),
        "Python": (root / "src/llmswitch/catalog/_estimate.py").read_text(),
        "German": "Die Würde des Menschen ist unantastbar. Sie zu achten ist Pflicht. " * 20,
        "Chinese": "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心。" * 20,
        "Russian": "Все люди рождаются свободными и равными в своем достоинстве. " * 20,
    }
    o200k = get_encoding("o200k_base")
    for name, text in texts.items():
        ratio = estimate_text_tokens(text) / o200k.count(text)
        assert 1.0 <= ratio <= 2.2, (name, ratio)


# ------------------------------------------------------------ client.count_tokens / estimate_cost

import asyncio  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402

from llmswitch import AsyncClient, Client  # noqa: E402
from tests.support.config import write  # noqa: E402
from tests.support.loopback import Loopback, Reply  # noqa: E402
from tests.support.upstreams import ANTHROPIC, GEMINI, OLLAMA, OPENAI  # noqa: E402

HI = [{"role": "user", "content": "Name three prime numbers."}]
# "Name three prime numbers." is 5 tokens on o200k_base; + 3 framing + "user" (1) + 3 priming
HI_TOKENS = 12
COUNT_ANTHROPIC = "/v1/messages/count_tokens"


def test_openai_models_are_counted_offline_with_nothing_sent(loopback: Loopback) -> None:
    with OPENAI.client(loopback) as client:
        count = client.count_tokens("openai/gpt-4o-mini", HI)
        assert (count, count.method, count.exact) == (HI_TOKENS, "tokenizer", True)
        gpt4 = client.count_tokens("openai/gpt-4", HI, system="Be terse.")
        assert gpt4.method == "tokenizer" and gpt4 > HI_TOKENS
    assert loopback.requests == []


def test_azure_and_openai_compatible_servers_use_the_tokenizer_for_openai_models(
    tmp_path: object, loopback: Loopback
) -> None:
    config = write(
        tmp_path,  # type: ignore[arg-type]
        f'[providers.router]\nkind = "openai-compatible"\nbase_url = "{loopback.url}/v1"\n'
        'api_key = "sk-x"\n',
    )
    env = {"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": loopback.url,
           "OPENAI_API_VERSION": "2024-10-21"}  # fmt: skip
    with Client(config=config, env=env) as client:
        assert client.count_tokens("azure/gpt-4o", HI).method == "tokenizer"
        assert client.count_tokens("router/openai/gpt-4.1", HI).method == "tokenizer"
        # another model on an OpenAI-compatible server: its tokenizer is unknown
        other = client.count_tokens("router/qwen3-32b", HI)
        assert (other.method, other.exact) == ("estimate", False)
    assert loopback.requests == []


def test_anthropic_asks_its_count_endpoint_with_only_the_fields_it_accepts(
    loopback: Loopback,
) -> None:
    loopback.route("POST", COUNT_ANTHROPIC, Reply(body=b'{"input_tokens": 14}'))
    with ANTHROPIC.client(loopback) as client:
        count = client.count_tokens(
            "anthropic/claude-sonnet-4-5", HI, system="Be terse.", temperature=0.2,
            max_tokens=50, stop=["\n"], user="alice",
        )  # fmt: skip
    assert (count, count.method, count.exact) == (14, "provider", True)
    body = json.loads(loopback.requests[0].body)
    assert set(body) == {"model", "messages", "system"}
    assert body["model"] == "claude-sonnet-4-5"
    assert loopback.requests[0].headers["x-api-key"] == ANTHROPIC.key


def test_anthropic_count_async_and_a_bad_answer_is_typed(loopback: Loopback) -> None:
    from llmswitch.errors import ProviderError

    loopback.route("POST", COUNT_ANTHROPIC, Reply(body=b'{"input_tokens": 9}'), Reply(body=b"{}"))

    async def main() -> None:
        async with AsyncClient(env=ANTHROPIC.env(loopback)) as client:
            count = await client.count_tokens("anthropic/claude-sonnet-4-5", HI)
            assert (count, count.method) == (9, "provider")
            with pytest.raises(ProviderError, match="input_tokens"):
                await client.count_tokens("anthropic/claude-sonnet-4-5", HI)

    asyncio.run(main())


def test_gemini_count_is_labelled_as_the_providers(loopback: Loopback) -> None:
    from tests.support.fixtures import Fixtures

    path = "/v1beta/models/gemini-2.5-flash:countTokens"
    loopback.route("POST", path, Fixtures("gemini")("count_tokens.json"))
    with GEMINI.client(loopback) as client:
        count = client.count_tokens("gemini/gemini-2.5-flash", HI)
    assert (count, count.method, count.exact) == (31, "provider", True)


def test_providers_without_a_counter_get_a_labelled_estimate(loopback: Loopback) -> None:
    with OLLAMA.client(loopback) as client:
        for model in ("ollama/llama3.2", "fake/echo"):
            count = client.count_tokens(model, HI)
            assert (count, count.method, count.exact) == (HI_TOKENS, "estimate", False)
        with pytest.raises(TypeError, match="'temprature'"):
            client.count_tokens("ollama/llama3.2", HI, temprature=1)  # type: ignore[call-arg]
    assert loopback.requests == []


def test_estimate_cost_is_the_priced_range(loopback: Loopback) -> None:
    with OPENAI.client(loopback) as client:
        est = client.estimate_cost("openai/gpt-4o-mini", HI, max_tokens=100)
    # 12 input tokens x 150 nano-USD; + 100 output tokens x 600 nano-USD
    assert est == CostEstimate(
        input_tokens=12, input_exact=True, method="tokenizer", max_output_tokens=100,
        low_nano=1_800, high_nano=1_800 + 60_000,
    )  # fmt: skip
    assert (est.low_usd, est.high_usd) == (1.8e-06, 6.18e-05)
    assert loopback.requests == []


def test_estimate_cost_async_resolves_aliases(tmp_path: object, loopback: Loopback) -> None:
    config = write(tmp_path, '[aliases]\nfast = "openai/gpt-4o-mini"\n')  # type: ignore[arg-type]

    async def main() -> CostEstimate:
        async with AsyncClient(config=config, env=OPENAI.env(loopback)) as client:
            return await client.estimate_cost("fast", HI, max_tokens=10, system="Be terse.")

    est = asyncio.run(main())
    assert est.method == "tokenizer" and est.input_tokens > HI_TOKENS
    assert est.low_nano == est.input_tokens * 150
    assert est.high_nano == est.input_tokens * 150 + 10 * 600


def test_estimate_cost_exact_asks_the_provider_offline_estimates_otherwise(
    loopback: Loopback,
) -> None:
    loopback.route("POST", COUNT_ANTHROPIC, Reply(body=b'{"input_tokens": 14}'))
    model = "anthropic/claude-sonnet-4-5"
    with ANTHROPIC.client(loopback) as client:
        offline = client.estimate_cost(model, HI, max_tokens=200)
        assert loopback.requests == []
        exact = client.estimate_cost(model, HI, max_tokens=200, exact=True)
    assert (offline.method, offline.input_exact) == ("estimate", False)
    # Claude Sonnet 4.5: $3 / M input = 3,000 nano-USD a token, $15 / M output = 15,000
    assert exact == CostEstimate(
        input_tokens=14, input_exact=True, method="provider", max_output_tokens=200,
        low_nano=14 * 3_000, high_nano=14 * 3_000 + 200 * 15_000,
    )  # fmt: skip


def test_estimate_cost_of_an_unpriced_model_is_none(loopback: Loopback) -> None:
    with OLLAMA.client(loopback) as client:
        est = client.estimate_cost("ollama/llama3.2", HI)
    assert est.low_nano is None and est.high_nano is None and est.high_usd is None
    assert est.max_output_tokens == DEFAULT_MAX_OUTPUT_TOKENS
