"""Usage accounting: who called what, what it cost (issue 10).

- :func:`tags` / :func:`current_tags` / :class:`CallTags`: the who-is-calling fields.
- :class:`UsageRecord`: one ledger row (one billed attempt).
- ``usage.ledger``: the batched, journaled writer (``Ledger``, ``recover_journal``).
"""

from __future__ import annotations

from ._record import STATUSES, UsageRecord, UsageStatus
from ._tags import CallTags, current_tags, tags

__all__ = ["STATUSES", "CallTags", "UsageRecord", "UsageStatus", "current_tags", "tags"]
