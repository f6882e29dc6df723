"""The on-disk cache of what providers reported when their models were listed
(``client.list_models``): ``$LLMSWITCH_HOME/models-cache.json``, mode 0600.

Shape: ``{"version": 1, "providers": {"gemini": {"fetched_at": 1764590000.0, "models":
{"gemini-2.5-pro": {"context_window": 1048576, "max_output_tokens": 65536, ...}}}}}``.
Only facts are kept (limits, capability flags), never keys or raw bodies. The catalog
reads it (this module); the client layer writes it after a listing (``encode`` gives the
bytes), so this layer does no I/O beyond reading its data.

An entry older than the refresh interval (default a day) is not used: models change, and
the bundled data stands in until the next listing refreshes it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..messages import ModelInfo

__all__ = [
    "CACHE_FILE",
    "DEFAULT_REFRESH",
    "cache_path",
    "encode",
    "facts_of",
    "fresh",
    "read_cache",
]

CACHE_FILE = "models-cache.json"
DEFAULT_REFRESH = 86400.0
_FACTS = (
    "context_window",
    "max_output_tokens",
    "supports_tools",
    "supports_vision",
    "supports_reasoning",
    "supports_embeddings",
)


def cache_path(env: Mapping[str, str]) -> Path:
    """``$LLMSWITCH_HOME/models-cache.json``: the client's environment, else the process's,
    else ``~/.local/share/llmswitch``."""
    home = env.get("LLMSWITCH_HOME") or os.environ.get("LLMSWITCH_HOME")
    home = home or os.path.expanduser("~/.local/share/llmswitch")
    return Path(home) / CACHE_FILE


def read_cache(path: Path) -> dict[str, Any]:
    """The cache's ``providers`` table; ``{}`` when the file is missing or unreadable
    (a broken cache is only a cache: the next listing rewrites it)."""
    from .._json import loads

    try:
        raw = loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict) or raw.get("version") != 1:
        return {}
    providers = raw.get("providers")
    if not isinstance(providers, dict):
        return {}
    return {
        p: e
        for p, e in providers.items()
        if isinstance(e, dict) and isinstance(e.get("models"), dict)
        and isinstance(e.get("fetched_at"), int | float)
    }  # fmt: skip


def fresh(
    providers: Mapping[str, Any], refresh: float = DEFAULT_REFRESH, now: float | None = None
) -> dict[str, dict[str, Mapping[str, Any]]]:
    """provider -> model id -> facts, of the entries fetched less than ``refresh`` ago."""
    now = time.time() if now is None else now
    return {
        p: {m: f for m, f in e["models"].items() if isinstance(f, dict)}
        for p, e in providers.items()
        if now - e["fetched_at"] < refresh
    }


def facts_of(models: Sequence[ModelInfo]) -> dict[str, dict[str, Any]]:
    """The facts of a listing worth keeping: the known (non-None) limits and flags."""
    out: dict[str, dict[str, Any]] = {}
    for m in models:
        facts = {k: getattr(m, k) for k in _FACTS if getattr(m, k, None) is not None}
        if facts:
            out[m.id] = facts
    return out


def encode(providers: Mapping[str, Any]) -> bytes:
    """The cache file's bytes for ``providers`` (as :func:`read_cache` returns them)."""
    from .._json import dumps

    return dumps({"version": 1, "providers": dict(providers)})
