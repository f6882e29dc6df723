"""Downloading a model into an Ollama server: ``POST /api/pull``, NDJSON progress
(docs/providers.md §7).

:class:`PullParser` is sans-I/O like the chat stream parser; :func:`pull_model` and
:func:`apull_model` drive it over the client's sync or async transport.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigurationError, LLMError, ProviderError, ProviderUnavailableError
from ...wire import HttpRequest, HttpResponse, Timeout
from ...wire.ndjson import NDJSONDecoder
from .._common import int_or_none
from .._shape import load_json
from ..http import HttpProvider
from ..runtime import CallContext
from ._errors import error_message, malformed, map_error
from ._request import pull_request

__all__ = ["PULL_TIMEOUT", "PullParser", "PullProgress", "apull_model", "pull_model"]

# A pull can take an hour, and verifying a large blob prints nothing for minutes: no
# read or total limit unless the caller sets one.
PULL_TIMEOUT = Timeout(connect=10.0, first_token=None, total=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class PullProgress:
    """One progress report. ``status`` is Ollama's text (``pulling manifest``,
    ``pulling <digest>``, ``verifying sha256 digest``, ``writing manifest``,
    ``success``); ``digest``/``total``/``completed`` (bytes) are set while a layer
    downloads (``completed`` may be missing at first)."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None

    @property
    def done(self) -> bool:
        return self.status == "success"


class PullParser:
    """``feed(bytes) -> progress reports``; raises on an ``{"error": ...}`` line (after
    returning the reports of the same read) and at ``close()`` without ``success``."""

    __slots__ = ("_failed", "_lines", "_model", "_success")

    def __init__(self, model: str) -> None:
        self._model = model
        self._lines = NDJSONDecoder()
        self._success = False
        self._failed: ProviderError | None = None

    def feed(self, data: bytes) -> list[PullProgress]:
        if self._failed is not None:
            raise self._failed
        out: list[PullProgress] = []
        try:
            for line in self._lines.feed(data):
                out.append(self._progress(line))
        except ProviderError as exc:
            self._failed = exc
            if not out:
                raise
        return out

    def close(self) -> list[PullProgress]:
        if self._failed is not None:
            raise self._failed
        out = [self._progress(line) for line in self._lines.close()]
        if not self._success:
            raise ProviderUnavailableError(
                f"the pull of {self._model!r} ended before Ollama reported success",
                model=self._model,
            )
        return out

    def _progress(self, line: bytes) -> PullProgress:
        obj = load_json(line, malformed, None, "pull progress line is not valid JSON")
        if not isinstance(obj, dict):
            raise malformed(None, "pull progress line is not a JSON object", line)
        err = obj.get("error")
        if err:
            # Usually not transient (unknown name, no disk space), so not retryable.
            raise ProviderError(f"pulling {self._model!r} failed: {err}", body=line)
        status = obj.get("status")
        status = status if isinstance(status, str) else ""
        if status == "success":
            self._success = True
        digest = obj.get("digest")
        return PullProgress(
            status=status,
            digest=digest if isinstance(digest, str) and digest else None,
            total=int_or_none(obj.get("total")),
            completed=int_or_none(obj.get("completed")),
        )


def _is_ollama_adapter(adapter: Any) -> bool:
    # OllamaAdapter (or a subclass), named by where it is defined: this package's
    # __init__ imports this module, so importing the class here would be a circle.
    return any(
        c.__name__ == "OllamaAdapter" and c.__module__ == __package__ for c in type(adapter).__mro__
    )


def _ollama(provider: Any) -> HttpProvider:
    if not isinstance(provider, HttpProvider) or not _is_ollama_adapter(provider.adapter):
        pid = getattr(provider, "id", provider)
        raise ConfigurationError(
            f"only Ollama providers can pull models; {pid!r} is not one",
            field="model",
            provider=str(pid),
        )
    return provider


def _http_error(status: int, headers: Any, body: bytes) -> ProviderError:
    exc = map_error(None, HttpResponse(status=status, headers=headers, body=body))
    if status == 404 and error_message(body) is None:
        exc.message = "this server has no /api/pull: is it an Ollama server?"
        exc.args = (exc.message,)
    return exc


def _start(provider: Any, model: str) -> tuple[HttpProvider, HttpRequest, PullParser]:
    ollama = _ollama(provider)
    return ollama, ollama.endpoint.prepare(pull_request(ollama.endpoint, model)), PullParser(model)


def _relay(
    reports: list[PullProgress],
    progress: Callable[[PullProgress], None] | None,
    last: PullProgress,
) -> PullProgress:
    for report in reports:
        last = report
        if progress is not None:
            progress(report)
    return last


def pull_model(
    provider: Any,
    model: str,
    ctx: CallContext,
    progress: Callable[[PullProgress], None] | None = None,
) -> PullProgress:
    """Pull ``model`` through the sync transport; returns the final (``success``) report."""
    ollama, request, parser = _start(provider, model)
    last = PullProgress(status="")
    try:
        with ctx.transport.stream(request, ctx.timeout) as resp:
            if resp.status >= 300:
                raise _http_error(resp.status, resp.headers, resp.read())
            for chunk in resp.chunks():
                last = _relay(parser.feed(chunk), progress, last)
            last = _relay(parser.close(), progress, last)
    except LLMError as exc:
        raise ollama._fail(exc, None, model) from None
    return last


async def apull_model(
    provider: Any,
    model: str,
    ctx: CallContext,
    progress: Callable[[PullProgress], None] | None = None,
) -> PullProgress:
    """Async twin of :func:`pull_model`."""
    ollama, request, parser = _start(provider, model)
    last = PullProgress(status="")
    try:
        async with ctx.transport.stream(request, ctx.timeout) as resp:
            if resp.status >= 300:
                raise _http_error(resp.status, resp.headers, await resp.read())
            async for chunk in resp.chunks():
                last = _relay(parser.feed(chunk), progress, last)
            last = _relay(parser.close(), progress, last)
    except LLMError as exc:
        raise ollama._fail(exc, None, model) from None
    return last
