"""Dashboard sessions: signed, expiring tokens in an HttpOnly cookie, and the failed-login
limiter.

A token is ``v1.<expiry>.<session id>.<mac>``: the HMAC-SHA256 of the rest under a key
derived from the admin key. Deriving (rather than a per-process random secret) lets every
worker of ``serve --workers N`` accept the others' sessions, and rotating the admin key
ends every session at once. The admin key itself never leaves the login request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "COOKIE",
    "SESSION_SECONDS",
    "LoginLimiter",
    "Sessions",
    "cookie_header",
    "expired_cookie_header",
    "read_cookie",
]

COOKIE = "llmswitch_dashboard"
SESSION_SECONDS = 8 * 3600
_CONTEXT = b"llmswitch dashboard session v1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Sessions:
    """Issues and checks session tokens for one admin key. ``clock``: epoch seconds."""

    def __init__(
        self,
        admin_key: str,
        *,
        ttl: float = SESSION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._mac_key = hmac.new(admin_key.encode(), _CONTEXT, hashlib.sha256).digest()
        self.ttl = ttl
        self._clock = clock
        # Logged-out session ids until they would have expired anyway (this process's).
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Sessions(***)"

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._mac_key, body.encode(), hashlib.sha256).digest())

    def issue(self) -> str:
        """A new token valid for ``ttl`` seconds."""
        expiry = int(self._clock() + self.ttl)
        body = f"v1.{expiry}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._mac(body)}"

    def _parts(self, token: str) -> tuple[str, float] | None:
        version, _, rest = token.partition(".")
        expiry_text, _, rest = rest.partition(".")
        sid, _, mac = rest.partition(".")
        if version != "v1" or not expiry_text.isdigit() or not sid or not mac:
            return None
        body = f"v1.{expiry_text}.{sid}"
        if not hmac.compare_digest(self._mac(body), mac):
            return None
        return sid, float(expiry_text)

    def valid(self, token: str | None) -> bool:
        """Whether ``token`` was issued here, has not expired and was not revoked."""
        if not token:
            return False
        parts = self._parts(token)
        if parts is None:
            return False
        sid, expiry = parts
        if expiry <= self._clock():
            return False
        with self._lock:
            return sid not in self._revoked

    def revoke(self, token: str | None) -> None:
        """End ``token``'s session (logout): refused from now on by this process."""
        parts = self._parts(token) if token else None
        if parts is None:
            return
        now = self._clock()
        with self._lock:
            for sid, expiry in list(self._revoked.items()):
                if expiry <= now:
                    del self._revoked[sid]
            self._revoked[parts[0]] = parts[1]


def read_cookie(header: str | None, name: str = COOKIE) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, or ``None``."""
    if not header:
        return None
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"') or None
    return None


def cookie_header(token: str, *, secure: bool, max_age: float = SESSION_SECONDS) -> str:
    """The ``Set-Cookie`` value of a session: HttpOnly, SameSite=Strict, scoped to
    ``/dashboard``, Secure when the page was served over https."""
    value = f"{COOKIE}={token}; Path=/dashboard; Max-Age={int(max_age)}; HttpOnly; SameSite=Strict"
    return value + "; Secure" if secure else value


def expired_cookie_header(*, secure: bool) -> str:
    """The ``Set-Cookie`` value that deletes the session cookie."""
    return cookie_header("", secure=secure, max_age=0)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A login refused for too many failures: retry after ``retry_after`` seconds."""

    retry_after: float


class LoginLimiter:
    """Failed logins: at most ``per_client`` per ``window`` seconds from one client
    address, and ``overall`` from everyone together (a spread-out guess still runs
    into that). Only failures count, so the admin logging in is never slowed."""

    def __init__(
        self,
        *,
        per_client: int = 5,
        overall: int = 50,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client, self.overall, self.window = per_client, overall, window
        self._clock = clock
        self._by_client: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def _trim(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()

    def check(self, client: str) -> Refusal | None:
        """``None`` when ``client`` may try a key now, else how long to wait."""
        now = self._clock()
        with self._lock:
            self._trim(self._all, now)
            mine = self._by_client.get(client)
            if mine is not None:
                self._trim(mine, now)
            for times, cap in ((mine, self.per_client), (self._all, self.overall)):
                if times is not None and len(times) >= cap:
                    return Refusal(max(1.0, times[0] + self.window - now))
        return None

    def failed(self, client: str) -> None:
        """Count one wrong key from ``client``."""
        now = self._clock()
        with self._lock:
            if len(self._by_client) > 10_000:  # many addresses: forget the quiet ones
                for key in [
                    k for k, v in self._by_client.items() if not v or v[-1] <= now - self.window
                ]:
                    del self._by_client[key]
            self._by_client.setdefault(client, deque()).append(now)
            self._all.append(now)
