"""Usage accounting: who called what, what it cost (issue 10).

- :func:`tags` / :func:`current_tags` / :class:`CallTags`: the who-is-calling fields.
- :class:`UsageRecord`: one ledger row (one billed attempt).
- ``usage.ledger``: the batched, journaled writer (``Ledger``, ``recover_journal``).
- :func:`report` / :func:`areport`: the ledger summed by day, provider, model, user,
  team, key or prompt; :func:`hints`: cheaper models and prompt-cache use per model;
  :func:`chart`: spend per day as a PNG (``llmswitch usage`` prints all three).
  The functions shadow their modules' names here: import from ``usage.report`` /
  ``usage.hints`` with ``from ... import``.
"""

from __future__ import annotations

from ._chart import chart
from ._record import STATUSES, UsageRecord, UsageStatus
from ._tags import CallTags, current_tags, tags
from .hints import hints
from .report import areport, report

__all__ = [
    "STATUSES",
    "CallTags",
    "UsageRecord",
    "UsageStatus",
    "areport",
    "chart",
    "current_tags",
    "hints",
    "report",
    "tags",
]
