"""The Ollama native API adapter (mappings: docs/providers.md): ``/api/chat`` with NDJSON
streaming, ``/api/embed``, model discovery (``/api/tags`` + ``/api/show``), the
``/api/version`` probe, and model downloads (``/api/pull``).

Ollama's OpenAI-compatible ``/v1`` is served by the OpenAI adapter instead (an
``openai-compatible`` provider); this one speaks the native API, which has thinking,
runtime options (``num_ctx``...), ``keep_alive``, discovery and pulls.

Known differences, decided here:

- ``tool_choice``: Ollama has none. ``"none"`` sends no tools; ``"required"`` or a
  named tool raise :class:`~llmswitch.ConfigurationError` (they cannot be honoured).
- Images must be bytes: ``data:`` URLs are sent as raw base64; http(s) URLs raise
  ``ConfigurationError`` naming the field.
- Tool calls without an id (servers before call ids) get a fresh random one.
- ``extra_body={"options": {...}}`` is merged into Ollama's ``options`` (``num_ctx``,
  ``top_k``, ``seed``...); other ``extra_body`` keys (``keep_alive``, ``truncate``...)
  go to the top level.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from ... import _json
from ...errors import ConfigurationError
from ...messages import EmbeddingResponse, EmbedRequest, ModelInfo
from ...wire import HttpRequest, HttpResponse
from .._hints import expect_field, ollama_hint
from ..base import AdapterBase, ChatWire, Endpoint, FimRoute
from . import _errors, _request, _response
from ._generate import OllamaGenerate
from ._pull import PULL_TIMEOUT, PullParser, PullProgress, apull_model, pull_model
from ._stream import OllamaStreamParser

__all__ = [
    "DEFAULT_HOST",
    "PULL_TIMEOUT",
    "OllamaAdapter",
    "OllamaStreamParser",
    "PullParser",
    "PullProgress",
    "apull_model",
    "parse_host",
    "pull_model",
]

DEFAULT_HOST = "http://127.0.0.1:11434"
EMBED_BATCH_SIZE = 512


def _models_request(endpoint: Endpoint, cursor: str | None = None) -> HttpRequest:
    if cursor is None:
        return _request.get_request(endpoint, "/api/tags")
    return _request.show_request(endpoint, _pending(cursor)[0])


def _parse_models(endpoint: Endpoint, response: HttpResponse) -> tuple[list[ModelInfo], None]:
    """The installed models from ``/api/tags`` alone (names only, one request)."""
    names = [_name(m) for m in _response.parse_tags(response)]
    return [ModelInfo(id=n, provider=endpoint.provider) for n in names], None


class OllamaAdapter(AdapterBase):
    """Stateless; one instance serves every request and thread.

    Model listing takes N+1 requests: ``GET /api/tags``, then ``POST /api/show`` per
    model (context length and capabilities are only there). The paging cursor drives
    it: after the tags page it is the JSON list of the names still to show, and
    :meth:`models_request` shows the first of them. :meth:`parse_models_page` is given
    the cursor its page was requested with, as a show answer does not name its model;
    :meth:`parse_models` reads the tags page alone.
    """

    __slots__ = ()

    wire = ChatWire(
        _request.build_request, _response.parse_response, OllamaStreamParser,
        _errors.map_error, _models_request, _parse_models,
    )  # fmt: skip

    embed_batch_size = EMBED_BATCH_SIZE

    def fim_route(self, endpoint: Endpoint, model: str) -> FimRoute | None:
        """``/api/generate`` with ``suffix``, for every model (one without
        fill-in-the-middle support answers 400 "does not support insert")."""
        return OllamaGenerate()

    def parse_models_page(
        self, endpoint: Endpoint, response: HttpResponse, cursor: str | None
    ) -> tuple[list[ModelInfo], str | None]:
        """One page of the full listing: the tags page (no models yet, the cursor lists
        them all) or one model's ``/api/show`` answer."""
        if cursor is None:
            names = [_name(m) for m in _response.parse_tags(response)]
            return [], _json.dumps_str(names) if names else None
        name, *rest = _pending(cursor)
        info = _response.parse_show(endpoint, name, response)
        return [info], _json.dumps_str(rest) if rest else None

    def build_embed_request(self, request: EmbedRequest, endpoint: Endpoint) -> HttpRequest:
        return _request.build_embed_request(request, endpoint)

    def parse_embed_response(
        self, request: EmbedRequest, response: HttpResponse
    ) -> EmbeddingResponse:
        return _response.parse_embed_response(request, response)

    def health_request(self, endpoint: Endpoint) -> HttpRequest:
        return _request.get_request(endpoint, "/api/version")

    def check_health(self, response: HttpResponse) -> None:
        """``/api/version`` must answer ``{"version": "0.12.6"}``."""
        expect_field(response, "version", str, "an Ollama /api/version answer")

    def parse_health(self, response: HttpResponse) -> str | None:
        return _response.parse_health(response)

    def base_url_hint(self, endpoint: Endpoint, status: int | None, body: bytes) -> str | None:
        return ollama_hint(endpoint.provider, endpoint.base_url, status, body)


def _name(entry: Mapping[str, object]) -> str:
    # parse_tags keeps only entries where one of the two is a non-empty string
    name = entry.get("name")
    return name if isinstance(name, str) and name else str(entry.get("model"))


def _pending(cursor: str) -> list[str]:
    names = _json.loads(cursor)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"not an Ollama model-listing cursor: {cursor[:80]!r}")
    return names


def parse_host(host: str | None) -> str:
    """``OLLAMA_HOST`` as the official client reads it: ``host``, ``host:port``,
    ``:port`` or a full URL (optionally with a path) -> ``scheme://host:port[/path]``.
    No scheme means http and port 11434; http/https without a port mean 80/443."""
    host, port = (host or "").strip(), 11434
    scheme, sep, hostport = host.partition("://")
    if not sep:
        scheme, hostport = "http", host
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    try:
        split = urlsplit(f"{scheme}://{hostport}")
        name = split.hostname or "127.0.0.1"
        port = split.port or port
    except ValueError:  # a port that is not a number, a broken IPv6 literal
        raise ConfigurationError(
            f"OLLAMA_HOST {host!r} is not a host, host:port or URL", field="OLLAMA_HOST"
        ) from None
    try:
        if isinstance(ipaddress.ip_address(name), ipaddress.IPv6Address):
            name = f"[{name}]"
    except ValueError:
        pass
    path = split.path.strip("/")
    return f"{scheme}://{name}:{port}/{path}" if path else f"{scheme}://{name}:{port}"
