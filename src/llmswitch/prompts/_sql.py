"""The prompt tables' statements, written once over a SQLAlchemy ``Connection`` so the
store runs them with ``Database.run``/``read`` (sync) or ``arun``/``aread`` (async).

Versions are numbered 1, 2, ... per name by the writer: it reads the highest and
inserts the next inside a savepoint; two writers that pick the same number at once on
PostgreSQL (SQLite serializes writers) collide on the primary key, and the loser reads
again and takes the next one. Every add and label move is also written to the audit
log, in the same transaction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from .._json import dumps_str
from ..storage.sql.audit import write_audit
from ..storage.sql.schema import prompt_labels, prompt_versions

__all__ = [
    "Row",
    "insert_version",
    "label_map",
    "labels_of",
    "latest_of",
    "move_label",
    "pointer",
    "select_version",
    "summaries",
    "versions_of",
]

_WRITE_TRIES = 20


@dataclass(frozen=True, slots=True)
class Row:
    """A ``prompt_versions`` row (``content`` is the JSON text)."""

    name: str
    version: int
    content: str
    content_hash: str
    author: str | None
    message: str | None
    created_at: int
    created: bool = True  # False: an add that found the same content as the latest


_COLUMNS = (
    prompt_versions.c.name, prompt_versions.c.version, prompt_versions.c.content,
    prompt_versions.c.content_hash, prompt_versions.c.author, prompt_versions.c.message,
    prompt_versions.c.created_at,
)  # fmt: skip


def _row(found: Any, created: bool = True) -> Row:
    return Row(*found, created=created)  # type: ignore[misc]


def select_version(conn: Connection, name: str, version: int) -> Row | None:
    t = prompt_versions
    found = conn.execute(select(*_COLUMNS).where(t.c.name == name, t.c.version == version)).first()
    return None if found is None else _row(found)


def latest_of(conn: Connection, name: str) -> Row | None:
    t = prompt_versions
    query = select(*_COLUMNS).where(t.c.name == name).order_by(t.c.version.desc()).limit(1)
    found = conn.execute(query).first()
    return None if found is None else _row(found)


def pointer(conn: Connection, name: str, label: str | None) -> int | None:
    """The version ``label`` points to (``None``: latest), ``None`` when there is none."""
    if label is None:
        t = prompt_versions
        return conn.execute(select(func.max(t.c.version)).where(t.c.name == name)).scalar()
    t2 = prompt_labels
    query = select(t2.c.version).where(t2.c.name == name, t2.c.label == label)
    return conn.execute(query).scalar()


def versions_of(conn: Connection, name: str) -> list[Row]:
    t = prompt_versions
    rows = conn.execute(select(*_COLUMNS).where(t.c.name == name).order_by(t.c.version))
    return [_row(r) for r in rows]


def labels_of(conn: Connection, name: str) -> dict[str, int]:
    t = prompt_labels
    rows = conn.execute(select(t.c.label, t.c.version).where(t.c.name == name).order_by(t.c.label))
    return {label: version for label, version in rows}


def label_map(conn: Connection) -> dict[str, dict[str, int]]:
    t = prompt_labels
    out: dict[str, dict[str, int]] = {}
    for name, label, version in conn.execute(
        select(t.c.name, t.c.label, t.c.version).order_by(t.c.name, t.c.label)
    ):
        out.setdefault(name, {})[label] = version
    return out


def summaries(conn: Connection) -> list[tuple[str, int, int, int]]:
    """``(name, latest version, first created_at, last created_at)`` per prompt."""
    t = prompt_versions
    query = (
        select(t.c.name, func.max(t.c.version), func.min(t.c.created_at), func.max(t.c.created_at))
        .group_by(t.c.name)
        .order_by(t.c.name)
    )
    return [(n, int(v), int(a), int(b)) for n, v, a, b in conn.execute(query)]


def insert_version(
    conn: Connection,
    name: str,
    content: dict[str, Any],
    content_hash: str,
    author: str | None,
    message: str | None,
    now: int,
) -> Row:
    """A new version of ``name`` with ``content`` — or the latest, unchanged, when its
    content is the same (``created=False``)."""
    from sqlalchemy.exc import IntegrityError

    text = dumps_str(content)
    for _ in range(_WRITE_TRIES):
        latest = latest_of(conn, name)
        if latest is not None and latest.content_hash == content_hash:
            return dataclasses.replace(latest, created=False)
        version = 1 if latest is None else latest.version + 1
        try:
            with conn.begin_nested():
                conn.execute(
                    prompt_versions.insert().values(
                        name=name,
                        version=version,
                        content=text,
                        content_hash=content_hash,
                        author=author,
                        message=message,
                        created_at=now,
                    )
                )
        except IntegrityError:
            continue  # another writer took this number: read again
        write_audit(
            conn, actor=author or "unknown", action="prompt.add", subject=f"{name}@{version}",
            detail={"content_hash": content_hash, "message": message}, at=now,
        )  # fmt: skip
        return Row(name, version, text, content_hash, author, message, now)
    raise RuntimeError(f"prompt {name!r}: no free version number after {_WRITE_TRIES} tries")


def move_label(
    conn: Connection, name: str, label: str, version: int, by: str | None, now: int
) -> int | None:
    """Point ``label`` at ``version`` (which the caller checked exists); the version it
    pointed to before, or ``None`` for a new label."""
    from sqlalchemy.exc import IntegrityError

    t = prompt_labels
    where = (t.c.name == name, t.c.label == label)
    before: int | None = None
    for _ in range(_WRITE_TRIES):
        before = conn.execute(select(t.c.version).where(*where)).scalar()
        if before is not None:
            conn.execute(
                t.update().where(*where).values(version=version, updated_at=now, updated_by=by)
            )
            break
        try:
            with conn.begin_nested():
                conn.execute(
                    t.insert().values(
                        name=name, label=label, version=version, updated_at=now, updated_by=by
                    )
                )
            break
        except IntegrityError:
            continue  # created meanwhile: update it
    write_audit(
        conn, actor=by or "unknown", action="prompt.label", subject=f"{name}:{label}",
        detail={"version": version, "before": before}, at=now,
    )  # fmt: skip
    return before
