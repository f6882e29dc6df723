"""Time as the tables store it."""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    """Now as the tables store time: unix epoch milliseconds, UTC."""
    return time.time_ns() // 1_000_000
