"""``client.usage_report()``: :func:`llmswitch.usage.report` on the client's own
database, as methods mixed into ``Client`` and ``AsyncClient``.

The database is the client's usage ledger's (``[storage] database_url``,
``$LLMSWITCH_DATABASE_URL``), else the default SQLite file. What this client recorded
is committed first: everything appended before the report, waiting at most
:data:`FLUSH_WAIT` (30) seconds, which covers creating the schema of a fresh database (a
database that is down leaves the rest in the journal and the report goes on without
it), so a report right after a call includes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["AsyncUsageReports", "UsageReports"]

FLUSH_WAIT = 30.0


class _WithCore(Protocol):
    # What the methods use of the client (its configuration's ledger and settings);
    # declared here rather than on the mixins, so the client keeps its own type.
    @property
    def _core(self) -> Any: ...


class UsageReports:
    """The sync method (``Client``)."""

    def usage_report(
        self: _WithCore,
        by: str | Iterable[str] = ("day",),
        since: Any = None,
        until: Any = None,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """The ledger summed by ``by`` over ``since``..``until`` (both inclusive), rows
        matching ``filters``: see :func:`llmswitch.usage.report` for the arguments and
        the rows::

            client.usage_report(by=("day", "model"), since="7d", team="ml")
        """
        from .usage.report import report

        ledger = self._core.ledger
        if ledger is None:
            return report(self._core.config.database_url, by, since, until, **filters)
        ledger.flush(FLUSH_WAIT)
        return report(ledger.database, by, since, until, **filters)


class AsyncUsageReports:
    """The async method (``AsyncClient``): the same, never blocking the loop."""

    async def usage_report(
        self: _WithCore,
        by: str | Iterable[str] = ("day",),
        since: Any = None,
        until: Any = None,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """See :meth:`UsageReports.usage_report`."""
        import asyncio  # here: `import llmswitch` skips asyncio's ~18 ms for sync users

        from .usage.report import report

        ledger = self._core.ledger
        if ledger is None:
            url = self._core.config.database_url
            return await asyncio.to_thread(report, url, by, since, until, **filters)
        await asyncio.to_thread(ledger.flush, FLUSH_WAIT)
        # The ledger's Database serves its writer thread on the sync engine: the report
        # runs there too (in a thread), not on an async engine tied to this loop.
        return await asyncio.to_thread(report, ledger.database, by, since, until, **filters)
