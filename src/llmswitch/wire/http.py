"""The plain HTTP values adapters and transports trade in, and the secret wrapper for
credentials: no I/O, no provider knowledge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["HttpRequest", "HttpResponse", "Secret"]


class Secret:
    """An API key or token that never shows up in a repr, str or log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(slots=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None

    def __repr__(self) -> str:  # headers hold credentials
        return f"HttpRequest({self.method} {self.url})"


@dataclass(slots=True)
class HttpResponse:
    """A complete response. ``headers`` is case-insensitive when it comes from a
    transport; adapters look headers up by their lower-case names."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""
