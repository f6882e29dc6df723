"""JSON in one place: orjson (fast, strict UTF-8) behind two small functions."""

from __future__ import annotations

from typing import Any

import orjson

loads = orjson.loads
JSONDecodeError = orjson.JSONDecodeError  # a ValueError subclass


dumps = orjson.dumps  # the function itself: a wrapper is a Python call on every request


def dumps_str(obj: Any) -> str:
    return orjson.dumps(obj).decode()
