"""``llmswitch users add|key|list|revoke``: the gateway's users and access keys.

Which database: ``--database-url``, else ``[storage] database_url`` of llmswitch.toml,
else ``$LLMSWITCH_DATABASE_URL``, else the SQLite file under ``$LLMSWITCH_HOME`` — the
chain the library and ``llmswitch serve`` use, so a key issued here is seen by a running
gateway (within its cache's 30 s; a revoke likewise).

``users key`` prints the new key once, alone on the last line of stdout (what it is
for is on the lines above), so ``llmswitch users key ana | tail -n1`` captures it. Only
its hash is stored; nothing else ever prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._exit import fail

if TYPE_CHECKING:
    from ..gateway.tenancy import AccessKeyRecord, TenantStore

_MAX_DAYS = 36500


def add_users_parser(commands: Any, config_option: Any) -> None:
    """The ``users`` subcommand and its actions (called by ``cli.build_parser``)."""
    users = commands.add_parser(
        "users",
        help="manage the gateway's users, teams and access keys",
        description="Users, teams and access keys of the gateway, in the database "
        "(--database-url, [storage] database_url, $LLMSWITCH_DATABASE_URL). Keys are "
        "stored hashed and shown once.",
    )
    actions = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", help="add a user", description="Add user NAME (1-64 characters of letters, "
        "digits, '.', '_', '@', '-'), in team T (made if missing).",
    )  # fmt: skip
    add.add_argument("name", metavar="NAME")
    add.add_argument("--team", metavar="T", help="the user's team")
    key = actions.add_parser(
        "key", help="issue an access key (printed once, alone on the last line)",
        description="Issue an access key for user NAME. The key is printed once, alone on "
        "the last line of stdout, and cannot be shown again.",
    )  # fmt: skip
    key.add_argument("name", metavar="NAME")
    key.add_argument("--name", dest="label", metavar="LABEL", help="what the key is for")
    key.add_argument("--expires", metavar="DAYS", type=_days, help="expire after DAYS days")
    listing = actions.add_parser(
        "list", help="list users with their team and keys (never the keys themselves)",
        description="Users with their team and their keys' ids, prefixes and status.",
    )  # fmt: skip
    listing.add_argument("--format", choices=("table", "json"), default="table")
    revoke = actions.add_parser(
        "revoke", help="revoke an access key",
        description="Revoke access key KEY_ID (key_...): it stops working at once for new "
        "requests (within 30 s on running gateways).",
    )  # fmt: skip
    revoke.add_argument("key_id", metavar="KEY_ID")
    for parser in actions.choices.values():
        parser.add_argument(
            "--database-url", metavar="URL", help="sqlite:///path or postgresql://user@host:5432/db"
        )
        config_option(parser)


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not 0 < days <= _MAX_DAYS:
        raise argparse.ArgumentTypeError(f"DAYS must be > 0 and <= {_MAX_DAYS}, got {text!r}")
    return days


def _open(args: argparse.Namespace) -> Any:
    import os

    from ..storage.sql import open_database

    if args.database_url:
        return open_database(args.database_url, field="--database-url")
    from ..config import storage_url

    url = storage_url(args.config)
    if url:
        return open_database(url, field="[storage] database_url")
    return open_database(None, os.environ)


def _actor() -> str:
    from ._keys import _actor as actor

    return actor()


def run_users(args: argparse.Namespace) -> int:
    from ..errors import LLMError
    from ..gateway.tenancy import TenantStore

    db = _open(args)
    action = _ACTIONS[args.users_command]

    async def main() -> int:
        try:
            return await action(TenantStore(db, actor=_actor()), args)
        finally:
            await db.aclose()

    try:
        return asyncio.run(main())
    except LLMError as exc:
        return fail(exc)


async def _add(store: TenantStore, args: argparse.Namespace) -> int:
    user = await store.add_user(args.name, team=args.team)
    team = f" in team {user.team}" if user.team else ""
    print(f"added user {user.name}{team}")
    return 0


async def _key(store: TenantStore, args: argparse.Namespace) -> int:
    expires = None
    if args.expires is not None:
        expires = datetime.now(UTC) + timedelta(days=args.expires)
    record, key = await store.issue_key(args.name, name=args.label, expires_at=expires)
    label = f" ({record.name})" if record.name else ""
    until = f", expires {_iso(record.expires_at)}" if record.expires_at else ""
    print(f"access key {record.id}{label} for user {record.user}{until}")
    print("store it now: it is shown once, only its hash is kept")
    print(key)
    return 0


async def _revoke(store: TenantStore, args: argparse.Namespace) -> int:
    if await store.revoke_key(args.key_id):
        print(f"revoked {args.key_id}")
        return 0
    record = await store.get_key(args.key_id)
    if record is None:
        return fail(f"no access key {args.key_id!r} (see llmswitch users list)")
    return fail(f"access key {args.key_id} is revoked already")


async def _list(store: TenantStore, args: argparse.Namespace) -> int:
    users = await store.list_users()
    keys: dict[str, list[AccessKeyRecord]] = {}
    for record in await store.list_keys():
        keys.setdefault(record.user, []).append(record)
    now = datetime.now(UTC)
    if args.format == "json":
        out = [
            {
                "name": u.name, "team": u.team, "disabled": u.disabled,
                "created_at": _iso(u.created_at),
                "keys": [_key_json(k, now) for k in keys.get(u.name, [])],
            }
            for u in users
        ]  # fmt: skip
        print(json.dumps(out, indent=2))
        return 0
    if not users:
        print("no users (add one with: llmswitch users add NAME)")
        return 0
    rows = [("USER", "TEAM", "KEY", "NAME", "PREFIX", "STATUS", "LAST USED")]
    for u in users:
        team = u.team or "-"
        user = f"{u.name} (disabled)" if u.disabled else u.name
        mine = keys.get(u.name, [])
        if not mine:
            rows.append((user, team, "-", "-", "-", "-", "-"))
        for k in mine:
            used = _iso(k.last_used_at) or "never"
            rows.append((user, team, k.id, k.name or "-", k.prefix, k.status(now), used))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _key_json(k: AccessKeyRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": k.id, "name": k.name, "prefix": k.prefix, "status": k.status(now),
        "created_at": _iso(k.created_at), "expires_at": _iso(k.expires_at),
        "revoked_at": _iso(k.revoked_at), "last_used_at": _iso(k.last_used_at),
    }  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


_ACTIONS: dict[str, Callable[[TenantStore, argparse.Namespace], Awaitable[int]]] = {
    "add": _add,
    "key": _key,
    "list": _list,
    "revoke": _revoke,
}
