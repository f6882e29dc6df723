"""What the SQL ledger says a budget's period has cost so far: the seed of a counter
that is missing (a new process with the memory backend, a new or flushed Redis)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._budget_store import Slot

__all__ = ["spend_of"]


def spend_of(conn: Any, slots: Sequence[Slot]) -> list[int]:
    """Per slot, the sum of ``usage_ledger.cost_nano`` (rows of unknown cost count 0)
    of the calls its scope covers in its period (``at`` is epoch ms)."""
    from sqlalchemy import and_, func, select

    from ..storage.sql.schema import usage_ledger as t

    out: list[int] = []
    for slot in slots:
        b = slot.budget
        where = [t.c.at >= int(slot.start * 1000), t.c.at < int(slot.end * 1000)]
        if b.kind == "user":
            where.append(t.c.user == b.value)
        elif b.kind == "team":
            where.append(t.c.team == b.value)
        elif b.kind == "key":
            where.append(t.c.access_key == b.value)
        elif b.kind == "provider":
            where.append(t.c.provider == b.value)
        elif b.kind == "model":
            provider, sep, model = b.value.partition("/")
            if sep:  # "provider/model", or a model id with a slash (a group deployment)
                where.append(
                    (and_(t.c.provider == provider, t.c.model == model)) | (t.c.model == b.value)
                )
            else:
                where.append(t.c.model == b.value)
        total = conn.execute(select(func.coalesce(func.sum(t.c.cost_nano), 0)).where(*where))
        out.append(int(total.scalar_one()))
    return out
