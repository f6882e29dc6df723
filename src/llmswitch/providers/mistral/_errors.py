"""Mistral error bodies: ``{"object": "error", "message": "...", "type": ..., "code":
...}``; a request that fails validation (422) carries a ``message`` object or a
``detail`` list (``[{"loc": [...], "msg": "...", "type": ...}]``) instead of text; a
rejected key ``{"message": "Unauthorized", "request_id": ...}``. Each becomes the
OpenAI-style error object the shared mapping reads (status ladder, retry-after)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ... import _json
from ...errors import ProviderError
from ...messages import ChatRequest
from ...wire import HttpResponse
from .._errors import decode_json
from ..openai._errors import error_from_payload
from ..openai._errors import map_error as openai_map_error

__all__ = ["map_error"]


def _detail(items: Any) -> str:
    if not isinstance(items, list):
        return _json.dumps_str(items)
    out = []
    for item in items:
        if isinstance(item, Mapping):
            where = ".".join(str(p) for p in item.get("loc") or () if p != "body")
            msg = str(item.get("msg") or "")
            out.append(f"{where}: {msg}" if where else msg)
        else:
            out.append(str(item))
    return "; ".join(out)


def map_error(request: ChatRequest | None, response: HttpResponse) -> ProviderError:
    data = decode_json(response.body)
    if isinstance(data, Mapping) and not data.get("error"):
        message = data.get("message")
        if "detail" in data and message is None:
            message = _detail(data["detail"])
        elif isinstance(message, Mapping):
            message = _detail(message.get("detail", message))
        if isinstance(message, str) and message:
            err = {"message": message, "type": data.get("type"), "code": data.get("code")}
            return error_from_payload(
                request, err, status=response.status, headers=response.headers,
                body=response.body,
            )  # fmt: skip
    return openai_map_error(request, response)
