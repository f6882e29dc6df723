"""The one handler behind ``/admin/*``: find the operation by its path template,
validate the path, query and body with its models, run it, and answer with its
response model, or with ``{"error": {...}}``: 422 naming the field that failed
validation, 400 for a body that is not JSON or a value a store refuses, 404 for an
unknown id, 405 for a method the path does not answer, 409 for a conflict. Bad input
never becomes a 5xx; a database outage still does (503, from the core's classification).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ..._json import dumps
from ..._log import get_logger
from ...errors import ConfigurationError, KeyVaultError
from .._errors import HttpError
from .._response import Response
from ..tenancy._types import TenantError
from ._api import Operation, Router
from ._call import AdminCall
from ._services import services_for

if TYPE_CHECKING:
    from .._http import Request

__all__ = ["Dispatcher"]

log = get_logger("llmswitch.gateway.admin")
_KINDS = {400: "invalid_request", 404: "not_found", 405: "invalid_request", 409: "conflict",
          413: "too_large", 422: "invalid_request"}  # fmt: skip
_TENANT_STATUS = {"invalid": 400, "exists": 409, "not_found": 404}


def error_body(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """The admin API's error response (the core's plain shape, plus ``details``)."""
    error: dict[str, Any] = {"message": message, "type": _KINDS.get(status, "invalid_request"),
                             "code": code}  # fmt: skip
    if param is not None:
        error["param"] = param
    if details:
        error["details"] = details
    return Response(dumps({"error": error}), status, headers=headers)


def _loc(loc: tuple[int | str, ...], where: str) -> list[int | str]:
    return [where, *loc] if where != "body" else list(loc)


def validation_error(exc: ValidationError, where: str) -> Response:
    """A 422 naming the first failed field (``limits.requests_per_minute``), with every
    failure in ``details``. Never the input values: one may be a secret."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if errors and errors[0]["type"] in ("json_invalid", "json_type"):
        return error_body(400, "request body is not valid JSON", code="invalid_json")
    details = [{"loc": _loc(e["loc"], where), "msg": e["msg"]} for e in errors[:20]]
    first = errors[0] if errors else {"loc": (), "msg": "invalid"}
    field = ".".join(str(part) for part in first["loc"]) or where
    return error_body(
        422, f"{field}: {first['msg']}", code="validation_error", param=field, details=details
    )


class Dispatcher:
    """Runs the operations of ``router`` (the handler of every ``/admin/*`` route)."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def __call__(self, request: Request) -> Response:
        op, raw, methods = self.router.match(request.method, request.path)
        if op is None:
            if methods:
                allow = ", ".join(methods)
                return error_body(
                    405, f"{request.method} is not allowed here (allowed: {allow})",
                    code="method_not_allowed", headers=(("allow", allow),),
                )  # fmt: skip
            return error_body(404, f"no admin operation at {request.path}", code="not_found")
        principal = request.principal
        if principal is None or not principal.admin:  # the route is admin-only; be sure
            return error_body(403, "this needs the admin key", code="admin_required")
        try:
            return await self._run(op, raw, request)
        except HttpError as exc:
            return error_body(exc.status, exc.message, code=exc.code, param=exc.param,
                              headers=exc.headers)  # fmt: skip
        except TenantError as exc:
            status = _TENANT_STATUS.get(exc.kind, 400)
            return error_body(status, exc.message, code=_code(status), param=exc.field)
        except ConfigurationError as exc:  # a store refused a value (prompts, experiments)
            return error_body(400, exc.message, code="invalid_request", param=exc.field)
        except KeyVaultError as exc:
            if exc.retryable:  # the KMS is unreachable: not the caller's fault
                raise
            return error_body(400, exc.message, code="invalid_request")

    async def _run(self, op: Operation, raw: dict[str, str], request: Request) -> Response:
        where = "path"
        try:
            params = _validate(op.params, raw)
            where = "query"
            query = _query(op, request)
            where = "body"
            body = await _body(op, request)
        except ValidationError as exc:
            return validation_error(exc, where)
        call = AdminCall(request, services_for(request.gateway), params, query, body)
        result = await op.handler(call)
        if op.response is None:
            return Response(b"", op.status)
        return Response(dumps(self.router.dump(op, result)), op.status)


def _code(status: int) -> str:
    return {404: "not_found", 409: "conflict"}.get(status, "invalid_request")


def _validate(model: type[BaseModel] | None, data: dict[str, Any]) -> BaseModel | None:
    return None if model is None else model.model_validate(data)


def _query(op: Operation, request: Request) -> BaseModel | None:
    values = request.query() if request.query_string else {}
    if op.query is None:
        if values:
            name = next(iter(values))[:64]
            raise HttpError(422, f"{name}: unknown query parameter", code="validation_error",
                            param=name)  # fmt: skip
        return None
    return op.query.model_validate(values)


async def _body(op: Operation, request: Request) -> BaseModel | None:
    if op.body is None:
        return None
    raw = await request.body()
    if not raw.strip():
        if not op.body_optional:
            raise HttpError(400, "a JSON request body is required", code="invalid_json")
        raw = b"{}"
    return op.body.model_validate_json(raw)
