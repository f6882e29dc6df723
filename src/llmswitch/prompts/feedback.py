"""User feedback on answers: ``client.feedback(request_id, score, comment=None)``.

``request_id`` is the id the answer carries (``resp.request_id``, also on a stream's
``response``), which is the ``request_id`` of the call's usage-ledger rows, so the
prompt analytics join a score to the prompt version and experiment variant that
produced the answer. A score is any finite number on the scale you choose (1/0 for
thumbs up/down, 1-5 stars...): reports compare means, so keep one scale per prompt.
Feedback given again for the same request replaces the earlier one (the last word
counts, one score per answer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.sql import Database

__all__ = ["Feedback", "afeedback", "feedback", "get_feedback"]

_COMMENT_MAX = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Feedback:
    """One stored score. ``at``: epoch milliseconds."""

    request_id: str
    score: float
    comment: str | None
    user: str | None
    at: int


def _checked(request_id: Any, score: Any, comment: Any) -> tuple[str, float, str | None]:
    if not isinstance(request_id, str) or not request_id or len(request_id) > 64:
        raise ConfigurationError(
            "feedback: request_id must be the answer's request_id (resp.request_id), "
            f"got {request_id!r}",
            field="request_id",
        )
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise ConfigurationError(
            f"feedback: score must be a finite number, got {score!r}", field="score"
        )
    if comment is not None and not isinstance(comment, str):
        raise ConfigurationError("feedback: comment must be text", field="comment")
    if comment is not None and len(comment) > _COMMENT_MAX:
        comment = comment[:_COMMENT_MAX]
    return request_id, float(score), comment


def _upsert(conn: Connection, row: dict[str, Any]) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    from ..storage.sql.schema import prompt_feedback as t

    # INSERT ... ON CONFLICT DO UPDATE: both dialects spell it the same way.
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement: Any = dialect.insert(t).values(**row)
    update = {name: statement.excluded[name] for name in ("score", "comment", "user", "at")}
    conn.execute(statement.on_conflict_do_update(index_elements=["request_id"], set_=update))


def _row(request_id: Any, score: Any, comment: Any, user: str | None) -> dict[str, Any]:
    from ..storage.sql import now_ms

    rid, value, text = _checked(request_id, score, comment)
    return {"request_id": rid, "score": value, "comment": text, "user": user, "at": now_ms()}


def _answered(conn: Connection, request_id: str) -> bool:
    from sqlalchemy import select

    from ..storage.sql.schema import usage_ledger as t

    found = conn.execute(select(t.c.request_id).where(t.c.request_id == request_id).limit(1))
    return found.first() is not None


def feedback(
    database: Database,
    request_id: str,
    score: float,
    comment: str | None = None,
    *,
    user: str | None = None,
    known_only: bool = False,
) -> None:
    """Store ``score`` (and ``comment``) for the answer ``request_id`` (module docs).

    ``known_only``: refuse (``ConfigurationError``, field ``request_id``) an id no row of
    the usage ledger carries, so a mistyped or foreign id is not stored as a score no
    report can ever join (``client.feedback`` sets it, after flushing its ledger)."""
    row = _row(request_id, score, comment, user)
    if known_only and not database.read(_answered, row["request_id"]):
        raise ConfigurationError(
            f"feedback: no answer with request_id {request_id!r} in the usage ledger "
            "(give the id an answer carries: resp.request_id)",
            field="request_id",
        )
    database.run(_upsert, row)


async def afeedback(
    database: Database,
    request_id: str,
    score: float,
    comment: str | None = None,
    *,
    user: str | None = None,
) -> None:
    await database.arun(_upsert, _row(request_id, score, comment, user))


def _get(conn: Connection, request_id: str) -> Feedback | None:
    from sqlalchemy import select

    from ..storage.sql.schema import prompt_feedback as t

    row = conn.execute(select(t).where(t.c.request_id == request_id)).mappings().first()
    if row is None:
        return None
    return Feedback(
        request_id=row["request_id"],
        score=float(row["score"]),
        comment=row["comment"],
        user=row["user"],
        at=int(row["at"]),
    )


def get_feedback(database: Database, request_id: str) -> Feedback | None:
    """The score stored for ``request_id``, if any."""
    return database.read(_get, request_id)
