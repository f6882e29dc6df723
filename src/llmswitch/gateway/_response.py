"""A complete HTTP response (:class:`Response`) and :func:`json_response`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._json import dumps

__all__ = ["Response", "json_response"]

Send = Callable[[dict[str, Any]], Any]


class Response:
    """A complete response: status, body and headers, sent in two ASGI messages."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        *,
        content_type: str = "application/json",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.body = body
        self.status = status
        self.content_type = content_type
        self.headers = headers

    async def send(self, send: Send, request_id: str) -> int:
        raw = [
            (b"content-type", self.content_type.encode("latin-1")),
            (b"content-length", str(len(self.body)).encode("latin-1")),
            (b"x-request-id", request_id.encode("latin-1")),
        ]
        raw.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers)
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})
        return len(self.body)


def json_response(
    data: Any, status: int = 200, *, headers: Sequence[tuple[str, str]] = ()
) -> Response:
    return Response(dumps(data), status, headers=headers)
