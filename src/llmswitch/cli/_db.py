"""``llmswitch db upgrade`` / ``llmswitch db status``: the SQL database's schema.

Which database: ``--database-url``, else ``[storage] database_url`` of llmswitch.toml,
else ``$LLMSWITCH_DATABASE_URL``, else ``sqlite:///$LLMSWITCH_HOME/llmswitch.db`` —
the same chain the library uses, so the command sees the database clients use.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._exit import EXIT_ERROR, fail


def _open(args: argparse.Namespace) -> Any:
    from ..storage.sql import open_database

    if args.database_url:
        return open_database(args.database_url, field="--database-url")
    from ..config import storage_url

    # Only [storage] has to be valid: a schema upgrade needs no provider key.
    url = storage_url(args.config)
    if url:
        return open_database(url, field="[storage] database_url")
    return open_database(None)


def run_db(args: argparse.Namespace) -> int:
    from ..storage.sql import _migrate

    db = _open(args)
    try:
        if args.db_command == "upgrade":
            return _upgrade(db, _migrate)
        return _status(db, json_output=args.json, migrate=_migrate)
    finally:
        db.close()


def _upgrade(db: Any, migrate: Any) -> int:
    applied = db.upgrade()
    for version in applied:
        print(f"applied {version}: {migrate.description(version)}")
    status = db.status()
    if applied:
        print(f"{db.url}: schema version {status.current}, up to date")
    else:
        print(f"{db.url}: up to date (schema version {status.current})")
    return 0


def _status(db: Any, *, json_output: bool, migrate: Any) -> int:
    from ..errors import StorageError

    status = db.status()
    newer: StorageError | None = None
    try:
        migrate.refuse_newer(status)
    except StorageError as exc:
        newer = exc
    if json_output:
        print(json.dumps(status.as_dict(), indent=2))
    else:
        pending = ", ".join(
            f"{v} ({migrate.description(v)})" for v in status.pending
        )  # fmt: skip
        print(f"database  {status.url}" + ("" if status.exists else " (not created yet)"))
        print(f"schema    version {status.current} (latest {status.latest})")
        print(f"pending   {pending or 'none'}")
    sys.stdout.flush()
    if newer is not None:
        fail(newer)
        return EXIT_ERROR
    return 0
