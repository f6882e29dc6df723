"""Guards every parser shares against provider data of the wrong shape or format.

Parsers read provider JSON with plain lookups (``obj["delta"]["text"]``): that is the
fast path, and a wrong shape raises one of :data:`SHAPE_ERRORS`, which each parser entry
point (``parse_response``, ``feed``/``close``, ``parse_models`` ...) turns into a
``ProviderError`` naming the problem and keeping the offending bytes. Where a wrong type
would *not* raise but give a wrong result (a number as text, a list as a block index, a
number as the model), the parser checks it with :func:`text`, :func:`index` or
:func:`opt_str`, which raise ``TypeError`` for the same handler.

A stream parser also keeps the first bytes it was given until it recognises an event of
its format, so that a 200 answering with an HTML page, a JSON document or nothing at all
fails with those bytes instead of ending as an empty stream (:func:`unrecognised`).

Tool-call arguments sent as a JSON string are read with :func:`parse_arguments`: what is
not a JSON object is kept, unparsed, under :data:`RAW_ARGUMENTS_KEY`. A body that is not
JSON at all fails in :func:`load_json` with the adapter's malformed-response error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._json import loads
from ..errors import ProviderError
from ..messages import ChatRequest, EmbeddingResponse, EmbedRequest, Usage

__all__ = [
    "HEAD_LIMIT",
    "RAW_ARGUMENTS_KEY",
    "SHAPE_ERRORS",
    "embed_usage",
    "embedding_response",
    "index",
    "keep_head",
    "load_json",
    "opt_str",
    "parse_arguments",
    "shape_problem",
    "stream_head_error",
    "text",
    "unrecognised",
]

# What plain lookups on JSON of an unexpected shape raise (ValueError: int() of a string,
# base64 and float conversions).
SHAPE_ERRORS = (KeyError, TypeError, AttributeError, IndexError, ValueError)

# Bytes of a stream kept until its format is recognised: enough to map a JSON error
# document sent with a 200, and to show what came instead (errors keep 2000 characters).
HEAD_LIMIT = 8192


# Tool-call arguments that are not a JSON object (the model produced broken JSON, or
# a stream was cut off mid-call) are kept, unparsed, under this single key: the call
# is not lost, ``tool(**arguments)`` fails loudly instead of running with nothing, and
# sending the call back in the history replays the exact original string.
RAW_ARGUMENTS_KEY = "_raw_arguments"


def parse_arguments(raw: str) -> dict[str, Any]:
    """A tool call's arguments string -> the arguments (``{}`` for an empty string, which
    some servers send for a call without parameters)."""
    if not raw or raw.isspace():
        return {}
    try:
        value = loads(raw)
    except ValueError:
        return {RAW_ARGUMENTS_KEY: raw}
    return value if isinstance(value, dict) else {RAW_ARGUMENTS_KEY: raw}


def load_json(
    body: bytes,
    malformed: Callable[[ChatRequest | None, str, bytes], ProviderError],
    request: ChatRequest | None,
    what: str,
) -> Any:
    """``body`` decoded, or the adapter's ``malformed(request, what, body)`` raised."""
    try:
        return loads(body)
    except ValueError:
        raise malformed(request, what, body) from None


def embedding_response(
    request: EmbedRequest,
    vectors: list[list[float]],
    raw: Any,
    tokens: int | None,
    *,
    total: int | None = None,
    model: str | None = None,
) -> EmbeddingResponse:
    """The answer to an embeddings call: the model the server names, else the one asked
    for; usage as :func:`embed_usage`."""
    return EmbeddingResponse(
        vectors=vectors,
        usage=embed_usage(tokens, total),
        model=model or request.model,
        provider=request.provider,
        raw=raw,
    )


def embed_usage(tokens: int | None, total: int | None = None) -> Usage:
    """Usage of an embeddings call: no output, so 0 (not unknown) once the input count is
    known, which lets a cost be computed; the total is the input unless given."""
    return Usage(
        input_tokens=tokens,
        output_tokens=0 if tokens is not None else None,
        total_tokens=total if total is not None else tokens,
    )


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def shape_problem(exc: BaseException) -> str:
    """The ``what`` of a malformed-response error raised for ``exc``."""
    detail = str(exc)[:120]
    return f"unexpected data shape ({type(exc).__name__}: {detail})"


def text(value: Any) -> str:
    """A JSON string, else ``TypeError`` (never ``str()`` of a number)."""
    if type(value) is str:
        return value
    raise TypeError(f"expected a string, got {_kind(value)}")


def opt_str(value: Any) -> str | None:
    """A JSON string or null, else ``TypeError``."""
    if value is None or type(value) is str:
        return value
    raise TypeError(f"expected a string or null, got {_kind(value)}")


def index(value: Any) -> int:
    """A block/call index: a JSON integer (not a boolean), else ``TypeError``."""
    if type(value) is int:
        return value
    raise TypeError(f"expected an integer index, got {_kind(value)}")


def keep_head(head: bytes | None, data: bytes) -> bytes | None:
    """``head`` plus as much of ``data`` as fits in :data:`HEAD_LIMIT`."""
    if head is None or len(head) >= HEAD_LIMIT:
        return head
    return head + data[: HEAD_LIMIT - len(head)]


def unrecognised(head: bytes, expected: str) -> str:
    """The ``what`` of the error for a stream in which no event of ``expected`` came."""
    stripped = head.lstrip()
    if not stripped:
        got = "an empty body"
    elif stripped[:1] in (b"{", b"["):
        got = "a JSON document"
    elif stripped.startswith((b"data:", b"event:", b":")):
        got = "an SSE stream without one"
    elif stripped[:1] == b"<":
        got = "an HTML page" if b"html" in stripped[:1024].lower() else "a markup document"
    else:
        got = "bytes of another format"
    return f"expected {expected}, got {got}"


def stream_head_error(
    head: bytes,
    expected: str,
    malformed: Callable[[ChatRequest | None, str, bytes], ProviderError],
    request: ChatRequest | None,
    error_of: Callable[[Any], ProviderError | None] | None = None,
) -> ProviderError:
    """The error of a stream in which no event of ``expected`` came (a cold path, once
    per stream): a JSON error document sent with the 200 maps as the error it is
    (``error_of(doc)``, ``None`` when ``doc`` is not one); anything else is malformed,
    its first bytes kept."""
    if error_of is not None:
        try:
            doc = loads(head)
        except ValueError:
            doc = None
        exc = error_of(doc)
        if exc is not None:
            return exc
    return malformed(request, unrecognised(head, expected), head[:500])
