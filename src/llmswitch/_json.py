"""JSON in one place: orjson (fast, strict UTF-8) behind two small functions."""

from __future__ import annotations

from typing import Any

import orjson

loads = orjson.loads
JSONDecodeError = orjson.JSONDecodeError  # a ValueError subclass


dumps = orjson.dumps  # the function itself: a wrapper is a Python call on every request


def dumps_str(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def decoded_key(name: str) -> str:
    """``name`` as ``loads`` returns it as an object key. orjson keeps the keys it
    decodes in a cache and hands out the same str object each time, so a stream
    parser's hot loop that looks keys up with these objects matches them by identity
    before comparing characters (about 40 instructions a lookup). If the cache ever
    gives another object (an evicted key, another JSON library), the lookup compares
    characters, as with any equal str: only the saving is lost."""
    key = next(iter(loads(dumps({name: 0}))))
    if key != name:  # pragma: no cover - orjson returns what it was given
        raise ValueError(f"{name!r} did not round-trip")
    return key  # type: ignore[no-any-return]
