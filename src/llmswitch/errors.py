"""The llmswitch error tree.

Every error raised by llmswitch derives from :class:`LLMError`::

    LLMError
    ├── ConfigurationError          bad/missing settings, unknown provider or option, bad input
    │   ├── PromptError                 a stored prompt is unknown, malformed, or misused (a
    │   │                               missing or unknown variable); names it
    │   ├── UserKeyRequiredError        the user has no stored key and the config requires one
    │   └── ProviderPluginError         a provider plugin's entry point failed to load or build
    ├── TransportError              connect/read failures (connection refused, reset, DNS)
    ├── LLMTimeoutError             connect / first-token / total timeout elapsed
    ├── ProviderError               the provider answered with an error (or malformed bytes)
    │   ├── AuthenticationError         401
    │   ├── PermissionDeniedError       403
    │   ├── ModelNotFoundError          404 / unknown model
    │   ├── InvalidRequestError         400, 409, 413, 422 ...
    │   │   ├── ContextLengthExceededError
    │   │   └── CapabilityError             the model is known to lack a feature the call
    │   │                                   uses (raised before anything is sent)
    │   ├── ContentFilterError          the prompt or output was blocked
    │   ├── RateLimitError              429 (``retry_after`` from headers or body)
    │   └── ProviderUnavailableError    5xx, Anthropic 529, mid-stream overload
    ├── RateLimitExceeded           a local limit (llmswitch's own limiter) refused the call
    ├── QuotaExceeded               a local per-user quota is used up
    ├── BudgetExceededError         a local spend budget is used up
    ├── CircuitOpenError            the deployment's breaker is open
    ├── StateStoreError             the shared state store (Redis) failed; names its URL
    ├── KeyVaultError               the encrypted key vault refused or failed (no KEK, bad input)
    │   ├── KeyDecryptionError          a stored key does not open (tampered, truncated,
    │   │                               wrong KEK); names the record id
    │   └── KEKUnavailableError         the KEK cannot be used now (KMS unreachable or refusing)
    ├── StorageError                the SQL database failed (unreachable, migration); names its URL
    ├── StructuredOutputError       the answer does not validate against ``response_format``'s
    │                               type; names the field, keeps the text and the response
    └── AllProvidersFailedError     every deployment failed; ``errors`` holds each attempt

Each class carries ``retryable``: whether repeating the same call later can succeed.
Errors name the provider and model and never contain an API key: messages and
bodies pass through :func:`redact` before they are stored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ._retry_after import clamp_retry_after

__all__ = [
    "AllProvidersFailedError",
    "AuthenticationError",
    "BudgetExceededError",
    "CapabilityError",
    "CircuitOpenError",
    "ConfigurationError",
    "ContentFilterError",
    "ContextLengthExceededError",
    "InvalidRequestError",
    "KEKUnavailableError",
    "KeyDecryptionError",
    "KeyVaultError",
    "LLMError",
    "LLMTimeoutError",
    "ModelNotFoundError",
    "PermissionDeniedError",
    "PromptError",
    "ProviderError",
    "ProviderPluginError",
    "ProviderUnavailableError",
    "QuotaExceeded",
    "RateLimitError",
    "RateLimitExceeded",
    "StateStoreError",
    "StorageError",
    "StructuredOutputError",
    "TransportError",
    "UserKeyRequiredError",
    "redact",
]

# Key shapes of the providers we speak to, plus anything after "Bearer ".
_SECRET_RE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|AKIA[0-9A-Z]{12,}|(?<=Bearer )[A-Za-z0-9._\-~+/=]{8,}"
    # a JWT (Entra ID / OAuth access tokens) wherever it appears
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*)"
)
_BODY_LIMIT = 2000


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Remove API keys from ``text``: known key shapes and each of ``secrets`` verbatim."""
    # Longest first: a secret that contains another must not be left half-masked.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _SECRET_RE.sub("***", text)


