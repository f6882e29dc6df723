"""What every wire-format adapter provides, and the plain HTTP values it trades in.

Adapters are sans-I/O: they turn a :class:`ChatRequest` into an :class:`HttpRequest`,
and response bytes into a :class:`ChatResponse` or stream events. They never touch a
socket, so the same adapter serves the async and sync clients and tests feed it bytes.

The endpoint (base URL, auth headers, query parameters) is separate from the wire
format: Azure, Ollama's ``/v1``, vLLM and llama.cpp are the OpenAI adapter with
another :class:`Endpoint`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .._version import __version__
from ..errors import ConfigurationError, ProviderError
from ..events import Event
from ..messages import ChatRequest, ChatResponse, EmbeddingResponse, EmbedRequest, ModelInfo
from ..wire import HttpRequest, HttpResponse, Secret

__all__ = [
    "AdapterBase",
    "AzureEndpoint",
    "ChatWire",
    "Endpoint",
    "FimRoute",
    "StreamParser",
]


# Header and query parameter names whose values are credentials.
_CREDENTIAL_NAME = re.compile(
    r"authorization|cookie|key|token|secret|auth|password|passwd|credential|signature|session",
    re.IGNORECASE,
)
_MAX_TOKENS_KEPT = 8  # token-provider results remembered for scrubbing (tokens rotate)


class _Masked(dict[str, str]):
    """Headers or query parameters: a plain dict whose repr shows names, not values."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(dict.fromkeys(self, "***"))

    __str__ = __repr__


# What every request says it is (the official SDKs send theirs; a caller's own
# User-Agent, in extra_headers or a provider's configured headers, replaces it).
USER_AGENT = f"llmswitch/{__version__}"


def _static_headers(configured: Mapping[str, str]) -> dict[str, str]:
    """The headers every request of an endpoint starts from: ours under the configured
    ones, names compared case-insensitively (a configured ``User-Agent`` or
    ``Content-Type`` replaces ours instead of being sent beside it)."""
    own = {"content-type": "application/json", "user-agent": USER_AGENT}
    given = {name.lower() for name in configured}
    return {**{k: v for k, v in own.items() if k not in given}, **configured}


def _credentials(values: Mapping[str, str]) -> list[str]:
    """The values of credential-named entries, and the token after a scheme
    (``Bearer <token>``) on its own, since a server may echo either."""
    out: list[str] = []
    for name, value in values.items():
        if value and _CREDENTIAL_NAME.search(name):
            out.append(value)
            scheme, _, token = value.partition(" ")
            if token and scheme.isalpha():
                out.append(token.strip())
    return out


class _MaskedURL(str):
    """A base URL that carries a credential: the URL itself, but its repr masks it."""

    __slots__ = ()

    def __repr__(self) -> str:
        masked = str(self)
        for secret in sorted(_url_secrets(masked), key=len, reverse=True):
            masked = masked.replace(secret, "***")
        return repr(masked)


