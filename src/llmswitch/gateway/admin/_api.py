"""The admin API's declarative layer: each operation is declared once, as an
:class:`Operation` (method, path template, summary, the pydantic models of its path,
query, body and response, its status codes), and both the dispatch table and
``/admin/openapi.json`` are made from those declarations, so the document cannot drift
from what the routes do.

Hand-written rather than a web framework: the gateway is a plain ASGI app (no
Starlette at run time), and the admin API needs only template matching, pydantic
validation and a JSON Schema per model.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

if TYPE_CHECKING:
    from ._call import AdminCall

__all__ = ["ERROR_STATUSES", "Operation", "Router", "openapi_document"]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_REF = "#/components/schemas/{model}"
# Every operation may answer these (auth by the gateway core, validation here).
ERROR_STATUSES = {
    400: "The request is malformed (not JSON, or a value the store refuses)",
    401: "No admin key, or a wrong one",
    403: "A valid access key that is not the admin key",
    404: "No such resource",
    405: "The path does not answer this method",
    409: "A conflict: the name is taken, or the resource's state forbids the change",
    413: "The request body is too large",
    422: "A field failed validation (`error.param` names it)",
}

Handler = Callable[["AdminCall"], Awaitable[Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One admin operation. ``path`` is a template (``/admin/users/{name}``) whose
    ``{param}``\\ s are the fields of ``params``; ``query``/``body``: pydantic models of
    the query string and the JSON body (``body_optional``: an empty body means
    ``{}``); ``response``: a model or a type (``list[User]``) of what ``handler``
    returns, ``None`` for an empty answer; ``status``: the success status; ``extra``:
    error statuses besides the common ones, with their descriptions."""

    method: str
    path: str
    summary: str
    handler: Handler
    tag: str
    response: Any = None
    status: int = 200
    params: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_optional: bool = False
    extra: dict[int, str] = field(default_factory=dict)
    description: str | None = None

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.strip("_")


class Router:
    """The operations by path template; :meth:`match` finds the one a request names."""

    def __init__(self, operations: Iterable[Operation]) -> None:
        self.operations = tuple(operations)
        self._patterns: list[tuple[re.Pattern[str], Operation]] = []
        seen: set[tuple[str, str]] = set()
        for op in self.operations:
            if (op.method, op.path) in seen:
                raise ValueError(f"{op.method} {op.path} is declared twice")
            seen.add((op.method, op.path))
            names = _PARAM.findall(op.path)
            declared = set(op.params.model_fields) if op.params is not None else set()
            if set(names) != declared:  # the template and its model must agree
                raise ValueError(f"{op.path}: path parameters {names} != model {declared}")
            regex = "".join(
                f"(?P<{part[1:-1]}>[^/]+)" if _PARAM.fullmatch(part) else re.escape(part)
                for part in re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", op.path)
            )
            self._patterns.append((re.compile(regex), op))
        self._adapters = {
            (op.method, op.path): TypeAdapter(op.response)
            for op in self.operations
            if op.response is not None
        }

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], list[str]]:
        """``(operation, its path parameters, [])`` for a known method and path;
        ``(None, {}, methods)`` when the path exists under other methods only;
        ``(None, {}, [])`` when no template matches."""
        methods: list[str] = []
        for pattern, op in self._patterns:
            found = pattern.fullmatch(path)
            if found is None:
                continue
            if op.method == method:
                return op, found.groupdict(), []
            methods.append(op.method)
        return None, {}, sorted(set(methods))

    def dump(self, op: Operation, value: Any) -> Any:
        """``value`` as JSON-ready data through the operation's response type."""
        return self._adapters[(op.method, op.path)].dump_python(
            value, mode="json", exclude_unset=True
        )

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(op.method for op in self.operations)


def _models(operations: Sequence[Operation], error: type[BaseModel]) -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = [error]
    for op in operations:
        if op.body is not None:
            out.append(op.body)
    return out


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        description = prop.pop("description", None)
        param: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": prop,
        }
        if description:
            param["description"] = description
        out.append(param)
    return out


def _merge(components: dict[str, Any], defs: dict[str, Any]) -> None:
    for name, schema in defs.items():
        if components.setdefault(name, schema) != schema:  # one name, two shapes: a bug here
            raise ValueError(f"schema {name!r} differs between uses; use two models")


def _response_schema(response: Any, components: dict[str, Any]) -> dict[str, Any]:
    """A response model as a ``$ref`` to its component; other types (``list[X]``) inline."""
    schema = TypeAdapter(response).json_schema(ref_template=_REF, mode="serialization")
    _merge(components, schema.pop("$defs", {}))
    if isinstance(response, type) and issubclass(response, BaseModel):
        _merge(components, {response.__name__: schema})
        return {"$ref": _REF.format(model=response.__name__)}
    return schema


def openapi_document(
    operations: Sequence[Operation],
    *,
    error: type[BaseModel],
    title: str,
    version: str,
    description: str,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``: bodies and responses reference
    ``components/schemas`` built from the pydantic models' JSON Schemas; every
    operation lists the common error statuses with ``error`` as their body."""
    bodies = [(m, "validation") for m in _models(operations, error)]
    _, defs = models_json_schema(bodies, ref_template=_REF)  # type: ignore[arg-type]
    components: dict[str, Any] = dict(defs.get("$defs", {}))
    error_ref = {"$ref": _REF.format(model=error.__name__)}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        responses: dict[str, Any] = {}
        if op.response is None:
            responses[str(op.status)] = {"description": op.summary}
        else:
            schema = _response_schema(op.response, components)
            responses[str(op.status)] = {
                "description": op.summary,
                "content": {"application/json": {"schema": schema}},
            }
        for status, text in sorted({**ERROR_STATUSES, **op.extra}.items()):
            responses[str(status)] = {
                "description": text,
                "content": {"application/json": {"schema": error_ref}},
            }
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": _parameters(op.params, "path") + _parameters(op.query, "query"),
            "responses": responses,
        }
        if op.description:
            entry["description"] = op.description
        if op.body is not None:
            entry["requestBody"] = {
                "required": not op.body_optional,
                "content": {
                    "application/json": {"schema": {"$ref": _REF.format(model=op.body.__name__)}}
                },
            }
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "adminKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The gateway's admin key (LLMSWITCH_ADMIN_KEY)",
                }
            },
        },
        "security": [{"adminKey": []}],
    }
