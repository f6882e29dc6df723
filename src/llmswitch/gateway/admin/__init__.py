"""The admin API under ``/admin/`` (admin key only), described by the OpenAPI 3.1
document at ``/admin/openapi.json``.

Every operation is declared once (:class:`~._api.Operation`, in :mod:`.tenants`,
:mod:`.provider_keys`, :mod:`.prompts` and :mod:`.usage`); the dispatch table and the
document are both made from :data:`OPERATIONS`. The gateway core sees one prefix route
per method (``/admin/*``, ``auth="admin"``): it checks the admin key, then
:class:`~._dispatch.Dispatcher` finds the operation by its path template.
"""

from __future__ import annotations

from typing import Any

from ..._json import dumps
from .._response import Response
from .._routes import Route
from . import prompts, provider_keys, tenants, usage
from ._api import Operation, Router, openapi_document
from ._dispatch import Dispatcher, error_body
from ._models import ErrorResponse

__all__ = ["OPENAPI_PATH", "OPERATIONS", "ROUTER", "ROUTES", "document"]

OPENAPI_PATH = "/admin/openapi.json"
_DESCRIPTION = (
    "The llmswitch gateway's admin API: users, teams and access keys with their "
    "allowed models, limits and budgets; provider keys in the encrypted vault "
    "(write-only); prompts and experiments; usage, budgets and live status. Every "
    "call needs the admin key (LLMSWITCH_ADMIN_KEY) as `Authorization: Bearer ...` "
    'or `x-api-key`. Errors are `{"error": {"message", "type", "code", '
    '"param"}}`.'
)


OPERATIONS: tuple[Operation, ...] = (
    *tenants.OPERATIONS,
    *provider_keys.OPERATIONS,
    *prompts.OPERATIONS,
    *usage.OPERATIONS,
)
ROUTER = Router(OPERATIONS)


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of :data:`OPERATIONS`."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("llmswitch")
    except PackageNotFoundError:  # a source tree without metadata
        release = "0"
    return openapi_document(
        OPERATIONS, error=ErrorResponse, title="llmswitch admin API", version=release,
        description=_DESCRIPTION,
    )  # fmt: skip


class _AdminHandler:
    """The dispatcher, with ``/admin/openapi.json`` served from one cached rendering."""

    def __init__(self) -> None:
        self.dispatch = Dispatcher(ROUTER)
        self._document: bytes | None = None

    async def __call__(self, request: Any) -> Response:
        if request.path == OPENAPI_PATH:
            if request.method != "GET":
                message = f"{request.method} is not allowed here (allowed: GET)"
                allow = (("allow", "GET"),)
                return error_body(405, message, code="method_not_allowed", headers=allow)
            if self._document is None:
                self._document = dumps(document())
            return Response(self._document)
        return await self.dispatch(request)


_HANDLER = _AdminHandler()
ROUTES: list[Route] = [
    Route(method, "/admin/*", _HANDLER, auth="admin") for method in sorted(ROUTER.methods | {"GET"})
]