def _url_secrets(url: str) -> list[str]:
    """A password in the URL's userinfo and credential-named query values."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        password = parts.password
    except ValueError:
        return []
    out = _credentials(dict(query))
    out.extend(quote(v, safe="") for v in list(out))  # as sent, percent-encoded
    if password:
        out.append(password)
    return out


# Where each built-in provider's base URL comes from, for error messages.
_BASE_URL_VARIABLES = {
    "openai": "OPENAI_BASE_URL",
    "azure": "AZURE_OPENAI_ENDPOINT",
    "anthropic": "ANTHROPIC_BASE_URL",
    "gemini": "GEMINI_BASE_URL",
    "ollama": "OLLAMA_HOST",
    "bedrock": "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "mistral": "MISTRAL_BASE_URL",
    "deepseek": "DEEPSEEK_BASE_URL",
}


def _basic_passwords(headers: Mapping[str, str]) -> list[str]:
    """The password inside ``Authorization: Basic`` (from a base URL's userinfo), which
    a server may quote back in plain text."""
    out = []
    for name, value in headers.items():
        if name.lower() == "authorization" and value.startswith("Basic "):
            try:
                pair = base64.b64decode(value[6:], validate=True).decode()
            except ValueError:
                continue
            out.append(pair.partition(":")[2])
    return out


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
    # _static_headers(headers), made once: the start of every request's headers.
    _static: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    # path -> url(path): the same few paths on every call.
    _urls: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    # request_headers() made once, when the key is a plain Secret (fixed) or there is
    # none; None when it must be read per request (a vault's StoredKey).
    _ready: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("https://", "http://")):
            self._bad_scheme()
        if "@" in self.base_url:
            self._userinfo_to_header()
        # Configured headers and query parameters may carry credentials: their values
        # never show in a repr (names do, to tell what is set).
        object.__setattr__(self, "headers", _Masked(self.headers))
        object.__setattr__(self, "params", _Masked(self.params))
        # Masked too: it holds the configured values (copies of it are plain dicts).
        object.__setattr__(self, "_static", _Masked(_static_headers(self.headers)))
        if self.api_key is None or type(self.api_key) is Secret:
            object.__setattr__(self, "_ready", _Masked(self._with_key()))
        if ("@" in self.base_url or "?" in self.base_url) and _url_secrets(self.base_url):
            object.__setattr__(self, "base_url", _MaskedURL(self.base_url))

    def _bad_scheme(self) -> None:
        """``127.0.0.1:8000/v1`` or ``ftp://...`` would fail later as an obscure transport
        error (and differently on each client): name the setting to fix now."""
        from ._hints import setting

        variable = _BASE_URL_VARIABLES.get(self.provider, "base_url")
        shown = urlsplit(self.base_url)._replace(query="").geturl().rpartition("@")[2]
        raise ConfigurationError(
            f"the base URL {shown!r} of provider {self.provider!r} must start with "
            f"http:// or https:// (set {setting(self.provider, variable)})",
            field="base_url",
            provider=self.provider,
        )

    def _userinfo_to_header(self) -> None:
        """``https://user:pass@host/...`` (a server behind basic auth) becomes an
        ``Authorization: Basic`` header and a URL without credentials, the same on both
        clients (aiohttp refuses URL credentials beside an Authorization header, urllib3
        ignores them). When the key itself goes in ``Authorization`` the two cannot
        both be sent: a ConfigurationError says so."""
        parts = urlsplit(self.base_url)
        if parts.username is None:
            return
        host = parts.netloc.rpartition("@")[2]
        object.__setattr__(self, "base_url", parts._replace(netloc=host).geturl())
        if self.api_key is not None and self.auth_header.lower() == "authorization":
            raise ConfigurationError(
                f"the base URL of provider {self.provider!r} carries user:password@, but its "
                "API key is sent in the Authorization header: remove the credentials from "
                "the URL (or put them in [providers.x] headers)",
                field="base_url",
                provider=self.provider,
            )
        if not any(k.lower() == "authorization" for k in self.headers):
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            basic = "Basic " + base64.b64encode(pair.encode()).decode()
            object.__setattr__(self, "headers", {**self.headers, "authorization": basic})

    def url(self, path: str, model: str | None = None) -> str:
        """URL of ``path`` (``/chat/completions``) under the base URL."""
        url = self._urls.get(path)
        if url is None:
            url = self.base_url.rstrip("/") + path
            if self.params:
                url += ("&" if "?" in url else "?") + "&".join(
                    f"{k}={quote(v, safe='')}" for k, v in self.params.items()
                )
            if len(self._urls) >= 64:  # paths name models and pages: stay bounded
                self._urls.clear()
            self._urls[path] = url
        return url

    def request_headers(self) -> dict[str, str]:
        """Static headers plus auth, a new dict for every request (a caller's extra
        headers go into it; a vault's key is read each time)."""
        ready = self._ready
        return ready.copy() if ready is not None else self._with_key()

    def _with_key(self) -> dict[str, str]:
        headers = self._static.copy()
        secret = self.api_key
        if secret is not None and (key := secret.get()):  # an empty key sends nothing
            headers[self.auth_header] = f"{self.auth_scheme} {key}" if self.auth_scheme else key
        return headers

    def secrets(self) -> tuple[str, ...]:
        """Every credential this endpoint knows of, for scrubbing error text: the key,
        credential-named header and query values, a password or key in the base URL."""
        out = [self.api_key.get()] if self.api_key else []
        out += _credentials(self.headers)
        params = _credentials(self.params)
        out += params + [quote(v, safe="") for v in params]
        out += _url_secrets(self.base_url)
        out += _basic_passwords(self.headers)
        return tuple(dict.fromkeys(v for v in out if v))

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
    # The latest tokens ``token_provider`` gave, so errors can be scrubbed of them.
    _tokens: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

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
            token = self.token_provider()
            tokens = self._tokens
            if token not in tokens:
                tokens.append(token)
                del tokens[:-_MAX_TOKENS_KEPT]
            return {**self._static, "authorization": f"Bearer {token}"}
        return Endpoint.request_headers(self)

    def secrets(self) -> tuple[str, ...]:
        return Endpoint.secrets(self) + tuple(t for t in self._tokens if t)


class StreamParser(Protocol):
    """Incremental stream parser: bytes in, typed events out.

    ``feed`` takes whatever the socket delivered (lines and UTF-8 characters may be
    split anywhere) and returns the events it completed. ``close`` is called at end
    of input and returns the remaining events; it emits a ``StreamEnd`` with
    ``finish_reason="error"`` if the provider never signalled the end. Error events
    in the stream raise a :class:`ProviderError`. A parser may also offer
    ``usage_seen() -> Usage | None``, the usage received so far: a stream that fails
    midway carries it on the error (``LLMError.stream_usage``).
    """

    def feed(self, data: bytes) -> list[Event]: ...

    def close(self) -> list[Event]: ...


class FimRoute(Protocol):
    """A provider's native fill-in-the-middle route (:mod:`llmswitch.providers._fim`):
    the chat core's three functions for a :class:`~llmswitch.fim.CodeRequest`; errors
    map with the adapter's :meth:`AdapterBase.map_error`."""

    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest: ...

    def parse_response(self, request: ChatRequest, response: HttpResponse) -> ChatResponse: ...

    def stream_parser(self, request: ChatRequest) -> StreamParser: ...


class _BuildRequest(Protocol):
    def __call__(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest: ...


_ModelsPage = tuple[list[ModelInfo], str | None]


class _RequestFunctions(Protocol):  # a provider package's _request module
    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest: ...

    def models_request(self, endpoint: Endpoint, cursor: str | None = None) -> HttpRequest: ...


class _ResponseFunctions(Protocol):  # its _response module
    def parse_response(self, request: ChatRequest, response: HttpResponse) -> ChatResponse: ...

    def parse_models(self, endpoint: Endpoint, response: HttpResponse) -> _ModelsPage: ...


class _ErrorFunctions(Protocol):  # its _errors module
    def map_error(self, request: ChatRequest | None, response: HttpResponse) -> ProviderError: ...


@dataclass(frozen=True, slots=True)
class ChatWire:
    """The functions an adapter's chat and model listing are made of: most wire
    formats have them as module functions (``_request.build_request``,
    ``_response.parse_response``, ``_errors.map_error``...), which an adapter names here
    instead of forwarding to each by hand."""

    build_request: _BuildRequest
    parse_response: Callable[[ChatRequest, HttpResponse], ChatResponse]
    stream_parser: Callable[[ChatRequest], StreamParser]
    map_error: Callable[[ChatRequest | None, HttpResponse], ProviderError]
    models_request: Callable[[Endpoint, str | None], HttpRequest]
    parse_models: Callable[[Endpoint, HttpResponse], _ModelsPage]

    @classmethod
    def of(
        cls,
        requests: _RequestFunctions,
        responses: _ResponseFunctions,
        errors: _ErrorFunctions,
        parser: Callable[[ChatRequest], StreamParser],
    ) -> ChatWire:
        """The wire of a package laid out the usual way: ``_request`` builds the chat
        and model-list requests, ``_response`` parses them, ``_errors`` maps errors."""
        return cls(
            requests.build_request,
            responses.parse_response,
            parser,
            errors.map_error,
            requests.models_request,
            responses.parse_models,
        )


class AdapterBase:
    """One wire format: pure functions of their inputs, safe to share.

    The chat core (:meth:`build_request`, :meth:`parse_response`,
    :meth:`stream_parser`, :meth:`map_error`, :meth:`models_request`,
    :meth:`parse_models`) comes from the class's :class:`ChatWire`, or an adapter
    overrides those methods. Everything else has a default here, for the provider
    layer to call without asking what the adapter has: overriding one is how an
    adapter says it has that feature.
    """

    __slots__ = ()

    wire: ClassVar[ChatWire]

    embed_batch_size: int = 0
    """Inputs per embeddings request; 0: the wire format has no embeddings."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # ---- chat and model listing

    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest:
        return self.wire.build_request(request, endpoint, stream=stream)

    def parse_response(self, request: ChatRequest, response: HttpResponse) -> ChatResponse:
        return self.wire.parse_response(request, response)

    def chat_functions(
        self,
    ) -> tuple[_BuildRequest, Callable[[ChatRequest, HttpResponse], ChatResponse]]:
        """``(build_request, parse_response)`` as a provider calls them on every chat:
        the wire's own functions, without a method in between (an adapter that
        overrides either gives its bound methods, or functions of its own)."""
        kind = type(self)
        build: _BuildRequest = self.build_request
        parse: Callable[[ChatRequest, HttpResponse], ChatResponse] = self.parse_response
        wire = getattr(kind, "wire", None)
        if wire is not None and kind.build_request is AdapterBase.build_request:
            build = wire.build_request
        if wire is not None and kind.parse_response is AdapterBase.parse_response:
            parse = wire.parse_response
        return build, parse

    def stream_parser(self, request: ChatRequest) -> StreamParser:
        return self.wire.stream_parser(request)

    def map_error(self, request: ChatRequest | None, response: HttpResponse) -> ProviderError:
        """Typed error for a non-2xx response (status, structured code, retry headers)."""
        return self.wire.map_error(request, response)

    def models_request(self, endpoint: Endpoint, cursor: str | None = None) -> HttpRequest:
        return self.wire.models_request(endpoint, cursor)

    def parse_models(self, endpoint: Endpoint, response: HttpResponse) -> _ModelsPage:
        """Models on this page and the cursor of the next page (``None`` when done)."""
        return self.wire.parse_models(endpoint, response)

    def parse_models_page(
        self, endpoint: Endpoint, response: HttpResponse, cursor: str | None
    ) -> _ModelsPage:
        """One page of the full listing, given the cursor it was requested with (an
        Ollama ``/api/show`` answer does not name its model). Default: :meth:`parse_models`."""
        return self.parse_models(endpoint, response)

    def fim_route(self, endpoint: Endpoint, model: str) -> FimRoute | None:
        """The native fill-in-the-middle route for ``model``; ``None`` (the default):
        code completions go as the chat fallback's messages."""
        return None

    # ---- health

    def health_request(self, endpoint: Endpoint) -> HttpRequest | None:
        """A cheaper or more telling probe than listing models (Ollama's
        ``/api/version``); ``None``: probe with :meth:`models_request`."""
        return None

    def check_health(self, response: HttpResponse) -> None:
        """Raise when a 2xx answer to :meth:`health_request` is not the provider's (a
        web server at a wrong base URL answers 200 too). Default: no check."""

    def check_models_answer(self, endpoint: Endpoint, response: HttpResponse) -> None:
        """The same for a 2xx model list used as the probe. Default: the page parses."""
        self.parse_models_page(endpoint, response, None)

    def parse_health(self, response: HttpResponse) -> str | None:
        """The server version, if the probe reports one."""
        return None

    def base_url_hint(self, endpoint: Endpoint, status: int | None, body: bytes) -> str | None:
        """For a 404 or a foreign answer: the base-URL mistake that likely caused it."""
        return None

    # ---- embeddings and token counting

    def embed_batch_size_for(self, model: str) -> int:
        """Inputs per request for ``model``, for adapters whose model families differ
        (Bedrock: Titan takes one, Cohere 96). Default: :attr:`embed_batch_size`."""
        return self.embed_batch_size

    def build_embed_request(self, request: EmbedRequest, endpoint: Endpoint) -> HttpRequest:
        raise self._lacks("an embeddings endpoint")  # the provider layer asks the size first

    def parse_embed_response(
        self, request: EmbedRequest, response: HttpResponse
    ) -> EmbeddingResponse:
        raise self._lacks("an embeddings endpoint")

    def count_tokens_request(self, request: ChatRequest, endpoint: Endpoint) -> HttpRequest | None:
        """The provider's token-counting request; ``None``: it has none."""
        return None

    def parse_count_tokens(self, response: HttpResponse) -> int:
        raise self._lacks("a token counting endpoint")

    def _lacks(self, what: str) -> ConfigurationError:
        return ConfigurationError(f"{type(self).__name__} has no {what}", field="model")
