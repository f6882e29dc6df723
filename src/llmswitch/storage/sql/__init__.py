"""SQL storage: the database behind the key vault, the audit log and configuration
history. One URL picks it::

    db = open_database()            # $LLMSWITCH_DATABASE_URL, else
                                    # sqlite:///$LLMSWITCH_HOME/llmswitch.db
    db = open_database("postgresql://llmswitch@db.internal:5432/llmswitch")
    db.run(fn, *args)               # fn(conn: sqlalchemy.Connection, *args), one transaction
    await db.arun(fn, *args)        # the same fn on the async engine

Tables are in :mod:`.schema`, migrations in :mod:`.migrations` (applied on first use,
or by ``llmswitch db upgrade``), the audit log's helpers in :mod:`.audit`. Importing
this package does not import SQLAlchemy; opening a database's first connection does.
"""

from __future__ import annotations

from ._clock import now_ms
from ._url import (
    DATABASE_URL_ENV,
    HOME_ENV,
    default_database_url,
    default_home,
    resolve_database_url,
)
from .database import Database, open_database

__all__ = [
    "DATABASE_URL_ENV",
    "HOME_ENV",
    "Database",
    "default_database_url",
    "default_home",
    "now_ms",
    "open_database",
    "resolve_database_url",
]
