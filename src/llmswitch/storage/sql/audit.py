"""The audit log: who changed what, when. Written by configuration applies and by the
key vault, in the same transaction as the change it records::

    def add_key(conn, record):
        conn.execute(provider_keys.insert().values(**record))
        write_audit(conn, actor="cli:root@host", action="key.add", subject=record["id"],
                    detail={"provider": record["provider"]})

    db.run(add_key, record)
    db.read(lambda conn: read_audit(conn, limit=20, action_prefix="key."))

``detail`` is stored as JSON; callers mask secrets before it gets here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from ...errors import ConfigurationError, StorageError
from ._clock import now_ms
from .schema import audit_log

__all__ = [
    "MAX_DETAIL_BYTES",
    "MAX_READ",
    "MAX_READ_BYTES",
    "AuditEntry",
    "read_audit",
    "write_audit",
]

MAX_DETAIL_BYTES = 256 << 10  # a masked config diff is far smaller; bounds one row
MAX_READ = 10_000
# What one read_audit call parses at most, whatever the database holds (a database is
# input too): records are small, so only a tampered or foreign table gets near it.
MAX_READ_BYTES = 64 << 20
_LIMITS = {"actor": 200, "action": 64, "subject": 500}


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One audit record. ``at`` is unix epoch milliseconds, UTC."""

    id: int
    at: int
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any]


def write_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject: str | None,
    detail: dict[str, Any],
    at: int | None = None,
) -> int:
    """Record one change (``at`` defaults to now); returns the record's id."""
    for name, value in (("actor", actor), ("action", action), ("subject", subject)):
        if value is None and name == "subject":
            continue
        if not isinstance(value, str) or not value:
            raise ConfigurationError(f"audit {name} must be a non-empty string", field=name)
        if len(value) > _LIMITS[name]:
            raise ConfigurationError(
                f"audit {name} is {len(value)} characters, over its {_LIMITS[name]}", field=name
            )
    if not isinstance(detail, dict):
        raise ConfigurationError("audit detail must be a dict", field="detail")
    try:
        encoded = json.dumps(detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"audit detail is not JSON: {exc}", field="detail") from None
    if len(encoded.encode()) > MAX_DETAIL_BYTES:
        raise ConfigurationError(
            f"audit detail is over {MAX_DETAIL_BYTES} bytes as JSON", field="detail"
        )
    result = conn.execute(
        audit_log.insert().values(
            at=now_ms() if at is None else at,
            actor=actor,
            action=action,
            subject=subject,
            detail=encoded,
        )
    )
    key = result.inserted_primary_key
    return int(key[0]) if key is not None else 0


def read_audit(
    conn: Connection, *, limit: int, action_prefix: str | None = None
) -> list[AuditEntry]:
    """The newest ``limit`` records (1..10000), newest first; only actions starting
    with ``action_prefix`` (e.g. ``"key."``) when given."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_READ:
        raise ConfigurationError(f"limit must be 1..{MAX_READ}, not {limit!r}", field="limit")
    query = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
    if action_prefix:
        query = query.where(audit_log.c.action.startswith(action_prefix, autoescape=True))
    entries = []
    budget = MAX_READ_BYTES
    for row in conn.execute(query):
        size = len(row.detail) if isinstance(row.detail, str) else 0
        if size > MAX_DETAIL_BYTES:
            raise StorageError(f"audit record {row.id}: detail is over {MAX_DETAIL_BYTES} bytes")
        budget -= size
        if budget < 0:
            raise StorageError(
                f"audit records before {row.id} hold over {MAX_READ_BYTES} bytes of detail; "
                "read fewer at a time"
            )
        try:
            detail = json.loads(row.detail)
        except (TypeError, ValueError):
            detail = None
        if not isinstance(detail, dict):
            raise StorageError(f"audit record {row.id}: detail is not a JSON object")
        entries.append(
            AuditEntry(
                id=row.id,
                at=row.at,
                actor=row.actor,
                action=row.action,
                subject=row.subject,
                detail=detail,
            )
        )
    return entries
