"""One short wording for network failures and timeouts, shared by the sync and async
transports.

urllib3 and aiohttp describe a refused port, a DNS failure or a reset in long,
different sentences (with the full URL). Both transports instead raise
``TransportError("cannot connect to host:port (connection refused)")`` or
``"connection to host:port lost (connection reset)"``: the host and port only (never
the path or query, which may carry a key), and the same text on both clients.
"""

from __future__ import annotations

import errno
import socket
import ssl
import traceback
from urllib.parse import urlsplit

from ..errors import LLMTimeoutError, TransportError
from ..wire import Timeout

__all__ = ["connection_error", "host_port", "timed_out"]

_TIMED_OUT = {
    "connect": "connect timeout after {}s",
    "first_token": "no first token within {}s",
    "total": "total timeout after {}s",
}


def timed_out(phase: str, timeout: Timeout) -> LLMTimeoutError:
    """The ``connect``, ``first_token`` or ``total`` limit of ``timeout`` ran out."""
    seconds: float | None = getattr(timeout, phase)
    return LLMTimeoutError(_TIMED_OUT[phase].format(seconds), phase=phase, timeout=seconds)


_ERRNO = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.EPIPE: "connection closed",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
}
# Library exceptions (by class name, so this module imports neither library) that mean
# the server closed the connection before the response was complete.
_CLOSED = {
    "RemoteDisconnected",  # http.client, under urllib3
    "IncompleteRead",
    "ServerDisconnectedError",  # aiohttp
    "ClientPayloadError",
    "ContentLengthError",
    "TransferEncodingError",
}


def host_port(url: str) -> str:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "the server"
    if not host:
        return "the server"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port or (443 if parts.scheme == 'https' else 80)}"


def connection_error(url: str, exc: BaseException, *, connecting: bool) -> TransportError:
    """A one-line ``TransportError`` for ``exc``. The root OS error (refused, reset, DNS,
    TLS) is kept as ``__cause__``, stripped of its traceback and chain: those hold the
    failed connection's frames and socket."""
    why, root = _why(exc)
    where = host_port(url)
    message = (
        f"cannot connect to {where} ({why})"
        if connecting
        else f"connection to {where} lost ({why})"
    )
    error = TransportError(message)
    if root is not None:
        traceback.clear_frames(root.__traceback__)
        root.__traceback__ = root.__context__ = root.__cause__ = None
        error.__cause__ = root
    return error


def _why(exc: BaseException) -> tuple[str, OSError | None]:
    """What went wrong, in a few words, and the OS-level error that says so."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    closed = False
    tls: str | None = None
    first_os: OSError | None = None
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror) or type(e).__name__ in (
            "NameResolutionError", "ClientConnectorDNSError"
        ):  # fmt: skip
            return "name not resolved", e if isinstance(e, socket.gaierror) else None
        if isinstance(e, ssl.SSLError):
            # aiohttp's wrappers are SSLError subclasses without the details: look inside
            if isinstance(e, ssl.SSLCertVerificationError):
                detail = getattr(e, "verify_message", None) or getattr(e, "reason", None)
                if detail:
                    return f"TLS certificate not trusted: {detail}", e
            elif getattr(e, "reason", None):
                return f"TLS error: {e.reason}", e
            tls = tls or "TLS error"
        elif isinstance(e, OSError):
            why = _ERRNO.get(e.errno or 0)
            if why is not None:
                return why, e
            if first_os is None and e.errno:
                first_os = e
        if type(e).__name__ in _CLOSED:
            closed = True
        # Walk what each library wraps: chained exceptions, args, and named fields.
        related = [e.__cause__, e.__context__, *e.args]
        related += [getattr(e, name, None) for name in ("reason", "os_error", "certificate_error")]
        todo.extend(r for r in related if isinstance(r, BaseException))
    if tls is not None:
        return tls, None
    if closed:
        return "closed by the server", None
    if first_os is not None:
        text = (first_os.strerror or type(first_os).__name__).lower()
        return text, first_os
    return type(exc).__name__, None
