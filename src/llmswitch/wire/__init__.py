"""The wire layer: sans-I/O vocabulary shared by adapters and transports.

HTTP request/response values, :class:`Secret`, :class:`Timeout`, and the stream
framing decoders (:mod:`.sse`, :mod:`.ndjson`, :mod:`.eventstream`) with their size
caps (:mod:`.limits`). Nothing here opens a socket or knows a provider; adapters
(above) and transports (beside) both import from here, never the other way round.
"""

from __future__ import annotations

from . import limits
from .http import HttpRequest, HttpResponse, Secret
from .timeout import DEFAULT_TIMEOUT, MAX_TIMEOUT, Timeout, to_timeout

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_TIMEOUT",
    "HttpRequest",
    "HttpResponse",
    "Secret",
    "Timeout",
    "limits",
    "to_timeout",
]