class LLMError(Exception):
    """Base of every llmswitch error."""

    retryable: bool = False
    # What a stream delivered before it failed (a ChatResponse), when there was a stream.
    partial: Any = None
    # The usage a stream's parser had seen before it failed (a Usage: Anthropic's
    # message_start counts, ...), ``None`` when none: what the ledger and ``partial`` carry.
    stream_usage: Any = None

    def __init__(self, message: str, *, provider: str | None = None, model: str | None = None):
        self.message = redact(message)
        self.provider = provider
        self.model = model
        super().__init__(self.message)

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        return f"[{where}] {self.message}" if where else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ConfigurationError(LLMError):
    """Invalid settings or input, detected before any network call."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        provider: str | None = None,
        model: str | None = None,
    ):
        self.field = field
        super().__init__(message, provider=provider, model=model)


class PromptError(ConfigurationError):
    """A stored prompt (:mod:`llmswitch.prompts`) that cannot be used: unknown name,
    version or label, a template that does not parse or that the sandbox refuses, or
    variables that do not fit (``variable`` names the missing or unknown one). Raised
    before anything is sent. ``prompt`` is the prompt's name when known."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        prompt: str | None = None,
        variable: str | None = None,
    ):
        self.prompt = prompt
        self.variable = variable
        super().__init__(message, field=field)


class TransportError(LLMError):
    """The connection failed: refused, reset, closed early, DNS, TLS."""

    retryable = True


class LLMTimeoutError(LLMError):
    """A connect, first-token or total timeout elapsed. ``phase`` says which."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        phase: str = "total",
        timeout: float | None = None,
        provider: str | None = None,
        model: str | None = None,
        partial: Any = None,
    ):
        self.phase = phase
        self.timeout = timeout
        self.partial = partial
        super().__init__(message, provider=provider, model=model)


class ProviderError(LLMError):
    """The provider returned an error status, an error event, or bytes we cannot parse.

    ``body`` is the (redacted, truncated) response body; ``code`` the provider's
    structured error code or type; ``partial`` the :class:`~llmswitch.ChatResponse`
    built from what a stream delivered before it failed, if any.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        body: str | bytes | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        request_id: str | None = None,
        partial: Any = None,
    ):
        if isinstance(body, bytes):
            body = body[:_BODY_LIMIT].decode("utf-8", "replace")
        self.body = redact(body[:_BODY_LIMIT]) if body is not None else None
        self.status_code = status_code
        # Clamped (LLMSWITCH_MAX_RETRY_AFTER): never nan/inf/negative, never millennia.
        self.retry_after = clamp_retry_after(retry_after)
        self.code = code
        self.request_id = request_id
        self.partial = partial
        super().__init__(message, provider=provider, model=model)

    def __str__(self) -> str:
        base = super().__str__()
        extra = [f"status {self.status_code}"] if self.status_code else []
        if self.code:
            extra.append(f"code {self.code}")
        if self.request_id:
            extra.append(f"request {self.request_id}")
        return f"{base} ({', '.join(extra)})" if extra else base


class AuthenticationError(ProviderError):
    """401: the API key or token was rejected."""


class PermissionDeniedError(ProviderError):
    """403: the key is valid but may not use this model, region or feature."""


class ModelNotFoundError(ProviderError):
    """404: the model (or Azure deployment) does not exist or is not available to this key."""


class InvalidRequestError(ProviderError):
    """The provider rejected the request as malformed or unsupported."""


class ContextLengthExceededError(InvalidRequestError):
    """The prompt (plus requested output) does not fit the model's context window."""


class CapabilityError(InvalidRequestError):
    """The model is known not to have a capability the call uses (tools, vision,
    reasoning, embeddings, streaming, chat). ``capability`` names it, as the field of
    :class:`~llmswitch.Capabilities`. Raised before anything is sent; a capability that
    is unknown never raises this."""

    def __init__(self, message: str, *, capability: str, **kw: Any):
        self.capability = capability
        super().__init__(message, **kw)


class ContentFilterError(ProviderError):
    """The provider's safety system blocked the prompt or the output."""


class RateLimitError(ProviderError):
    """429 from the provider. ``retry_after`` (seconds) when the provider said."""

    retryable = True


class ProviderUnavailableError(ProviderError):
    """5xx, Anthropic 529 overloaded, or an overload/error event in the middle of a stream."""

    retryable = True


