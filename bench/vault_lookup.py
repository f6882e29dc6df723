"""Key lookup for a call on a cache hit (budget: < 5 µs), and what the BYOK layer adds.

    uv run python bench/vault_lookup.py [--users 10000]

A vault in a temporary SQLite file holds one key per user for ``--users`` users plus
three shared keys (local master key KEK); after ``load()`` the figures are:
``lookup`` of a user who has a key (hit) and of one who has none (miss), ``shared``
(the provider's shared keys), and the per-call cost of ``UserKeys`` in a client's
onion (a chat through ``FakeProvider`` with the layer minus without it; the binder
returns the provider as is, since FakeProvider takes no key). Best of 5 runs.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from typing import Any

from middleware_cost import per_call  # bench/ is on sys.path when run as a script

from llmswitch import Client
from llmswitch.keys import UserKeys
from llmswitch.keys.vault import KeyVault
from llmswitch.storage.sql import open_database
from llmswitch.testing import FakeProvider

BUDGET_US = 5.0
HI = [{"role": "user", "content": "Hi"}]


def fill(vault: KeyVault, users: int) -> None:
    """Many rows at once: one sealed envelope per user, inserted in one transaction."""
    from llmswitch.keys import _records as rec
    from llmswitch.keys.envelope import RecordRef, fingerprint, seal

    rows = []
    for i in range(users):
        secret = f"sk-bench-{i:08d}-0123456789abcdef"
        ref = RecordRef(id=rec.new_id(), provider="fake", owner=f"user{i}")
        rows.append((ref, fingerprint(secret), seal(secret, ref, vault.ring)))

    def insert(conn: Any) -> None:
        for ref, fp, envelope in rows:
            rec.insert_key(conn, ref, None, fp, envelope, None, "bench")

    vault.db.run(insert)
    for i in range(3):
        vault.add("fake", f"sk-bench-shared-{i}-0123456789abcdef")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("-n", type=int, default=200_000, help="lookups per run")
    args = parser.parse_args()
    env = {"LLMSWITCH_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{tmp}/bench.db")
        with KeyVault(db, env=env, refresh=0) as vault:
            fill(vault, args.users)
            t = time.perf_counter()
            vault.load()
            load_s = time.perf_counter() - t
            user = f"user{args.users // 2}"
            assert vault.lookup("fake", user) is not None
            hit = per_call(lambda: vault.lookup("fake", user), args.n)
            miss = per_call(lambda: vault.lookup("fake", "nobody"), args.n)
            shared = per_call(lambda: vault.shared("fake"), args.n)

            def bind(provider: Any, secret: Any) -> Any:
                return provider

            fake = FakeProvider("fake").default_reply("ok")
            bare = Client(providers=[fake], max_retries=0)
            byok = Client(providers=[fake], max_retries=0, middleware=[UserKeys(vault, bind=bind)])
            calls = max(args.n // 20, 1000)
            base = per_call(lambda: bare.chat("fake/m", HI, user=user), calls)
            layered = per_call(lambda: byok.chat("fake/m", HI, user=user), calls)
            bare.close()
            byok.close()
        db.close()
    rows = [
        ("vault.lookup, hit", hit * 1e6),
        ("vault.lookup, miss", miss * 1e6),
        ("vault.shared", shared * 1e6),
        ("UserKeys layer per chat call", (layered - base) * 1e6),
    ]
    print(f"vault with {args.users} user keys + 3 shared; load() took {load_s * 1000:.0f} ms")
    for name, us in rows:
        mark = "ok" if us < BUDGET_US or name.startswith("UserKeys") else "OVER"
        print(f"{name:32s} {us:8.3f} us   {mark if not name.startswith('UserKeys') else ''}")
    print(f"budget: key lookup on a cache hit < {BUDGET_US} us")
    return 0 if hit * 1e6 < BUDGET_US else 1


if __name__ == "__main__":
    sys.exit(main())
