"""Bounds on a paged model listing: a server that repeats its cursor, or never stops
giving new ones, must not page forever.

One :class:`Listing` per ``list_models`` call (one plan, sync or async): it gathers
the models, refuses a cursor seen before (a ``ProviderError``, not a silently cut
list: the caller asked for every model), stops after :data:`MAX_MODEL_PAGES` pages,
and holds the deadline of ``timeout.total`` across all pages.
"""

from __future__ import annotations

import hashlib
import time

from ..errors import LLMTimeoutError, ProviderError
from ..messages import ModelInfo
from ..wire import HttpResponse, Timeout

__all__ = ["MAX_MODEL_PAGES", "Listing"]

# Far more than any provider needs (Anthropic and Gemini send up to 1000 models a page;
# Ollama one page per installed model), few enough to end a hostile listing.
MAX_MODEL_PAGES = 1000


def _short(cursor: str) -> str:
    return repr(cursor if len(cursor) <= 60 else cursor[:60] + "...")


class Listing:
    __slots__ = ("_seen", "deadline", "models", "pages", "timeout")

    def __init__(self, timeout: Timeout) -> None:
        self.timeout = timeout
        total = timeout.total
        self.deadline = time.monotonic() + total if total is not None else None
        self.models: list[ModelInfo] = []
        self.pages = 0
        self._seen: set[bytes] = set()  # digests: Ollama's cursors list every name left

    def expired(self) -> LLMTimeoutError:
        total = self.timeout.total
        return LLMTimeoutError(
            f"model listing took longer than the total timeout of {total}s "
            f"({self.pages} pages, {len(self.models)} models so far)",
            phase="total",
            timeout=total,
        )

    def page_timeout(self) -> Timeout:
        """The call's timeout with what is left of the listing's total, for the next
        page request; raises once it is spent."""
        if self.deadline is None:
            return self.timeout
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self.expired()
        return self.timeout.within(remaining)

    def past_deadline(self) -> bool:
        # A page's own total timeout fires at the listing's deadline; allow for the
        # clock granularity of the transport that noticed it.
        return self.deadline is not None and time.monotonic() >= self.deadline - 0.05

    def add(self, models: list[ModelInfo], cursor: str | None, response: HttpResponse) -> bool:
        """Take one page; ``True`` when the listing is complete."""
        self.pages += 1
        self.models.extend(models)
        if cursor is None:
            return True
        digest = hashlib.blake2b(cursor.encode("utf-8", "replace"), digest_size=16).digest()
        if digest in self._seen:
            raise self._refuse(f"repeated page cursor {_short(cursor)}", response)
        if self.pages >= MAX_MODEL_PAGES:
            raise self._refuse(f"model listing did not end after {self.pages} pages", response)
        self._seen.add(digest)
        return False

    def _refuse(self, what: str, response: HttpResponse) -> ProviderError:
        return ProviderError(
            f"malformed response from provider: {what} ({self.pages} pages, "
            f"{len(self.models)} models so far; the listing is refused rather than cut short)",
            status_code=response.status,
            body=response.body,
            code="malformed_response",
        )
