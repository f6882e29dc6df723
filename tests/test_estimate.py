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


def test_english_estimate_is_near_the_real_count() -> None:
    # "Name three prime numbers." is 5 tokens on o200k; + 3 per message + 3 reply priming = 11.
    est = estimate_request(_request())
    assert 8 <= est.input_tokens <= 14
