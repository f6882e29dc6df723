"""``[usage]`` of ``llmswitch.toml``, read into
:class:`~llmswitch.usage.ledger.LedgerSettings` (kept out of ``_validate``, which is
near its size cap). The keys and bounds come from ``_spec.USAGE``, the schema's too::

    [usage]
    enabled = true            # record even without an explicit [storage] database_url
                              # (false: never record, even with one)
    journal = "usage-journal" # the journal's directory, relative to this file
    flush_interval = 0.5      # seconds between commits, at most 1
    queue_cap = 10000         # records in memory before spilling to the journal only
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import _spec

__all__ = ["read_usage"]


def read_usage(v: Any, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``usage`` value of a :class:`~llmswitch.config.Config` (``{}``: no section).
    ``v`` is the ``_validate.Validator`` (not imported: that would be a cycle)."""
    if "usage" not in doc:
        return {}
    raw: dict[str, Any] | None = v.unit(v.plain, _spec.USAGE, doc, ("usage",), default=None)
    if raw is None:
        return {}
    from ..usage.ledger import LedgerSettings

    values: dict[str, Any] = {}
    journal = raw.get("journal")
    if journal:  # "${VAR:-}": the default
        path = os.path.expanduser(journal)
        values["journal"] = path if os.path.isabs(path) else os.path.join(v.directory, path)
    for key in ("enabled", "flush_interval", "queue_cap"):
        if key in raw:
            values[key] = raw[key]
    return {"usage": LedgerSettings(**values)}
