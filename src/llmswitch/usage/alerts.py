"""Budget alerts: to the log at once, to a webhook in the background.

Each alert is logged at WARNING on the ``llmswitch.budgets`` logger (``budget.alert``,
with the payload's fields as ``extra``) by the call that crossed the threshold, and
queued for the webhook (the budget's own ``webhook``, else ``[alerts] webhook``). A
daemon thread POSTs it as JSON::

    {"scope": "team:ml", "period": "month", "period_start": "2026-12-01T00:00:00Z",
     "threshold": 0.8, "spent_usd": 201.5, "limit_usd": 250.0,
     "budget": {"scope": "team:ml", "period": "month", "limit_usd": 250, ...},
     "at": "2026-12-14T09:30:12Z"}

With ``[alerts] secret`` set, ``X-LLMSwitch-Signature: sha256=<hex>`` carries the
HMAC-SHA256 of the exact body bytes under the secret (verify with
:func:`verify_signature`). A 5xx answer or a connection failure is retried with
exponential backoff and full jitter (0.5 s doubling, at most 30 s apart, 8 tries); a 4xx
is not retried. Calls never wait for any of it: the queue is bounded (1000 alerts) and
an alert that finds it full is dropped with an ERROR (it was logged already).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import queue
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from .._json import dumps
from .._log import get_logger

__all__ = ["SIGNATURE_HEADER", "AlertSender", "sign", "verify_signature"]

logger = get_logger("llmswitch.budgets")

SIGNATURE_HEADER = "X-LLMSwitch-Signature"


def sign(secret: str | bytes, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret`` (constant time)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


Post = Callable[[str, bytes, Mapping[str, str], float], int]


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST ``body``; the HTTP status (connection failures raise)."""
    response = _pool().request(
        "POST", url, body=body, headers=dict(headers), timeout=timeout, retries=False,
        redirect=False,
    )  # fmt: skip
    return int(response.status)


_pools: list[Any] = []


def _pool() -> Any:
    if not _pools:
        import urllib3

        _pools.append(urllib3.PoolManager(num_pools=4))
    return _pools[0]


class AlertSender:
    """The background webhook poster of one client configuration. ``send(payload,
    webhook)`` logs and queues; the thread starts on the first alert with a webhook and
    stops with :meth:`close` (or when the sender is garbage collected)."""

    def __init__(
        self,
        secret: str | None = None,
        *,
        max_queue: int = 1000,
        attempts: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        post: Post = _post,
    ) -> None:
        self._secret = secret
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(max_queue)
        self.attempts, self.backoff, self.max_backoff = attempts, backoff, max_backoff
        self.timeout = timeout
        self._post = post
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.delivered = 0  # webhook posts answered 2xx (for tests and status)
        self.failed = 0  # alerts given up on

    def send(self, payload: dict[str, Any], webhook: str | None) -> None:
        logger.warning(
            "budget.alert scope=%s period=%s threshold=%s spent_usd=%.6f limit_usd=%.6f",
            payload["scope"], payload["period"], payload["threshold"], payload["spent_usd"],
            payload["limit_usd"], extra={"event": "budget.alert", **payload},
        )  # fmt: skip
        if not webhook:
            return
        try:
            self._queue.put_nowait((webhook, dumps(payload)))
        except queue.Full:
            logger.error("budget.alert_dropped scope=%s: webhook queue full", payload["scope"])
            return
        self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                # The thread holds the sender weakly: a dropped client does not leak it.
                ref = weakref.ref(self)
                self._thread = threading.Thread(
                    target=_work, args=(ref, self._queue, self._stop), daemon=True,
                    name="llmswitch-budget-alerts",
                )  # fmt: skip
                self._thread.start()
                weakref.finalize(self, self._stop.set)

    def deliver(self, webhook: str, body: bytes) -> bool:
        """POST one alert with its retries; whether it was accepted."""
        headers = {"Content-Type": "application/json", "User-Agent": "llmswitch-budgets"}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        for attempt in range(self.attempts):
            try:
                status = self._post(webhook, body, headers, self.timeout)
            except Exception as exc:  # connection refused, reset, timed out
                status, reason = 0, type(exc).__name__
            else:
                reason = f"HTTP {status}"
                if 200 <= status < 300:
                    self.delivered += 1
                    return True
                if status < 500:  # the receiver refused it: asking again will not help
                    break
            if attempt + 1 < self.attempts:
                delay = random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))
                if self._stop.wait(delay):
                    break
        self.failed += 1
        logger.error("budget.alert_failed webhook gave up: %s", reason)
        return False

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued alert was delivered or given up on (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Stop the thread (alerts still queued are not sent)."""
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)


def _work(
    ref: weakref.ref[AlertSender],
    items: queue.Queue[tuple[str, bytes] | None],
    stop: threading.Event,
) -> None:
    while not stop.is_set():
        try:
            item = items.get(timeout=1.0)
        except queue.Empty:
            if ref() is None:
                return
            continue
        try:
            sender = ref()
            if item is None or sender is None:
                return
            sender.deliver(*item)
            del sender
        finally:
            items.task_done()
