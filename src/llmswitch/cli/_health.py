"""``llmswitch health [PROVIDER]``: probe providers live, one status line each."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from . import fail
from ._models import _IMPLICIT, Unconfigured

if TYPE_CHECKING:
    from ..messages import HealthStatus

_COLUMNS = ("PROVIDER", "STATUS", "LATENCY", "DETAIL")


def run_health(args: argparse.Namespace) -> int:
    from .. import Client
    from ..config import load_config
    from ..errors import ConfigurationError, LLMError
    from ..providers import registry

    if args.provider is not None:
        declared: list[str] = [args.provider]
        candidates = declared
    else:
        declared = list(load_config(args.config).providers)
        candidates = [*declared, *(p for p in registry.builtin_ids() if p not in declared)]

    statuses: list[HealthStatus] = []
    status = 0
    skipped = Unconfigured()
    # One after the other: probing at once would let one provider's setup (importing
    # botocore takes half a second) run inside another's measured round trip.
    with Client(config=args.config) as client:
        for pid in candidates:
            try:
                result = client.health(pid, timeout=args.timeout)
            except ConfigurationError as exc:
                if pid in declared:
                    status = fail(exc)
                else:  # a built-in nobody set up
                    skipped.add(pid, exc.message)
                continue
            except LLMError as exc:  # that provider failed; the others still count
                status = fail(exc)
                continue
            env = _IMPLICIT.get(pid)
            if not result.ok and pid not in declared and env and not os.environ.get(env):
                skipped.add(pid, env=env)  # not at its default address
                continue
            statuses.append(result)
            if not result.ok:
                status = 1
    if not statuses and status == 0:
        return fail(
            "no provider is configured: set an API key (e.g. OPENAI_API_KEY) "
            "or declare providers in llmswitch.toml"
        )
    skipped.report()
    if args.json:
        sys.stdout.write(json.dumps([_to_json(s) for s in statuses], indent=2) + "\n")
    elif statuses:
        sys.stdout.write(format_status(statuses))
    return status


def format_status(statuses: list[HealthStatus]) -> str:
    """One aligned line per provider: ok/failed, round trip, then the server version
    (where it reports one) or the error."""
    rows = [_COLUMNS] + [
        (s.provider, "ok" if s.ok else "failed", _latency(s.latency_ms), _detail(s))
        for s in statuses
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if i == 2 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _latency(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _detail(s: HealthStatus) -> str:
    if not s.ok:
        error = " ".join((s.error or "failed").split())
        prefix = f"[{s.provider}] "  # the PROVIDER column says it already
        return error[len(prefix) :] if error.startswith(prefix) else error
    return f"version {s.version}" if s.version else ""


def _to_json(s: HealthStatus) -> dict[str, Any]:
    return {
        "provider": s.provider,
        "ok": s.ok,
        "latency_ms": s.latency_ms,
        "version": s.version,
        "error": s.error,
    }
