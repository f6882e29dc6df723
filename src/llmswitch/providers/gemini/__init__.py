"""The Google Gemini API adapter (generativelanguage ``v1beta``, WIRE.md section 3).

Sans-I/O: :class:`GeminiAdapter` turns a :class:`~llmswitch.ChatRequest` into
``POST /v1beta/models/{model}:generateContent`` (or ``:streamGenerateContent?alt=sse``)
and Gemini's bytes back into llmswitch types. It also embeds (``batchEmbedContents``),
counts tokens (``countTokens``) and lists models. :func:`build_provider` wires it to an
endpoint from the environment: ``GEMINI_API_KEY`` (else ``GOOGLE_API_KEY``) sent as the
``x-goog-api-key`` header, never in the URL; ``GEMINI_BASE_URL`` without ``/v1beta``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...config import ProviderConfig
from ...errors import ConfigurationError
from ...messages import ChatRequest, EmbeddingResponse, EmbedRequest
from ...wire import HttpRequest, HttpResponse, Secret
from .._hints import expect_field, gemini_hint
from ..base import AdapterBase, ChatWire, Endpoint
from ..http import HttpProvider
from . import _errors, _request, _response
from ._request import SYNTHETIC_ID_PREFIX
from ._stream import GeminiStreamParser

__all__ = [
    "GEMINI_BASE_URL",
    "SYNTHETIC_ID_PREFIX",
    "GeminiAdapter",
    "GeminiStreamParser",
    "build_provider",
]

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


class GeminiAdapter(AdapterBase):
    """Stateless; one instance serves every request and thread."""

    __slots__ = ()

    wire = ChatWire(
        _request.build_request, _response.parse_response, GeminiStreamParser,
        _errors.map_error, _request.models_request, _response.parse_models,
    )  # fmt: skip

    # batchEmbedContents accepts at most 100 requests per call.
    embed_batch_size = 100

    def build_embed_request(self, request: EmbedRequest, endpoint: Endpoint) -> HttpRequest:
        return _request.embed_request(request, endpoint)

    def parse_embed_response(
        self, request: EmbedRequest, response: HttpResponse
    ) -> EmbeddingResponse:
        return _response.parse_embed_response(request, response)

    def count_tokens_request(self, request: ChatRequest, endpoint: Endpoint) -> HttpRequest:
        return _request.count_tokens_request(request, endpoint)

    def parse_count_tokens(self, response: HttpResponse) -> int:
        return _response.parse_count_tokens(response)

    def health_request(self, endpoint: Endpoint) -> HttpRequest:
        return _request.health_request(endpoint)  # the API reports no server version

    def check_health(self, response: HttpResponse) -> None:
        """The one-model page must be a models list (``{"models": [...]}``)."""
        expect_field(response, "models", list, "a Gemini models list")

    def base_url_hint(self, endpoint: Endpoint, status: int | None, body: bytes) -> str | None:
        return gemini_hint(endpoint.provider, endpoint.base_url, status, body)


def _base_url(pc: ProviderConfig | None, env: Mapping[str, str]) -> str:
    base = (pc.base_url if pc else None) or env.get("GEMINI_BASE_URL") or GEMINI_BASE_URL
    base = base.rstrip("/")
    # The contract says "without /v1beta"; tolerate it rather than request /v1beta/v1beta.
    return base.removesuffix("/v1beta")


def build_provider(pid: str, pc: ProviderConfig | None, env: Mapping[str, str]) -> HttpProvider:
    """The Gemini provider ``pid`` from ``llmswitch.toml`` overrides (``pc``) and ``env``."""
    key: Secret | None = pc.api_key if pc is not None and pc.api_key else None
    if key is None:
        value = next((env[name] for name in KEY_VARIABLES if env.get(name)), None)
        key = Secret(value) if value else None
    if key is None:
        raise ConfigurationError(
            f"provider {pid!r} is not configured: set GEMINI_API_KEY (or GOOGLE_API_KEY, "
            "or api_key in llmswitch.toml)",
            provider=pid,
        )
    endpoint = Endpoint(
        provider=pid,
        base_url=_base_url(pc, env),
        api_key=key,
        auth_header="x-goog-api-key",
        auth_scheme=None,
        headers=dict(pc.headers) if pc is not None else {},
    )
    return HttpProvider(pid, GeminiAdapter(), endpoint)
