"""``llmswitch health [PROVIDER]``: probe providers live, one status line each."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ._exit import fail
from ._models import NO_PROVIDER, Unconfigured, every_provider, write

if TYPE_CHECKING:
    from ..messages import HealthStatus

_COLUMNS = ("PROVIDER", "STATUS", "LATENCY", "DETAIL")


def run_health(args: argparse.Namespace) -> int:
    from .. import Client
    from ..errors import ConfigurationError, LLMError

    if args.provider is not None:
        declared: list[str] = [args.provider]
        candidates = declared
    else:
        declared, candidates = every_provider(args.config)

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
                status = skipped.unset(pid, exc, declared) or status
                continue
            except LLMError as exc:  # that provider failed; the others still count
                status = fail(exc)
                continue
            if not result.ok and skipped.absent(pid, declared):
                continue  # not at its default address
            statuses.append(result)
            if not result.ok:
                status = 1
    if not statuses and status == 0:
        return fail(NO_PROVIDER)
    skipped.report()
    write(statuses, args.json, _to_json, format_status)
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
