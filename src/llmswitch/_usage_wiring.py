"""The usage ledger a configuration asks for, wired into a client.

A client records usage when a database is configured explicitly
(``$LLMSWITCH_DATABASE_URL`` or ``[storage] database_url``) or ``[usage] enabled =
true`` (then the default SQLite file), unless ``[usage] enabled = false`` (the
database then serves the vault or prompts only). Otherwise there is no ledger and no layer:
zero cost. A reload keeps the ledger when its settings did not change (same
database, journal, interval, cap), so rows in flight are never handed between two
writers; otherwise the old one is closed after the swap (its remaining rows are
committed, or left in its journal for the next process).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .storage.sql import DATABASE_URL_ENV

if TYPE_CHECKING:
    from .config import Config
    from .usage.ledger import Ledger

__all__ = ["choose_ledger", "close_unless_kept", "settings_key"]


def settings_key(config: Config, env: Mapping[str, str]) -> tuple[Any, ...] | None:
    """What the ledger depends on; ``None``: this configuration records nothing."""
    usage = getattr(config, "usage", None)
    enabled = None if usage is None else usage.enabled
    if enabled is False:  # said off: even with a database configured
        return None
    explicit = config.database_url or env.get(DATABASE_URL_ENV)
    if not explicit and not enabled:
        return None
    return (config.database_url, env.get(DATABASE_URL_ENV), env.get("LLMSWITCH_HOME"), usage)


def choose_ledger(config: Config, env: Mapping[str, str], old: Ledger | None) -> Ledger | None:
    """``old`` when its settings are this configuration's, a new ledger when recording
    is on, else ``None``."""
    key = settings_key(config, env)
    if key is None:
        return None
    if old is not None and getattr(old, "settings_key", None) == key and not old.closed:
        return old
    from .storage.sql import open_database
    from .usage.ledger import Ledger, LedgerSettings

    usage = getattr(config, "usage", None) or LedgerSettings()
    field = "[storage] database_url" if config.database_url else "database_url"
    database = open_database(config.database_url, env, field=field)
    ledger = Ledger(
        database,
        journal=usage.journal,
        flush_interval=usage.flush_interval,
        queue_cap=usage.queue_cap,
        env=env,
        owns_database=True,
    )
    ledger.settings_key = key
    return ledger


def close_unless_kept(ledger: Ledger | None, kept: Ledger | None) -> None:
    """Close ``ledger`` unless it is ``kept`` (the one the live configuration uses),
    without waiting: a reload may run on an event loop's thread, and the writer
    commits its last rows (or leaves them in the journal) on its own."""
    if ledger is not None and ledger is not kept:
        ledger.close(timeout=0)
