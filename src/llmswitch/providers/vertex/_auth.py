"""Google OAuth bearer tokens for Vertex AI, from google-auth.

Credentials: a service-account (or any google-auth) JSON file when one is named
(``credentials_file`` in llmswitch.toml, ``GOOGLE_APPLICATION_CREDENTIALS``), otherwise
Application Default Credentials (``google.auth.default``: gcloud's user credentials, the
metadata server on Google Cloud), always with the ``cloud-platform`` scope.

Loading the credentials and minting a token are blocking HTTP (the token endpoint, the
metadata server), so :class:`TokenSource` does them:

- once per token: the token is cached and replaced :data:`REFRESH_MARGIN` seconds
  before it expires, or when the server rejected it (:meth:`TokenSource.invalidate`);
- one at a time: a refresh is a ``concurrent.futures.Future`` that every caller who
  needs the new token waits on, on any thread or event loop (single flight);
- off the event loop on the async path: :meth:`TokenSource.atoken` runs the refresh in
  the loop's default executor and awaits it; a fresh token costs no await at all.

google-auth is imported on first use, never by ``import llmswitch``. Tokens never go in
a repr or a log line; :meth:`TokenSource.secrets` lists the recent ones for scrubbing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import threading
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

from ...errors import AuthenticationError, ConfigurationError, LLMError, TransportError

__all__ = [
    "DEFAULT_LIFETIME",
    "INSTALL_HINT",
    "REFRESH_MARGIN",
    "SCOPE",
    "TokenSource",
    "require_google_auth",
]

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# Replace a token this long before it expires: a call that starts with it must not have
# it expire in flight (google-auth's own threshold is 3m45s).
REFRESH_MARGIN = 300.0
# Credentials that report no expiry are reused this long, then minted again.
DEFAULT_LIFETIME = 1800.0
# The token request's own limits (seconds), apart from any call's timeout.
TOKEN_CONNECT_TIMEOUT, TOKEN_READ_TIMEOUT = 10.0, 30.0
INSTALL_HINT = "install the vertex extra: pip install 'llmswitch[vertex]' (google-auth)"
_KEPT_TOKENS = 4  # recent tokens remembered for scrubbing error text
NO_CREDENTIALS = (
    "no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a service-account "
    "JSON file, set credentials_file in llmswitch.toml, or run "
    "'gcloud auth application-default login'"
)


def require_google_auth(provider: str) -> None:
    """A ConfigurationError naming the extra when google-auth is not installed (checked
    without importing it)."""
    import importlib.util

    try:
        found = importlib.util.find_spec("google.auth") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigurationError(
            f"provider {provider!r} needs google-auth: {INSTALL_HINT}",
            field="kind",
            provider=provider,
        )


Loader = Callable[[], tuple[Any, str | None]]  # -> (google credentials, their project)


class TokenSource:
    """The current bearer token of one set of Google credentials.

    ``credentials_file``: a JSON credentials file (``None``: Application Default
    Credentials). ``clock`` (epoch seconds) and ``loader`` are for tests.
    """

    __slots__ = (
        "_clock",
        "_credentials",
        "_expires",
        "_file",
        "_http",
        "_loader",
        "_lock",
        "_margin",
        "_pending",
        "_seen",
        "_token",
        "provider",
        "quota_project",
        "refreshes",
    )

    def __init__(
        self,
        provider: str,
        credentials_file: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        margin: float = REFRESH_MARGIN,
        loader: Loader | None = None,
    ) -> None:
        self.provider = provider
        self._file = credentials_file
        self._clock = clock
        self._margin = margin
        self._loader = loader
        self._lock = threading.Lock()
        self._credentials: Any = None  # google.auth.credentials.Credentials, once loaded
        self._http: Any = None  # the urllib3 pool google-auth mints tokens through
        self._token: str | None = None
        self._expires = 0.0
        self._pending: concurrent.futures.Future[str] | None = None
        self._seen: list[str] = []
        self.quota_project: str | None = None  # x-goog-user-project, from the credentials
        self.refreshes = 0  # tokens minted so far (for status and tests)

    def __repr__(self) -> str:
        where = f"file={self._file!r}" if self._file else "application default credentials"
        return f"TokenSource({where})"

    # ------------------------------------------------------------------ the token

    def fresh(self) -> str | None:
        """The cached token while it has more than the margin left, else ``None``."""
        token = self._token
        if token is not None and self._expires - self._clock() > self._margin:
            return token
        return None

    def token(self) -> str:
        """A valid token; refreshes (blocking) when needed, or waits for the refresh
        another thread or loop started."""
        token = self.fresh()
        if token is not None:
            return token
        future, leader = self._claim()
        if leader:
            self._refresh(future)
        return self._result(future)

    async def atoken(self) -> str:
        """:meth:`token` without blocking the loop: the refresh runs in a thread."""
        token = self.fresh()
        if token is not None:
            return token
        future, leader = self._claim()
        if leader:
            try:
                asyncio.get_running_loop().run_in_executor(None, self._refresh, future)
            except BaseException as exc:  # a closing loop's executor: never strand waiters
                self._publish_failure(future, exc)
                raise
        try:
            return await asyncio.wrap_future(future)
        except LLMError as exc:
            raise copy.copy(exc) from None  # each caller gets its own (errors are filled in)

    def last(self) -> str | None:
        """The latest token, fresh or not (``None``: none minted yet)."""
        return self._token

    def invalidate(self, token: str) -> None:
        """The server refused ``token`` (401): the next call mints another, unless a
        newer one is already cached."""
        with self._lock:
            if self._token == token:
                self._expires = 0.0

    def secrets(self) -> tuple[str, ...]:
        return tuple(self._seen)

    # ------------------------------------------------------------------ refreshing

    def _claim(self) -> tuple[concurrent.futures.Future[str], bool]:
        """The refresh in flight, or a new one this caller must run (``True``)."""
        with self._lock:
            if self._pending is not None:
                return self._pending, False
            future: concurrent.futures.Future[str] = concurrent.futures.Future()
            # Running: a waiter that is cancelled cannot cancel the others' refresh.
            future.set_running_or_notify_cancel()
            self._pending = future
            return future, True

    def _result(self, future: concurrent.futures.Future[str]) -> str:
        try:
            return future.result()
        except LLMError as exc:
            raise copy.copy(exc) from None

    def _refresh(self, future: concurrent.futures.Future[str]) -> None:
        """Load the credentials (first time) and mint a token; publish it to ``future``."""
        try:
            token, expires = self._mint()
        except BaseException as exc:  # every waiter must wake, whatever happened
            self._publish_failure(future, exc)
            if not isinstance(exc, Exception):
                raise
            return
        with self._lock:
            self._token, self._expires = token, expires
            self._seen = [*self._seen, token][-_KEPT_TOKENS:]
            self.refreshes += 1
            self._pending = None
        future.set_result(token)

    def _publish_failure(self, future: concurrent.futures.Future[str], exc: BaseException) -> None:
        with self._lock:
            self._pending = None  # the next caller starts a new refresh
        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))

    def _mint(self) -> tuple[str, float]:
        credentials = self._load()
        try:
            from google.auth import exceptions
            from google.auth.transport.urllib3 import Request
        except ImportError:
            raise self._config_error(INSTALL_HINT) from None
        if self._http is None:
            import urllib3

            # Bounded: google-auth sends no timeout, and a hung token endpoint would hold
            # every call waiting for the token. (google-auth retries 5xx itself.)
            limits = urllib3.Timeout(connect=TOKEN_CONNECT_TIMEOUT, read=TOKEN_READ_TIMEOUT)
            self._http = urllib3.PoolManager(timeout=limits, retries=False)
        try:
            credentials.refresh(Request(self._http))  # type: ignore[no-untyped-call]
        except exceptions.RefreshError as exc:
            # The token endpoint refused the credentials (revoked key, invalid_grant):
            # google-auth's message names the reason, never the key.
            raise AuthenticationError(
                f"Google refused the credentials: {_first_line(exc)}", provider=self.provider
            ) from None
        except exceptions.TransportError as exc:
            raise TransportError(
                f"could not reach Google's token endpoint: {_first_line(exc)}",
                provider=self.provider,
            ) from None
        except exceptions.GoogleAuthError as exc:
            raise self._config_error(f"could not get a Google token: {_first_line(exc)}") from None
        token = credentials.token
        if not isinstance(token, str) or not token:
            raise AuthenticationError(
                "Google's token endpoint answered without an access token", provider=self.provider
            )
        expiry = credentials.expiry  # naive UTC by google-auth's clock, or None: unknown
        if expiry is None:
            lifetime = DEFAULT_LIFETIME
        else:
            lifetime = expiry.replace(tzinfo=UTC).timestamp() - time.time()
        # On this source's clock (the same one unless a test gave another).
        return token, self._clock() + lifetime

    def _load(self) -> Any:
        if self._credentials is not None:
            return self._credentials
        credentials, _project = self._loader() if self._loader else self._default_loader()
        self.quota_project = getattr(credentials, "quota_project_id", None) or None
        self._credentials = credentials
        return credentials

    def _default_loader(self) -> tuple[Any, str | None]:
        try:
            import google.auth
            from google.auth import exceptions
        except ImportError:
            raise self._config_error(INSTALL_HINT) from None
        try:
            found = _from_file(self._file) if self._file else google.auth.default(scopes=[SCOPE])
        except (exceptions.DefaultCredentialsError, ValueError) as exc:
            reason = _first_line(exc)
            what = f"{NO_CREDENTIALS} ({reason})" if not self._file else reason
            raise self._config_error(what) from None
        credentials, project = found
        return credentials, project

    def _config_error(self, message: str) -> ConfigurationError:
        field = "credentials_file" if self._file else "GOOGLE_APPLICATION_CREDENTIALS"
        return ConfigurationError(message, field=field, provider=self.provider)


def _from_file(path: str) -> tuple[Any, str | None]:
    """A credentials file by its ``type``: service accounts and gcloud's user
    credentials through their own loaders (google-auth warns about the generic one),
    anything else (workload identity federation...) through the generic loader."""
    import json

    import google.auth
    from google.auth import exceptions

    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as exc:
        raise exceptions.DefaultCredentialsError(f"cannot read {path!r}: {exc}") from None  # type: ignore[no-untyped-call]
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        from google.oauth2 import service_account

        sa = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[SCOPE]
        )
        return sa, info.get("project_id")
    if kind == "authorized_user":
        from google.oauth2 import credentials

        user = credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
            info, scopes=[SCOPE]
        )
        return user, info.get("quota_project_id")
    return google.auth.load_credentials_from_file(path, scopes=[SCOPE])  # type: ignore[no-untyped-call,no-any-return]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
