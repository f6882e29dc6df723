"""The one reading of a server's "wait this long" for every provider, clamped.

A hostile or broken server can send ``Retry-After: 1e12``, ``inf``, ``nan`` or a date
in 2099; trusted as is, it cools a pooled key for millennia (shared through Redis
with every process) or overflows. Every value a provider gives (``retry-after-ms``,
``retry-after`` seconds or HTTP-date, OpenAI's ``x-ratelimit-reset-*``, Gemini's
``RetryInfo``) and every ``retry_after`` an error exposes goes through
:func:`clamp_retry_after`: non-finite or negative -> ``None`` (the server said nothing
usable), above :func:`max_retry_after` -> that maximum.

The maximum is ``LLMSWITCH_MAX_RETRY_AFTER`` seconds (default 3600), read when used
so a running process can be tuned; a value that is not a positive number is ignored.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_MAX_RETRY_AFTER",
    "MAX_RETRY_AFTER_ENV",
    "clamp_retry_after",
    "max_retry_after",
    "parse_retry_after",
    "seconds_until",
]

DEFAULT_MAX_RETRY_AFTER = 3600.0
MAX_RETRY_AFTER_ENV = "LLMSWITCH_MAX_RETRY_AFTER"


def max_retry_after() -> float:
    """The largest wait any server may impose, in seconds."""
    raw = os.environ.get(MAX_RETRY_AFTER_ENV)
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value > 0:
            return value
    return DEFAULT_MAX_RETRY_AFTER


def clamp_retry_after(value: Any) -> float | None:
    """``value`` seconds as a sane float: ``None`` for anything that is not a finite,
    non-negative number, at most :func:`max_retry_after`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        return max_retry_after() if value > 0 else None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, max_retry_after())


def seconds_until(http_date: str, now: float | None = None) -> float | None:
    """Seconds from ``now`` to an HTTP-date: 0 when it is past, ``None`` when it is
    not a date (clamping to the maximum is the caller's :func:`clamp_retry_after`)."""
    from email.utils import parsedate_to_datetime  # rare: only dates pay for the import

    try:
        when = parsedate_to_datetime(http_date).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(when - (time.time() if now is None else now), 0.0)


def _number(raw: str) -> float | None:
    try:
        return float(raw)
    except (ValueError, OverflowError):
        return None


def parse_retry_after(headers: Mapping[str, str] | Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (the precise one, first) or
    ``retry-after`` (seconds or an HTTP-date), clamped; ``None`` when neither says."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        value = _number(ms)
        seconds = clamp_retry_after(value / 1000.0 if value is not None else None)
        if seconds is not None:
            return seconds
    raw = headers.get("retry-after")
    if not raw:
        return None
    value = _number(raw)
    if value is None:
        value = seconds_until(raw)
    return clamp_retry_after(value)
