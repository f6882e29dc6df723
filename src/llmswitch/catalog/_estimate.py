"""Offline cost estimates for a request before it is sent (budgets call this on the hot path).

:func:`estimate_request` counts the request's input tokens without any network call and
prices the range the call can cost: *low* is the input alone (the model answers with
nothing), *high* adds ``max_output`` output tokens at the output price. ``max_output`` is
the request's ``max_tokens``, else the model's maximum output from the catalog, else
:data:`DEFAULT_MAX_OUTPUT_TOKENS`.

Counting: the character-based estimate below (``method="estimate"``, not exact, on the
high side for prose and code). It is cheap enough for every call (a few microseconds);
the client's ``estimate_cost`` substitutes an exact count from a tokenizer or the
provider's count endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias

from .._frozen import fast_init
from ..messages import ChatRequest, ImagePart, Message, Usage

__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "CostEstimate",
    "CountMethod",
    "TokenCount",
    "estimate_text_tokens",
    "estimate_with",
]

CountMethod: TypeAlias = Literal["tokenizer", "estimate", "provider"]


class ModelSpecLike(Protocol):
    """What the estimate reads of a catalog entry."""

    @property
    def max_output_tokens(self) -> int | None: ...


class PriceFunction(Protocol):
    """``catalog.cost_nano``: integer nano-USD for ``usage``, ``None`` when unknown."""

    def __call__(
        self, provider: str, model: str, usage: Usage, *, at: datetime | None = None
    ) -> int | None: ...


#: Output tokens assumed for the high end when neither the request (``max_tokens``) nor
#: the catalog says how long the answer can be.
DEFAULT_MAX_OUTPUT_TOKENS = 4096

# ASCII characters per token of the estimate (see estimate_text_tokens).
_ASCII_PER_TOKEN = 3
# Framing tokens around each message (role, separators) and the reply's priming: the
# figures OpenAI documents for its chat format, close enough elsewhere for an estimate.
_TOKENS_PER_MESSAGE = 3
_REPLY_PRIMING = 3
# An image of unknown size: OpenAI's "high" detail base tile (85) + 4 tiles (4 * 170),
# about what a 1024x1024 image costs on Anthropic (~1,400) and Gemini (258 per tile) too.
_IMAGE_TOKENS = 765


class TokenCount(int):
    """A token count (an ``int``) that says how it was made: ``method`` is
    ``"tokenizer"`` (OpenAI's tokenizer, offline), ``"provider"`` (the provider's count
    endpoint) or ``"estimate"``; ``exact`` is True when the count is what the provider
    will bill, as far as its documentation tells."""

    method: CountMethod
    exact: bool

    def __new__(cls, value: int, *, method: CountMethod, exact: bool) -> TokenCount:
        self = super().__new__(cls, value)
        self.method = method
        self.exact = exact
        return self

    def __repr__(self) -> str:
        return f"TokenCount({int(self)}, method={self.method!r}, exact={self.exact})"

    def __str__(self) -> str:  # print(count) shows the number, as for an int
        return int.__repr__(self)

    def __reduce__(self) -> Any:
        return (_token_count, (int(self), self.method, self.exact))


def _token_count(value: int, method: CountMethod, exact: bool) -> TokenCount:
    return TokenCount(value, method=method, exact=exact)


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CostEstimate:
    """What a request will cost, before it is sent.

    ``input_tokens`` is exact when ``input_exact`` (``method`` ``"tokenizer"`` or
    ``"provider"``), else an estimate. ``low_nano``/``high_nano`` are integer nano-USD
    (1e-9 USD): the input alone, and the input plus ``max_output_tokens`` of output;
    ``None`` when the model's price is unknown (never 0 for unknown).
    """

    input_tokens: int
    input_exact: bool
    method: CountMethod
    max_output_tokens: int
    low_nano: int | None
    high_nano: int | None

    @property
    def low_usd(self) -> float | None:
        return None if self.low_nano is None else self.low_nano / 1e9

    @property
    def high_usd(self) -> float | None:
        return None if self.high_nano is None else self.high_nano / 1e9


def estimate_text_tokens(text: str) -> int:
    """Tokens of ``text`` by the character estimate: one token per 3 ASCII characters
    and one per 2 UTF-8 bytes past the first of each other character (so 1 per CJK
    character, 1/2 per Cyrillic or accented letter). Deliberately on the high side for
    prose and code (real tokenizers average 3.5-4.5 ASCII characters a token), so that a
    budget reserves enough; long digit runs are the usual undercount."""
    if not text:
        return 0
    if text.isascii():
        return (len(text) + _ASCII_PER_TOKEN - 1) // _ASCII_PER_TOKEN
    ascii_chars = len(text.encode("ascii", "ignore"))
    extra_bytes = len(text.encode("utf-8", "surrogatepass")) - len(text)
    return (ascii_chars + _ASCII_PER_TOKEN - 1) // _ASCII_PER_TOKEN + (extra_bytes + 1) // 2


def _message_tokens(message: Message) -> int:
    tokens = _TOKENS_PER_MESSAGE
    content = message.content
    if isinstance(content, str):
        tokens += estimate_text_tokens(content)
    elif content:
        for part in content:
            if isinstance(part, ImagePart):
                tokens += _IMAGE_TOKENS
            else:
                tokens += estimate_text_tokens(part.text)
    for call in message.tool_calls:
        # name + the JSON arguments as the model wrote them
        tokens += estimate_text_tokens(call.name) + estimate_text_tokens(repr(call.arguments))
    for block in message.reasoning:
        tokens += estimate_text_tokens(block.text)
    return tokens


def _request_tokens(request: ChatRequest) -> int:
    tokens = _REPLY_PRIMING
    if request.system:
        tokens += _TOKENS_PER_MESSAGE + estimate_text_tokens(request.system)
    for message in request.messages:
        tokens += _message_tokens(message)
    for tool in request.tools:
        tokens += (
            estimate_text_tokens(tool.name)
            + estimate_text_tokens(tool.description or "")
            + estimate_text_tokens(repr(tool.parameters))
        )
    return tokens


def estimate_with(
    lookup: Callable[[str, str], ModelSpecLike | None],
    cost_nano: PriceFunction,
    request: ChatRequest,
    *,
    at: datetime | None = None,
    input_tokens: int | None = None,
    method: CountMethod | None = None,
) -> CostEstimate:
    """``catalog.estimate_request`` over the catalog's ``lookup`` and ``cost_nano``
    (passed in: the catalog package imports this module, not the other way round).
    ``input_tokens`` may be a :class:`TokenCount`, whose method and exactness it keeps."""
    exact = method != "estimate"
    if input_tokens is None:
        input_tokens, method, exact = _request_tokens(request), "estimate", False
    elif isinstance(input_tokens, TokenCount):
        method, exact = input_tokens.method, input_tokens.exact
        input_tokens = int(input_tokens)
    elif method is None:
        method, exact = "tokenizer", True
    max_output = request.max_tokens
    if max_output is None:
        spec = lookup(request.provider, request.model)
        max_output = (spec.max_output_tokens if spec is not None else None) or (
            DEFAULT_MAX_OUTPUT_TOKENS
        )
    provider, model = request.provider, request.model
    low = cost_nano(provider, model, Usage(input_tokens=input_tokens, output_tokens=0), at=at)
    high = (
        None
        if low is None
        else cost_nano(
            provider, model, Usage(input_tokens=input_tokens, output_tokens=max_output), at=at
        )
    )
    return CostEstimate(
        input_tokens=input_tokens,
        input_exact=exact,
        method=method,
        max_output_tokens=max_output,
        low_nano=low,
        high_nano=high,
    )
