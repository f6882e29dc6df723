"""``client.feedback(request_id, score, comment=None)``, mixed into the clients.

The score is stored in the database the client records usage into (its usage
ledger's: ``[storage] database_url``, ``$LLMSWITCH_DATABASE_URL`` or ``[usage] enabled``)
against ``request_id``, the id an answer carries (``resp.request_id``; a stream's
``response.request_id``), so ``llmswitch prompts report`` shows it per prompt version
and experiment variant. A client that records no usage gives its answers no request id,
and feedback on it is refused; so is an id no row of the ledger carries. See
:mod:`llmswitch.prompts.feedback`.
"""

from __future__ import annotations

from typing import Any, Protocol

from .errors import ConfigurationError

__all__ = ["AsyncFeedbackCalls", "FeedbackCalls"]


class _WithCore(Protocol):
    @property
    def _core(self) -> Any: ...


def _flushed_database(client: _WithCore) -> Any:
    """The ledger's database, once the rows appended so far are written: the id of an
    answer just returned must be found there (feedback checks it is)."""
    database = _database(client)
    client._core.ledger.flush()
    return database


def _database(client: _WithCore) -> Any:
    ledger = client._core.ledger
    if ledger is None:
        raise ConfigurationError(
            "feedback needs the usage ledger's database: set [storage] database_url or "
            "LLMSWITCH_DATABASE_URL (or [usage] enabled = true)",
            field="database_url",
        )
    return ledger.database


def _user() -> str | None:
    from .usage._tags import current_tags

    return current_tags().user


class FeedbackCalls:
    """The sync method (``Client``)."""

    def feedback(
        self: _WithCore, request_id: str, score: float, comment: str | None = None
    ) -> None:
        """Record a user's ``score`` (any finite number on your scale: 1/0 for thumbs,
        1-5 stars) and ``comment`` for the answer ``request_id``; given again for the
        same request, the new score replaces the old one::

            resp = client.chat(prompt="support:production", variables={...}, user="u-42")
            client.feedback(resp.request_id, 1, "solved my problem")
        """
        from .prompts.feedback import feedback

        feedback(_flushed_database(self), request_id, score, comment, user=_user(),
                 known_only=True)  # fmt: skip


class AsyncFeedbackCalls:
    """The async method (``AsyncClient``): the same, never blocking the loop."""

    async def feedback(
        self: _WithCore, request_id: str, score: float, comment: str | None = None
    ) -> None:
        """See :meth:`FeedbackCalls.feedback`."""
        from .prompts.feedback import feedback

        # The ledger's Database serves its writer thread on the sync engine: the write
        # runs there too (in a thread), as client.usage_report() does.
        user = _user()

        def write() -> None:
            feedback(_flushed_database(self), request_id, score, comment, user=user,
                     known_only=True)  # fmt: skip

        import asyncio  # here: `import llmswitch` skips asyncio's ~18 ms for sync users

        await asyncio.to_thread(write)
