"""Base-URL mistakes a 404 (or a 200 that is not the provider's) reveals, said plainly.

``ANTHROPIC_BASE_URL=https://api.anthropic.com/v1`` requests ``/v1/v1/messages`` and
reads as "model not found"; ``OPENAI_BASE_URL`` without ``/v1`` gets a bare 404. Each
adapter's ``base_url_hint`` calls one rule below; :class:`~llmswitch.providers.http.
HttpProvider` puts the hint in the error, naming the setting to fix. The rules look at
the configured base URL (and, for OpenAI, whether the 404 is an OpenAI error body), so a
real "model not found" from the right URL keeps the provider's own message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .. import _json
from ..errors import ProviderError
from ..wire import HttpResponse
from .registry import builtin_kind

__all__ = [
    "anthropic_hint",
    "expect_field",
    "foreign_answer",
    "gemini_hint",
    "ollama_hint",
    "openai_hint",
    "public_url",
    "setting",
]

# The request paths adapters add: a base URL that already ends in one was pasted whole.
_OPENAI_PATHS = ("/chat/completions", "/completions", "/embeddings", "/models")
_ANTHROPIC_PATHS = ("/v1/messages", "/v1/models", "/messages")


def foreign_answer(what: str, response: HttpResponse) -> ProviderError:
    """A 2xx probe answer that is not the provider's: ``answer is not an OpenAI models
    list (got text/html: '<!doctype html>...')``, the body kept (truncated)."""
    text = " ".join(response.body[:200].decode("utf-8", "replace").split())
    ctype = (response.headers.get("content-type") or "").split(";", 1)[0].strip()
    if not text:
        got = f"an empty {ctype} body" if ctype else "an empty body"
    else:
        snippet = repr(text if len(text) <= 40 else text[:40] + "...")
        got = f"{ctype}: {snippet}" if ctype else snippet
    return ProviderError(
        f"answer is not {what} (got {got})",
        status_code=response.status,
        body=response.body,
        code="malformed_response",
    )


def expect_field(response: HttpResponse, name: str, kind: type, what: str) -> Any:
    """``body[name]`` when the body is a JSON object holding a ``kind`` there, else the
    :func:`foreign_answer` error."""
    try:
        data = _json.loads(response.body) if response.body else None
    except ValueError:
        data = None
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, kind):
        raise foreign_answer(what, response)
    return value


def setting(pid: str, variable: str) -> str:
    """Where the base URL of provider ``pid`` was set, as precisely as we know it: the
    endpoint does not record whether it came from the environment or llmswitch.toml."""
    if builtin_kind(pid) is not None:
        return f"{variable} (or base_url in llmswitch.toml)"
    return f"base_url of provider {pid!r} in llmswitch.toml"


def public_url(url: str) -> str:
    """``url`` fit for an error message: no query (tokens, api-version) or user info."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return url.split("?", 1)[0]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _path(base_url: str) -> str:
    try:
        return urlsplit(base_url).path.rstrip("/")
    except ValueError:
        return ""


def _is_openai_error(body: bytes) -> bool:
    try:
        data = _json.loads(body) if body else None
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("error"), dict | str)


def openai_hint(pid: str, base_url: str, status: int | None, body: bytes) -> str | None:
    """OpenAI and compatible servers serve the API under ``/v1``. A 404 that carries an
    OpenAI error body is the server's own answer (a real unknown model): no hint."""
    if status == 404 and _is_openai_error(body):
        return None
    path = _path(base_url)
    where = setting(pid, "OPENAI_BASE_URL")
    for suffix in _OPENAI_PATHS:
        if path.endswith(suffix):
            return f"{where} should stop before {suffix} (it is added per request)"
    if not path.endswith("/v1"):
        return f"{where} should end in /v1 (e.g. {base_url.rstrip('/')}/v1)"
    return None


def anthropic_hint(pid: str, base_url: str, status: int | None, body: bytes) -> str | None:
    path = _path(base_url)
    where = setting(pid, "ANTHROPIC_BASE_URL")
    for suffix in _ANTHROPIC_PATHS:
        if path.endswith(suffix):
            return f"{where} should stop before {suffix} (it is added per request)"
    if path.endswith("/v1"):
        return f"{where} should not end in /v1 (it is added per request)"
    return None


def gemini_hint(pid: str, base_url: str, status: int | None, body: bytes) -> str | None:
    path = _path(base_url)
    for suffix in ("/v1beta", "/v1", "/v1alpha"):
        if path.endswith(suffix):
            where = setting(pid, "GEMINI_BASE_URL")
            return f"{where} should not end in {suffix} (the API version is added per request)"
    return None


def ollama_hint(pid: str, base_url: str, status: int | None, body: bytes) -> str | None:
    path = _path(base_url)
    where = setting(pid, "OLLAMA_HOST")
    if path.endswith("/api"):
        return f"{where} should not end in /api (it is added per request)"
    if path.endswith("/v1"):
        return (
            f"{where} should not end in /v1: the native API is at the server's root "
            "(for Ollama's OpenAI-compatible /v1, declare an openai-compatible provider)"
        )
    return None
