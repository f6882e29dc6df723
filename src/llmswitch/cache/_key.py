"""The cache key: a stable hash of everything that changes the answer, and its scope.

A key is ``<prefix>e:<user>.<team>.<model>.<digest>`` (``e:`` for entry: the Redis
backend keeps its locks under ``<prefix>l:`` and its counters at ``<prefix>stats``):

- ``user``, ``team``: 12 hex digits of a hash of the caller's user (the
  ``usage.tags`` user, else the request's ``user=``) and team, ``-`` when unset. Two
  tenants never share an entry; the parts are hashed so no name is stored in clear.
- ``model``: the hashed target: ``provider/model`` after alias resolution, or the model
  group's name (a group's hit does not depend on which deployment the router would
  pick; its members are in the digest, so editing the group starts fresh entries).
- ``digest``: SHA-256 (128 bits kept) of a canonical orjson encoding (sorted keys) of the target,
  messages, system, tools, tool_choice, temperature, max_tokens, top_p, stop,
  response_format, reasoning and extra_body. Not in it: ``metadata`` and
  ``extra_headers`` (tracing, not the answer) and ``timeout``.

The separate parts let :meth:`ResponseCache.invalidate` drop a model's or a tenant's
entries by pattern, in memory and in Redis alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from ..messages import ChatRequest

__all__ = ["NONE_TAG", "Uncacheable", "digest", "key_pattern", "make_key", "tag"]

NONE_TAG = "-"
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


class Uncacheable(Exception):
    """The request holds a value that has no canonical encoding (a call object in
    ``extra_body``): it is not cached."""


_tags: dict[str, str] = {}  # a few users, teams and models: hashed once each


def tag(value: str | None) -> str:
    """A short, stable, non-reversible name part (``-`` for ``None``)."""
    if value is None:
        return NONE_TAG
    found = _tags.get(value)
    if found is None:
        if len(_tags) >= 4096:  # names made on the fly: stay bounded
            _tags.clear()
        found = _tags[value] = hashlib.sha256(value.encode()).hexdigest()[:12]
    return found


def _default(value: Any) -> Any:
    if isinstance(value, Mapping):  # MappingProxyType and other read-only mappings
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError


def digest(request: ChatRequest, target: str) -> str:
    """The answer-changing part of ``request`` for ``target``, hashed."""
    r = request
    body = (
        target, r.messages, r.system, r.tools, r.tool_choice, r.temperature, r.max_tokens,
        r.top_p, r.stop, r.response_format, r.reasoning, r.extra_body,
    )  # fmt: skip
    try:
        blob = orjson.dumps(body, default=_default, option=_OPTIONS)
    except TypeError as exc:
        raise Uncacheable(str(exc)) from None
    return hashlib.sha256(blob).hexdigest()[:32]


def make_key(prefix: str, user: str | None, team: str | None, model: str, hashed: str) -> str:
    return f"{prefix}e:{tag(user)}.{tag(team)}.{tag(model)}.{hashed}"


def key_pattern(
    prefix: str, *, user: str | None = None, team: str | None = None, model: str | None = None
) -> str:
    """A glob (Redis ``SCAN MATCH`` and :func:`fnmatch` alike) of the keys of ``user``,
    ``team`` and ``model``; an argument left ``None`` matches any."""
    parts = [tag(x) if x is not None else "*" for x in (user, team, model)]
    return f"{prefix}e:{parts[0]}.{parts[1]}.{parts[2]}.*"
