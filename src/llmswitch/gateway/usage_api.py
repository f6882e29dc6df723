"""``GET /v1/usage``: a caller's own usage, the rows ``llmswitch usage --format json`` prints.

An access key sees its user's calls (every key of that user; a key with no user, only
its own calls); it may narrow them (``provider``, ``model``, ``key`` among its user's
keys) but never widen them: asking for another user, team or key is a 403, not an
empty answer that would tell whether it exists. The admin key sees everything and may
filter by any field. Query: ``by`` (comma-separated groups, default ``day``),
``since``, ``until`` (dates, ISO times or ages like ``7d``) and the filters.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from ..usage.report import FILTERS, GROUPS
from ._errors import HttpError
from ._http import Request
from ._response import Response, json_response
from ._routes import Route

__all__ = ["ROUTES"]


async def usage(request: Request) -> Response:
    query = request.query()
    unknown = set(query) - {"by", "since", "until", *FILTERS}
    if unknown:
        raise HttpError(400, f"unknown query parameter {sorted(unknown)[0]!r}",
                        param=sorted(unknown)[0])  # fmt: skip
    by = tuple(part.strip() for part in query.get("by", "day").split(",") if part.strip())
    for group in by:
        if group not in GROUPS:
            raise HttpError(400, f"by must be among {', '.join(GROUPS)}", param="by")
    filters: dict[str, Any] = {k: query[k] for k in FILTERS if query.get(k)}
    principal = request.principal
    if principal is not None and not principal.admin:
        own: dict[str, str | None] = {"user": principal.user} if principal.user else {}
        if principal.user is None:
            own["key"] = principal.key_id
        for field in ("user", "team", "key"):
            asked = filters.get(field)
            if asked is None:
                continue
            if field == "team" and asked == principal.team and principal.team is not None:
                continue
            if field == "key" and principal.user is not None:
                continue  # narrowed to one key, still within the user's own rows
            if own.get(field) != asked:
                raise HttpError(403, f"an access key sees only its own usage ({field})",
                                code="forbidden", param=field)  # fmt: skip
        filters.update(own)
        if principal.user is None and principal.key_id is None:
            filters["key"] = "-"  # an anonymous caller of an open gateway: nothing
    try:
        rows = await request.gateway.client.usage_report(
            by, query.get("since") or None, query.get("until") or None, **filters
        )
    except ConfigurationError as exc:  # a bad date or group, named by the report
        raise HttpError(400, str(exc), param=getattr(exc, "field", None)) from None
    return json_response({"object": "list", "data": rows})


ROUTES = [Route("GET", "/v1/usage", usage)]
