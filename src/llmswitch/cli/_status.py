"""``llmswitch status``: breaker states and key cooldowns in a shared state store.

It can only show what the store holds for names the config declares: the deployments
of model groups and alias targets (breakers), and each provider's configured key
(key pools). Layers must use their default key prefixes to be found.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

_MEMORY_NOTE = (
    "memory:// state lives inside the process that uses it, so there is nothing to read "
    "from here; set [state] url in llmswitch.toml or pass --state-url redis://host:port/db "
    "(the store your clients share)"
)


def _deployments(config: Any) -> list[str]:
    names: dict[str, None] = {}
    for group in config.models.values():
        for d in group.deployments:
            names[d.model] = None
    for target in config.aliases.values():
        if "/" in target:
            names[target] = None
    return list(names)


def collect(config: Any, url: str) -> dict[str, Any]:
    """What the store at ``url`` holds for the breakers and keys ``config`` declares."""
    from ..keys.pool import KeyPool
    from ..middleware.breaker import CircuitBreaker
    from ..storage import open_store
    from ..storage.base import display_url

    # The same secret as the clients, or the hashed key names would not match theirs.
    secret = getattr(config, "state_secret", None)
    store = open_store(url, secret=secret.get() if secret is not None else None)
    try:
        breaker = CircuitBreaker(store)
        now = time.time()
        breakers = {}
        for name in _deployments(config):
            s = breaker.state(name)
            remaining = max(0.0, s.opens_until - now) if s.opens_until is not None else 0.0
            breakers[name] = {
                "state": s.state, "failures": s.failures, "calls": s.calls,
                "open_for": round(remaining, 1),
            }  # fmt: skip
        keys = {}
        for pid, pc in config.providers.items():
            # A key pool (`keys = [...]`) as the client builds it, else the single key.
            secrets = list(pc.keys) or ([pc.api_key] if pc.api_key else [])
            if secrets:
                keys[pid] = [
                    {"key": k.key, "state": k.state, "cooldown": round(k.cooldown_remaining, 1)}
                    for k in KeyPool(pid, secrets, store=store).status()
                ]
    finally:
        store.close()
    return {"state_url": display_url(url), "breakers": breakers, "keys": keys}


def run_status(args: argparse.Namespace) -> int:
    from ..config import load_config

    config = load_config(args.config)
    # The store the clients of this config share: what Client() opens for [state].url.
    url = args.state_url or config.state or "memory://"
    cache = shared_cache(config)  # a Redis response cache's counters, else None
    if url == "memory://":
        if args.json:
            out: dict[str, Any] = {"state_url": url, "breakers": {}, "keys": {}}
            out["note"] = _MEMORY_NOTE
            print(json.dumps({**out, **({"cache": cache} if cache else {})}))
        elif cache:
            _cache_table(cache)
        else:
            print(f"llmswitch status: {_MEMORY_NOTE}", file=sys.stderr)
        return 0
    report = collect(config, url)
    if cache:
        report["cache"] = cache
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    if cache:
        _cache_table(cache)
        print()
    if not report["breakers"] and not report["keys"]:
        if cache:
            return 0
        print(
            "nothing to report: the config declares no model groups, aliases or provider keys",
            file=sys.stderr,
        )
        return 0
    if report["breakers"]:
        rows = [("DEPLOYMENT", "BREAKER", "FAILED/CALLS", "OPEN FOR")]
        for name, b in report["breakers"].items():
            open_for = f"{b['open_for']:.1f}s" if b["state"] == "open" else "-"
            rows.append((name, b["state"], f"{b['failures']}/{b['calls']}", open_for))
        _table(rows)
    if report["keys"]:
        if report["breakers"]:
            print()
        rows = [("PROVIDER", "KEY", "STATE", "COOLDOWN")]
        for pid, states in report["keys"].items():
            for k in states:
                cooldown = f"{k['cooldown']:.1f}s" if k["state"] == "cooling" else "-"
                rows.append((pid, k["key"], k["state"], cooldown))
        _table(rows)
    return 0


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def shared_cache(config: Any) -> dict[str, Any] | None:
    """``[cache]``'s counters and size when its url is Redis (shared by every process
    that uses it); ``None`` for no cache or ``memory://`` (nothing to read from here)."""
    settings = getattr(config, "cache", None)
    if settings is None or settings.url == "memory://":
        return None
    from ..cache.redis_backend import RedisBackend

    backend = RedisBackend(settings.url, prefix=settings.prefix)
    try:
        stats = backend.stats()
    finally:
        backend.close()
    if "hits" not in stats:  # Redis unreachable (logged): say so, do not fail
        return {"url": stats["url"], "error": "unreachable"}
    looked = stats["hits"] + stats["misses"]
    stats["hit_ratio"] = round(stats["hits"] / looked, 4) if looked else None
    stats["saved_usd"] = stats["saved_nano"] / 1e9
    return stats


def _cache_table(cache: dict[str, Any]) -> None:
    if "error" in cache:
        print(f"response cache {cache['url']}: {cache['error']}")
        return
    ratio = "-" if cache["hit_ratio"] is None else f"{cache['hit_ratio']:.1%}"
    rows = [
        ("CACHE", "HITS", "MISSES", "HIT RATIO", "ENTRIES", "BYTES", "SAVED USD"),
        (
            cache["url"], str(cache["hits"]), str(cache["misses"]), ratio,
            str(cache["entries"]), str(cache["bytes"]), f"{cache['saved_usd']:.6f}",
        ),
    ]  # fmt: skip
    _table(rows)
    semantic = cache.get("semantic")
    if semantic:  # [cache.semantic]'s counters, shared by every process on this Redis
        similarity = semantic["similarity"]
        print()
        _table(
            [
                ("SEMANTIC LOOKUPS", "HITS", "MISSES", "MEAN SIMILARITY"),
                (
                    str(semantic["lookups"]), str(semantic["hits"]), str(semantic["misses"]),
                    "-" if similarity is None else f"{similarity:.4f}",
                ),
            ]
        )  # fmt: skip
