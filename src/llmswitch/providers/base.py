"""What every wire-format adapter provides, and the plain HTTP values it trades in.

Adapters are sans-I/O: they turn a :class:`ChatRequest` into an :class:`HttpRequest`,
and response bytes into a :class:`ChatResponse` or stream events. They never touch a
socket, so the same adapter serves the async and sync clients and tests feed it bytes.

The endpoint (base URL, auth headers, query parameters) is separate from the wire
format: Azure, Ollama's ``/v1``, vLLM and llama.cpp are the OpenAI adapter with
another :class:`Endpoint`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from ..errors import ProviderError
from ..events import Event
from ..messages import ChatRequest, ChatResponse, EmbeddingResponse, EmbedRequest, ModelInfo

__all__ = [
    "Adapter",
    "AzureEndpoint",
    "EmbeddingAdapter",
    "Endpoint",
    "HealthAdapter",
    "HttpRequest",
    "HttpResponse",
    "Secret",
    "StreamParser",
]


class Secret:
    """An API key or token that never shows up in a repr, str or log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(slots=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None

    def __repr__(self) -> str:  # headers hold credentials
        return f"HttpRequest({self.method} {self.url})"


@dataclass(slots=True)
class HttpResponse:
    """A complete response. ``headers`` is case-insensitive when it comes from a
    transport; adapters look headers up by their lower-case names."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """Where a provider lives and how to authenticate to it.

    ``auth_header``/``auth_scheme`` say how the key is sent: ``Authorization: Bearer
    <key>`` for OpenAI-style servers, ``x-api-key: <key>`` (no scheme) for Anthropic.
    """

    provider: str
    base_url: str
    api_key: Secret | None = None
    auth_header: str = "authorization"
    auth_scheme: str | None = "Bearer"
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)

    def url(self, path: str, model: str | None = None) -> str:
        """URL of ``path`` (``/chat/completions``) under the base URL."""
        url = self.base_url.rstrip("/") + path
        if self.params:
            url += ("&" if "?" in url else "?") + "&".join(
                f"{k}={quote(v, safe='')}" for k, v in self.params.items()
            )
        return url

    def request_headers(self) -> dict[str, str]:
        """Static headers plus auth, fresh for every request (tokens may rotate)."""
        headers = {"content-type": "application/json", **self.headers}
        if self.api_key:
            key = self.api_key.get()
            headers[self.auth_header] = f"{self.auth_scheme} {key}" if self.auth_scheme else key
        return headers

    def secrets(self) -> tuple[str, ...]:
        return (self.api_key.get(),) if self.api_key else ()

    def prepare(self, request: HttpRequest) -> HttpRequest:
        """Last step before sending, once per attempt: request signing (Bedrock SigV4)
        needs the final URL, body and a fresh timestamp. Default: unchanged."""
        return request


@dataclass(frozen=True, slots=True, kw_only=True)
class AzureEndpoint(Endpoint):
    """Azure OpenAI: deployment URLs with ``api-version`` (classic) or the ``/openai/v1``
    surface; ``api-key`` header, or an Entra ID bearer token from ``token_provider``."""

    api_version: str | None = None
    token_provider: Callable[[], str] | None = None
    auth_header: str = "api-key"
    auth_scheme: str | None = None

    @property
    def is_v1(self) -> bool:
        return self.base_url.rstrip("/").endswith("/openai/v1")

    def url(self, path: str, model: str | None = None) -> str:
        base = self.base_url.rstrip("/")
        if self.is_v1:
            return base + path
        if base.endswith("/openai"):
            base = base[: -len("/openai")]
        if model is not None and path != "/models":
            url = f"{base}/openai/deployments/{quote(model, safe='')}{path}"
        else:
            url = f"{base}/openai{path}"
        return f"{url}?api-version={quote(self.api_version or '', safe='')}"

    def request_headers(self) -> dict[str, str]:
        if self.token_provider is not None:
            return {
                "content-type": "application/json",
                **self.headers,
                "authorization": f"Bearer {self.token_provider()}",
            }
        return Endpoint.request_headers(self)


class StreamParser(Protocol):
    """Incremental stream parser: bytes in, typed events out.

    ``feed`` takes whatever the socket delivered (lines and UTF-8 characters may be
    split anywhere) and returns the events it completed. ``close`` is called at end
    of input and returns the remaining events; it emits a ``StreamEnd`` with
    ``finish_reason="error"`` if the provider never signalled the end. Error events
    in the stream raise a :class:`ProviderError`.
    """

    def feed(self, data: bytes) -> list[Event]: ...

    def close(self) -> list[Event]: ...


class Adapter(Protocol):
    """One wire format. Pure functions of their inputs; safe to share."""

    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest: ...

    def parse_response(self, request: ChatRequest, response: HttpResponse) -> ChatResponse: ...

    def stream_parser(self, request: ChatRequest) -> StreamParser: ...

    def map_error(self, request: ChatRequest | None, response: HttpResponse) -> ProviderError:
        """Typed error for a non-2xx response (status, structured code, retry headers)."""
        ...

    def models_request(self, endpoint: Endpoint, cursor: str | None = None) -> HttpRequest: ...

    def parse_models(
        self, endpoint: Endpoint, response: HttpResponse
    ) -> tuple[list[ModelInfo], str | None]:
        """Models on this page and the cursor of the next page (``None`` when done)."""
        ...


class EmbeddingAdapter(Protocol):
    """A wire format that also embeds. ``embed_batch_size`` is the provider's limit of
    inputs per request; the provider layer splits larger inputs and reassembles them."""

    embed_batch_size: int

    def build_embed_request(self, request: EmbedRequest, endpoint: Endpoint) -> HttpRequest: ...

    def parse_embed_response(
        self, request: EmbedRequest, response: HttpResponse
    ) -> EmbeddingResponse: ...


class HealthAdapter(Protocol):
    """A wire format with a cheaper or more telling probe than listing models
    (Ollama's ``/api/version``). Others are probed with ``models_request``."""

    def health_request(self, endpoint: Endpoint) -> HttpRequest: ...

    def parse_health(self, response: HttpResponse) -> str | None:
        """The server version, if the probe reports one."""
        ...
