"""Per-call time limits: what a caller sets and every transport and driver obeys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "Timeout", "to_timeout"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeout:
    """Seconds; ``None`` disables that limit.

    ``connect``: establishing the connection. ``first_token``: from sending the request
    to the first stream event (streams only: a non-streamed answer arrives all at
    once). ``total``: the whole call, including reading every chunk.
    """

    connect: float | None = 10.0
    first_token: float | None = 30.0
    total: float | None = 300.0

    def __post_init__(self) -> None:
        # nan, inf or 1e300 would pass a "> 0" check and then break the socket layer
        # (ValueError/OverflowError) at the first call: refuse them here, typed.
        for name in ("connect", "first_token", "total"):
            _check_seconds(getattr(self, name), f"timeout.{name}")

    def within(self, remaining: float) -> Timeout:
        """These limits, none longer than ``remaining`` seconds (at least 1 ms): what a
        later try or page gets of a deadline that spans several requests."""
        left = max(remaining, 0.001)
        return Timeout(
            connect=min(self.connect, left) if self.connect is not None else None,
            first_token=min(self.first_token, left) if self.first_token is not None else None,
            total=min(self.total, left) if self.total is not None else left,
        )


MAX_TIMEOUT = 365 * 24 * 3600.0  # a year: longer is a mistake (use None for no limit)


def _check_seconds(value: Any, field: str) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= MAX_TIMEOUT  # False for nan too
    ):
        raise ConfigurationError(
            f"{field} must be a number of seconds > 0 and at most a year, or None "
            f"for no limit (got {value!r})",
            field=field,
        )


DEFAULT_TIMEOUT = Timeout()


def to_timeout(value: Any, default: Timeout = DEFAULT_TIMEOUT) -> Timeout:
    """``None`` -> default; a number -> total; a dict or Timeout -> merged onto default."""
    if value is None:
        return default
    if isinstance(value, Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | Mapping):
        raise ConfigurationError("timeout must be seconds, a Timeout, or a dict", field="timeout")
    if isinstance(value, int | float):
        _check_seconds(value, "timeout")
        first = default.first_token
        return Timeout(
            connect=default.connect,
            first_token=min(first, value) if first is not None else None,
            total=float(value),
        )
    unknown = set(value) - {"connect", "first_token", "total"}
    if unknown:
        raise ConfigurationError(
            f"unknown timeout field {sorted(unknown)[0]!r} (expected connect, first_token, total)",
            field=f"timeout.{sorted(unknown)[0]}",
        )
    for k, v in value.items():
        _check_seconds(v, f"timeout.{k}")
    return Timeout(
        connect=value.get("connect", default.connect),
        first_token=value.get("first_token", default.first_token),
        total=value.get("total", default.total),
    )
