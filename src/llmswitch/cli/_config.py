"""``llmswitch config check|schema|history``: validate llmswitch.toml, print its JSON
Schema, show the configuration changes clients applied (the audit log).

Only argparse is imported when the parser is built (``llmswitch --help`` stays fast);
each action imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ._exit import EXIT_ERROR

__all__ = ["add_config_parser", "run_config"]

_MAX_LIMIT = 10_000  # what the audit log returns at most in one read


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= _MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be 1..{_MAX_LIMIT}, got {value}")
    return value


def add_config_parser(commands: Any) -> None:
    config = commands.add_parser(
        "config",
        help="check llmswitch.toml, print its JSON Schema, show applied changes",
        description="Validate the configuration file, print the JSON Schema of the file, "
        "or list the configuration changes clients applied (from the audit log).",
    )
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="validate a config file and its selected overlay",
        description="Validate FILE (default: $LLMSWITCH_CONFIG, then ./llmswitch.toml) with "
        "the [env.NAME] overlay that $LLMSWITCH_ENV (or --env) selects. Prints 'ok: FILE', "
        "or every problem found as 'file:line: key: message' and exits 1.",
    )  # fmt: skip
    check.add_argument("file", metavar="FILE", nargs="?")
    check.add_argument(
        "--env", metavar="NAME", help="the overlay to check (default: $LLMSWITCH_ENV)"
    )
    actions.add_parser(
        "schema", help="print the JSON Schema of llmswitch.toml",
        description="Print the JSON Schema (draft 2020-12) of llmswitch.toml, overlays "
        "included: for editors and CI checks.",
    )  # fmt: skip
    history = actions.add_parser(
        "history", help="list the configuration changes clients applied",
        description="List applied configuration changes, newest first, from the audit log "
        "of the database: --database-url, else [storage] database_url in llmswitch.toml, "
        "else $LLMSWITCH_DATABASE_URL, else sqlite:///$LLMSWITCH_HOME/llmswitch.db.",
    )  # fmt: skip
    history.add_argument(
        "--limit", metavar="N", type=_limit, default=20, help="at most N (default 20)"
    )
    history.add_argument("--json", action="store_true", help="print JSON")
    history.add_argument(
        "--database-url", metavar="URL", help="sqlite:///path or postgresql://user@host:5432/db"
    )
    history.add_argument(
        "--config", metavar="PATH",
        help="llmswitch.toml to read [storage] from (default: $LLMSWITCH_CONFIG, then "
        "./llmswitch.toml)",
    )  # fmt: skip


def run_config(args: argparse.Namespace) -> int:
    if args.config_command == "check":
        return _check(args.file, args.env)
    if args.config_command == "schema":
        from ..config import json_schema

        sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
        return 0
    return _history(args)


def _check(file: str | None, overlay: str | None) -> int:
    from ..config import check_config
    from ..errors import ConfigurationError

    found, problems = check_config(file, os.environ, overlay=overlay or None)
    if found is None:
        raise ConfigurationError(
            "no config file to check: pass FILE, set $LLMSWITCH_CONFIG or create ./llmswitch.toml"
        )
    for problem in problems:
        print(" ".join(str(problem).split()))  # one line each, as the loader words it
    if problems:
        return EXIT_ERROR
    selected = overlay or os.environ.get("LLMSWITCH_ENV") or None
    print(f"ok: {found}" + (f" (env {selected})" if selected else ""))
    return 0


def _history(args: argparse.Namespace) -> int:
    from .._reload import AUDIT_ACTION
    from ..storage.sql import open_database
    from ..storage.sql.audit import read_audit

    url, where = _database(args)
    if url is None:
        print("no configuration changes recorded (no database yet)")
        return 0
    db = open_database(url, field=where)
    try:
        entries = db.read(
            lambda conn: read_audit(conn, limit=args.limit, action_prefix=AUDIT_ACTION)
        )
    finally:
        db.close()
    rows = [
        {
            "id": e.id,
            "at": _iso(e.at),
            "actor": e.actor,
            "action": e.action,
            "file": e.subject,
            "overlay": e.detail.get("overlay"),
            "changes": e.detail.get("changes", []),
        }
        for e in entries
    ]
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    if not rows:
        print(f"no configuration changes recorded in {db.url}")
        return 0
    for row in rows:
        changes = row["changes"] if isinstance(row["changes"], list) else []
        keys = ", ".join(str(c.get("key")) for c in changes[:8] if isinstance(c, dict))
        more = f" (+{len(changes) - 8} more)" if len(changes) > 8 else ""
        env = f" [env {row['overlay']}]" if row["overlay"] else ""
        print(f"{row['at']}  {row['actor']}  {row['file']}{env}")
        print(f"    {len(changes)} change(s): {keys}{more}")
    return 0


def _database(args: argparse.Namespace) -> tuple[str | None, str]:
    """The audit database's URL (``None``: there is none yet) and where it came from."""
    if args.database_url:
        return args.database_url, "--database-url"
    from .._reload import _database_url
    from ..config import Config, storage_url

    # Only [storage] is read: the history needs no provider key in the environment.
    config = Config(database_url=storage_url(args.config))
    where = "[storage] database_url" if config.database_url else "LLMSWITCH_DATABASE_URL"
    return _database_url(config, os.environ), where


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
