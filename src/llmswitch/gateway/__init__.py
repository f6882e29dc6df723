"""The gateway (``llmswitch serve``): OpenAI- and Anthropic-compatible HTTP endpoints in
front of every provider, with access keys, an admin API, a dashboard and metrics.

Its server (uvicorn) comes with the ``gateway`` extra: ``pip install 'llmswitch[gateway]'``.
This package imports nothing of it; :func:`create_app` returns a plain ASGI app.
"""

from __future__ import annotations

from ._errors import PLAIN, ErrorFormat, ErrorInfo, HttpError, classify, retry_headers
from ._http import Request
from ._principal import Principal
from ._response import Response, json_response
from ._routes import Route
from ._settings import GatewaySettings
from ._stream import StreamResponse, first_then
from .app import Authenticator, Gateway, create_app

__all__ = [
    "PLAIN",
    "Authenticator",
    "ErrorFormat",
    "ErrorInfo",
    "Gateway",
    "GatewaySettings",
    "HttpError",
    "Principal",
    "Request",
    "Response",
    "Route",
    "StreamResponse",
    "classify",
    "create_app",
    "first_then",
    "json_response",
    "retry_headers",
]
