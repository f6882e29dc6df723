"""One admin request as its handler sees it (:class:`AdminCall`), and the errors
handlers raise (:func:`not_found`, :func:`conflict`, :func:`invalid`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import HttpError

if TYPE_CHECKING:
    from .._http import Request
    from ._services import AdminServices

__all__ = ["AdminCall", "conflict", "in_thread", "invalid", "not_found"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AdminCall:
    """``params``/``query``/``body``: the validated models of the operation (``None``
    where it declares none); ``sent``: the body fields the caller actually sent (an
    update changes only those)."""

    request: Request
    services: AdminServices
    params: Any
    query: Any
    body: Any

    @property
    def sent(self) -> frozenset[str]:
        return frozenset(self.body.model_fields_set) if self.body is not None else frozenset()


def not_found(message: str, param: str | None = None) -> HttpError:
    return HttpError(404, message, code="not_found", type="not_found", param=param)


def conflict(message: str, param: str | None = None, code: str = "conflict") -> HttpError:
    return HttpError(409, message, code=code, type="conflict", param=param)


def invalid(message: str, param: str | None = None) -> HttpError:
    return HttpError(400, message, code="invalid_request", type="invalid_request", param=param)


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking store method (the prompt and experiment stores are sync) off the loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)
