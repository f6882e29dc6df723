"""The route table: one :class:`Route` per method and path, collected from the feature
modules (``openai.routes``, ``anthropic.routes``, ``admin``, ``dashboard``, ``ops``).

An exact path is a dict lookup; a path ending in ``/*`` matches every path below it
(the admin API and the dashboard's static files dispatch the rest themselves).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ._errors import PLAIN, ErrorFormat

if TYPE_CHECKING:
    from ._http import Request
    from ._response import Response
    from ._stream import StreamResponse

__all__ = ["Auth", "Handler", "Route", "RouteTable"]

Handler = Callable[["Request"], Awaitable["Response | StreamResponse"]]
Auth = Literal["key", "admin", "none", "metrics"]


@dataclass(frozen=True, slots=True)
class Route:
    """``auth``: ``"key"`` an access key (or the admin key), ``"admin"`` the admin key
    only, ``"none"`` nothing (health checks, the dashboard's login), ``"metrics"`` the
    admin key unless ``[gateway] public_metrics = true``. ``errors``: how this route's
    failures look on the wire (the OpenAI or Anthropic shape, or the plain one)."""

    method: str
    path: str
    handler: Handler
    auth: Auth = "key"
    errors: ErrorFormat = PLAIN


class RouteTable:
    """Exact routes by ``(method, path)``; prefix routes tried longest first."""

    __slots__ = ("_exact", "_methods", "_prefixes")

    def __init__(self, routes: Iterable[Route]) -> None:
        self._exact: dict[tuple[str, str], Route] = {}
        self._methods: dict[str, set[str]] = {}  # path -> its methods (for 405)
        prefixes: list[tuple[str, Route]] = []
        for route in routes:
            if route.path.endswith("/*"):
                prefixes.append((route.path[:-1], route))
            else:
                self._exact[(route.method, route.path)] = route
            self._methods.setdefault(route.path, set()).add(route.method)
        self._prefixes = sorted(prefixes, key=lambda p: -len(p[0]))

    def find(self, method: str, path: str) -> Route | None:
        route = self._exact.get((method, path))
        if route is not None:
            return route
        for prefix, candidate in self._prefixes:
            if (path.startswith(prefix) or path == prefix[:-1]) and candidate.method == method:
                return candidate
        return None

    def methods(self, path: str) -> set[str]:
        """The methods ``path`` answers (empty: no such path)."""
        found = set(self._methods.get(path, ()))
        for prefix, candidate in self._prefixes:
            if path.startswith(prefix) or path == prefix[:-1]:
                found.add(candidate.method)
        return found

    def __iter__(self) -> Iterator[Route]:
        yield from self._exact.values()
        for _, route in self._prefixes:
            yield route
