"""Where Vertex AI lives (project, location, host) and how a request is authorised:
``Authorization: Bearer <OAuth token>`` from a :class:`~._auth.TokenSource`, added to
each attempt by :meth:`VertexEndpoint.prepare`.

Hosts (as google-genai and the anthropic SDK's Vertex client choose them):
``global`` -> ``aiplatform.googleapis.com``; the multi-regions ``us``/``eu`` ->
``aiplatform.{us,eu}.rep.googleapis.com``; a region -> ``{region}-aiplatform.googleapis.com``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from urllib.parse import quote

from ...wire import HttpRequest
from ..base import Endpoint
from ._auth import TokenSource

__all__ = [
    "API_VERSION",
    "MULTI_REGIONS",
    "VertexEndpoint",
    "base_url_for",
    "valid_location",
]

API_VERSION = "v1"
# Model Garden's publisher-model listing exists in v1beta1 only.
LISTING_VERSION = "v1beta1"
MULTI_REGIONS = ("us", "eu")
_LOCATION_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def valid_location(location: str) -> bool:
    """``us-central1``, ``europe-west4``, ``global``, ``us``: one host label's worth."""
    return len(location) <= 40 and bool(_LOCATION_RE.match(location))


def base_url_for(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


@dataclass(frozen=True, slots=True, kw_only=True)
class VertexEndpoint(Endpoint):
    """Vertex AI in ``project``/``location``; ``base_url`` is the host root (no ``/v1``).

    ``tokens`` is ``None`` only for an endpoint that sends its own ``authorization``
    header (a proxy given one in ``headers``).
    """

    project: str
    location: str
    tokens: TokenSource | None = None

    def model_url(self, publisher: str, model: str, method: str) -> str:
        """``.../v1/projects/P/locations/L/publishers/{publisher}/models/{model}:{method}``.
        The model is one path segment (``@`` of ``claude-...@20250929`` kept)."""
        return (
            f"{self.base_url.rstrip('/')}/{API_VERSION}/projects/{quote(self.project, safe='')}"
            f"/locations/{self.location}/publishers/{publisher}/models/"
            f"{quote(model, safe='@')}:{method}"
        )

    def listing_url(self, publisher: str, query: str) -> str:
        """Model Garden's list of ``publisher``'s models."""
        return (
            f"{self.base_url.rstrip('/')}/{LISTING_VERSION}/publishers/{publisher}/models?{query}"
        )

    def secrets(self) -> tuple[str, ...]:
        own = Endpoint.secrets(self)
        return own + self.tokens.secrets() if self.tokens is not None else own

    def prepare(self, request: HttpRequest) -> HttpRequest:
        """The attempt's bearer token (cached; minted when due: on the async path the
        provider has minted it off the loop before this runs)."""
        tokens = self.tokens
        if tokens is None:
            return request
        token = tokens.fresh()
        if token is None:
            # On a thread running an event loop, VertexProvider has just minted one off
            # the loop: use it rather than block (it may have been refused meanwhile by
            # another call's 401; that call mints the next). Elsewhere: mint it here.
            last = tokens.last() if asyncio._get_running_loop() is not None else None
            token = last if last is not None else tokens.token()
        headers = dict(request.headers)
        headers["authorization"] = f"Bearer {token}"
        if tokens.quota_project and "x-goog-user-project" not in headers:
            # User credentials bill their quota project, as the google SDKs send it.
            headers["x-goog-user-project"] = tokens.quota_project
        return HttpRequest(
            method=request.method, url=request.url, headers=headers, body=request.body
        )