class RateLimitExceeded(LLMError):
    """llmswitch's own limiter refused the call; ``retry_after`` says when to try again."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        self.retry_after = clamp_retry_after(retry_after)
        super().__init__(message, **kw)


class QuotaExceeded(LLMError):
    """A per-user request or token quota is used up for its period."""


class BudgetExceededError(LLMError):
    """A spend budget is used up (raised before anything is sent). ``scope`` (e.g.
    ``"team:ml"``), ``period`` (``"day"``/``"month"``), ``period_start`` (RFC 3339 UTC),
    ``spent_usd`` (settled spend of the period) and ``limit_usd`` name the budget that
    refused the call; ``None`` when raised without them."""

    def __init__(
        self,
        message: str,
        *,
        scope: str | None = None,
        period: str | None = None,
        period_start: str | None = None,
        spent_usd: float | None = None,
        limit_usd: float | None = None,
        **kw: Any,
    ):
        self.scope = scope
        self.period = period
        self.period_start = period_start
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd
        super().__init__(message, **kw)


class CircuitOpenError(LLMError):
    """The circuit breaker for this deployment is open and there is no alternative."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        self.retry_after = clamp_retry_after(retry_after)
        super().__init__(message, **kw)


class StateStoreError(LLMError):
    """The shared state store (``[state] url``, e.g. Redis) could not be used. ``url``
    is the store's URL with any password masked; the layer's ``on_state_error`` policy
    decides whether a call fails with this or proceeds as if the store allowed it."""

    retryable = True

    def __init__(self, message: str, *, url: str = "", **kw: Any):
        self.url = url
        super().__init__(message, **kw)


class StorageError(LLMError):
    """The SQL database (``LLMSWITCH_DATABASE_URL`` / ``[storage] database_url``) could not
    be used: unreachable, locked, a failed or too-new schema migration, a rejected
    statement. ``url`` is the database URL with any password masked; ``version`` the
    schema migration that failed, when one did."""

    def __init__(
        self, message: str, *, url: str = "", version: int | None = None, retryable: bool = False
    ):
        self.url = url
        self.version = version
        self.retryable = retryable
        super().__init__(message)


class KeyVaultError(LLMError):
    """The key vault refused or failed: no key-encryption key configured, a bad record,
    an unknown key id. Never contains a secret."""


class KeyDecryptionError(KeyVaultError):
    """A stored key could not be opened: altered or truncated fields, a ciphertext moved
    from another record, or a KEK that did not wrap it. ``record_id`` names the record."""

    def __init__(self, message: str, *, record_id: str, **kw: Any):
        self.record_id = record_id
        super().__init__(message, **kw)


class KEKUnavailableError(KeyVaultError):
    """The key-encryption key cannot be used right now: the KMS is unreachable, timed
    out, or refused the credentials. ``kek`` names the KEK (never key material)."""

    retryable = True

    def __init__(self, message: str, *, kek: str = "", **kw: Any):
        self.kek = kek
        super().__init__(message, **kw)


class UserKeyRequiredError(ConfigurationError):
    """The call names a user who has no stored key for the provider, and the
    configuration requires users to bring their own (``require_user_keys``). Raised
    before anything is sent; ``user`` names the user."""

    def __init__(self, message: str, *, user: str, provider: str | None = None):
        self.user = user
        super().__init__(message, field="user", provider=provider)


class ProviderPluginError(ConfigurationError):
    """A provider plugin (entry point group ``llmswitch.providers``) could not be loaded
    or did not build a provider. ``entry_point`` names it (``name = module:attr``).
    Other providers are not affected."""

    def __init__(self, message: str, *, entry_point: str, provider: str | None = None):
        self.entry_point = entry_point
        super().__init__(message, field="model", provider=provider)


class StructuredOutputError(LLMError):
    """The answer does not fit the type asked for with ``response_format=`` (not JSON,
    a missing or mistyped field, cut short at ``max_tokens``). ``field`` is the first
    offending field's path (``"items[0].price"``; ``None`` when the text is not JSON at
    all), ``errors`` every validation error (pydantic's ``errors()`` list), ``text`` the
    answer as received and ``response`` the whole ChatResponse (usage and cost included:
    the call was made and billed). Not retryable as such: the same request may well get
    the same answer."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: Sequence[Any] = (),
        text: str = "",
        response: Any = None,
        provider: str | None = None,
        model: str | None = None,
    ):
        self.field = field
        self.errors = list(errors)
        self.text = text
        self.response = response
        super().__init__(message, provider=provider, model=model)


class AllProvidersFailedError(LLMError):
    """Every deployment of a model group failed; ``errors`` holds each attempt's error."""

    def __init__(self, message: str, *, errors: Sequence[LLMError] = (), **kw: Any):
        self.errors = list(errors)
        self.retryable = any(e.retryable for e in self.errors)
        super().__init__(message, **kw)
