"""What the native fill-in-the-middle routes share. Each route, in its provider's
package, is sans-I/O: the request, the answer and the stream for a
:class:`~llmswitch.fim.CodeRequest`. An adapter returns one from ``fim_route``
(:class:`~llmswitch.providers.base.AdapterBase`); errors map with the adapter's own
``map_error``, so a failed completion is typed as a failed chat is.

- ``ollama._generate.OllamaGenerate``: Ollama's ``/api/generate`` with ``prompt`` and ``suffix``
  (the model's template places them); with an empty suffix ``raw: true``, so the
  prefix is continued as text rather than answered as a chat turn. NDJSON stream.
- ``openai._completions.TextCompletions``: OpenAI-style ``/completions`` with ``suffix``: vLLM,
  llama.cpp's server and other OpenAI-compatible servers at ``<base>/completions``,
  DeepSeek at ``https://api.deepseek.com/beta/completions``. ``choices[].text``;
  SSE stream ending in ``[DONE]``.
- ``mistral._fim.MistralFim``: Mistral's ``/v1/fim/completions`` (Codestral). Its answers are
  chat-completion shaped (``choices[].message.content``, ``delta.content``), so the
  OpenAI chat parsers read them.

An empty suffix is left out of every request: each route then continues the prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _json
from ..errors import ProviderError
from ..messages import ChatRequest
from ..wire import HttpRequest, HttpResponse
from ._common import merge_extra_body, request_headers
from .base import Endpoint

__all__ = ["code_parts", "load_object", "opt_text", "post", "sampling"]

_Malformed = Callable[[ChatRequest | None, str, bytes], ProviderError]


def code_parts(request: ChatRequest) -> tuple[str, str]:
    prefix = getattr(request, "prefix", None)
    if not isinstance(prefix, str):  # only CodeRequests reach a route
        raise TypeError("a fill-in-the-middle route needs a CodeRequest")
    return prefix, getattr(request, "suffix", "") or ""


def post(request: ChatRequest, endpoint: Endpoint, url: str, body: dict[str, Any],
          stream: bool) -> HttpRequest:  # fmt: skip
    headers = request_headers(endpoint, request.extra_headers)
    if stream:
        headers.setdefault("accept", "text/event-stream")
    if request.extra_body:
        body = merge_extra_body(body, request.extra_body)
    return HttpRequest(method="POST", url=url, headers=headers, body=_json.dumps(body))


def prompt_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The ``prompt``/``suffix`` body the Completions API and Codestral's FIM route
    share: model, prefix, the suffix unless empty, the sampling options, ``stream``."""
    prefix, suffix = code_parts(request)
    body: dict[str, Any] = {"model": request.model, "prompt": prefix}
    if suffix:
        body["suffix"] = suffix
    sampling(request, body)
    if stream:
        body["stream"] = True
    return body


def sampling(request: ChatRequest, body: dict[str, Any], *, max_key: str = "max_tokens") -> None:
    if request.max_tokens is not None:
        body[max_key] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = list(request.stop)


def load_object(
    request: ChatRequest, response: HttpResponse, malformed: _Malformed
) -> dict[str, Any]:
    try:
        data = _json.loads(response.body)
    except ValueError:
        raise malformed(request, "body is not valid JSON", response.body) from None
    if not isinstance(data, dict):
        raise malformed(request, "body is not a JSON object", response.body)
    return data


def opt_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
