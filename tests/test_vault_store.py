"""The key vault over the SQL database (SQLite and PostgreSQL): storing, listing,
replacing, removing, the audit trail, and tamper resistance at the row level."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from llmswitch.errors import ConfigurationError, KeyDecryptionError, KeyVaultError
from llmswitch.keys.vault import KeyVault
from llmswitch.storage.sql import Database
from llmswitch.storage.sql.audit import read_audit
from llmswitch.storage.sql.schema import provider_keys

ALICE_KEY = "sk-proj-alice-0123456789abcdefghij"
SHARED_KEY = "sk-proj-shared-0123456789abcdefghij"
MASTER = base64.b64encode(bytes(range(32))).decode()
ENV = {"LLMSWITCH_MASTER_KEY": MASTER}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def vault(database: Database) -> Iterator[KeyVault]:
    with KeyVault(database, env=ENV, refresh=0, actor="test") as v:
        yield v


def audit(db: Database) -> list:  # type: ignore[type-arg]
    return db.read(lambda conn: read_audit(conn, limit=100, action_prefix="key."))


def test_add_list_get_remove(vault: KeyVault, database: Database) -> None:
    mine = vault.add("openai", ALICE_KEY, user="alice", label="alice's")
    shared = vault.add("openai", SHARED_KEY)
    assert mine.id.startswith("key_") and len(mine.id) == 24
    assert (mine.provider, mine.user, mine.label, mine.status) == (
        "openai", "alice", "alice's", "active",
    )  # fmt: skip
    assert shared.user is None
    assert {r.id for r in vault.list()} == {mine.id, shared.id}
    assert [r.id for r in vault.list(user="alice")] == [mine.id]
    assert vault.list(provider="anthropic") == []
    assert vault.get(mine.id).get() == ALICE_KEY
    assert vault.remove(mine.id).id == mine.id
    assert [r.id for r in vault.list()] == [shared.id]
    with pytest.raises(KeyVaultError, match=mine.id):
        vault.get(mine.id)
    with pytest.raises(KeyVaultError, match="no stored key"):
        vault.remove(mine.id)


async def test_async_twins(database: Database) -> None:
    async with KeyVault(database, env=ENV, refresh=0) as vault:
        record = await vault.aadd("anthropic", ALICE_KEY, user="alice")
        assert [r.id for r in await vault.alist()] == [record.id]
        assert (await vault.aget(record.id)).get() == ALICE_KEY
        await vault.aload()
        assert vault.lookup("anthropic", "alice") is not None
        await vault.aremove(record.id)
        assert vault.lookup("anthropic", "alice") is None
        assert await vault.alist() == []


def test_nothing_is_stored_without_a_kek(database: Database) -> None:
    with KeyVault(database, env={}, refresh=0) as vault:
        with pytest.raises(KeyVaultError, match="no key-encryption key"):
            vault.add("openai", ALICE_KEY)
        assert vault.list() == []


def test_the_secret_is_nowhere_but_the_ciphertext(
    vault: KeyVault, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    record = vault.add("openai", ALICE_KEY, user="alice")
    vault.load()
    other = vault.add("openai", SHARED_KEY, replace=record.id, window=60, user="alice")
    vault.remove(other.id)
    row = database.read(lambda c: c.execute(select(provider_keys)).one())
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    assert ALICE_KEY.encode() not in stored
    seen = [repr(record), str(record), json.dumps(record.to_json()), repr(vault)]
    seen += [json.dumps(e.detail) + e.actor + str(e.subject) for e in audit(database)]
    seen += [r.getMessage() for r in caplog.records]
    for text in seen:
        assert ALICE_KEY not in text and SHARED_KEY not in text
    assert record.fingerprint in json.dumps([e.detail for e in audit(database)])
    assert repr(vault.lookup("openai", "alice")) == "Secret('***')"


def test_every_change_is_audited(vault: KeyVault, database: Database) -> None:
    first = vault.add("openai", ALICE_KEY, user="alice")
    second = vault.add("openai", SHARED_KEY, user="alice", replace=first.id, window=3600)
    vault.remove(first.id)
    entries = list(reversed(audit(database)))
    assert [(e.action, e.subject) for e in entries] == [
        ("key.add", first.id),
        ("key.add", second.id),
        ("key.replace", first.id),
        ("key.remove", first.id),
    ]
    assert {e.actor for e in entries} == {"test"}
    assert entries[2].detail["replacement"] == second.id
    assert entries[3].detail["fingerprint"] == first.fingerprint


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"provider": ""}, "provider"),
        ({"provider": "open ai"}, "provider"),
        ({"provider": "x" * 65}, "provider"),
        ({"user": ""}, "user"),
        ({"user": "a\nb"}, "user"),
        ({"label": "x" * 201}, "label"),
        ({"secret": ""}, "secret"),
        ({"secret": ALICE_KEY + "\n"}, "secret"),
        ({"secret": "sk-\udcff\udcfeabc"}, "secret"),  # undecodable stdin bytes
        ({"window": 10}, "window"),
    ],
)
def test_bad_input_is_refused_before_anything_is_stored(
    vault: KeyVault,
    kwargs: dict,
    field: str,  # type: ignore[type-arg]
) -> None:
    args = {"provider": "openai", "secret": ALICE_KEY, **kwargs}
    with pytest.raises(ConfigurationError) as info:
        vault.add(args.pop("provider"), args.pop("secret"), **args)
    assert info.value.field == field
    assert ALICE_KEY not in str(info.value)
    assert vault.list() == []


def test_duplicates_are_refused(vault: KeyVault) -> None:
    record = vault.add("openai", ALICE_KEY, user="alice")
    with pytest.raises(KeyVaultError, match=record.id):
        vault.add("openai", ALICE_KEY, user="alice")
    vault.add("openai", ALICE_KEY, user="bob")  # another user's copy is their own record


def test_replace_needs_same_provider_and_user(vault: KeyVault) -> None:
    record = vault.add("openai", ALICE_KEY, user="alice")
    with pytest.raises(KeyVaultError, match="same provider and user"):
        vault.add("anthropic", SHARED_KEY, user="alice", replace=record.id)
    with pytest.raises(KeyVaultError, match="same provider and user"):
        vault.add("openai", SHARED_KEY, replace=record.id)
    with pytest.raises(KeyVaultError, match="not a key id"):
        vault.add("openai", SHARED_KEY, replace="key_nope")
    assert len(vault.list()) == 1


def test_replacement_window(database: Database) -> None:
    clock = Clock()
    with KeyVault(database, env=ENV, refresh=0, clock=clock) as vault:
        old_shared = vault.add("openai", SHARED_KEY)
        old_mine = vault.add("openai", ALICE_KEY, user="alice")
        vault.load()
        new_shared = vault.add("openai", "sk-proj-shared-new-000000000000", replace=old_shared.id,
                               window=3600)  # fmt: skip
        vault.add("openai", "sk-proj-alice-new-0000000000000", user="alice", replace=old_mine.id,
                  window=3600)  # fmt: skip
        # Both shared keys serve during the window, the new one first; alice gets her new one.
        assert [s.get() for s in vault.shared("openai")] == [
            "sk-proj-shared-new-000000000000",
            SHARED_KEY,
        ]
        assert vault.lookup("openai", "alice").get() == "sk-proj-alice-new-0000000000000"  # type: ignore[union-attr]
        statuses = {r.id: r.status for r in vault.list()}
        assert statuses[old_shared.id] == "retiring" and statuses[new_shared.id] == "active"
        clock.now += 3601  # the window is over: the old keys are no longer used
        vault.refresh()
        assert [s.get() for s in vault.shared("openai")] == ["sk-proj-shared-new-000000000000"]
        assert {r.id: r.status for r in vault.list()}[old_shared.id] in ("retiring", "retired")


def test_replace_without_window_retires_at_once(vault: KeyVault) -> None:
    old = vault.add("openai", SHARED_KEY)
    vault.load()
    vault.add("openai", "sk-proj-shared-new-000000000000", replace=old.id)
    assert [s.get() for s in vault.shared("openai")] == ["sk-proj-shared-new-000000000000"]
    assert {r.id: r.status for r in vault.list()}[old.id] == "retired"


def test_only_an_active_key_can_be_replaced(vault: KeyVault, database: Database) -> None:
    # A retired (maybe leaked) key must not get a fresh window and rejoin the pool, and a
    # retiring key's window must never move later.
    old = vault.add("openai", SHARED_KEY)
    vault.add("openai", "sk-proj-shared-new-000000000000", replace=old.id, window=3600)
    retire_at = vault.record(old.id).retire_at
    with pytest.raises(KeyVaultError, match=f"{old.id} is retiring.*only an active key"):
        vault.add("openai", "sk-proj-shared-newer-00000000000", replace=old.id, window=86400)
    assert vault.record(old.id).retire_at == retire_at
    gone = vault.add("openai", "sk-proj-other-0000000000000000")
    vault.add("openai", "sk-proj-other-new-000000000000", replace=gone.id)  # retired at once
    with pytest.raises(KeyVaultError, match=f"{gone.id} is retired.*only an active key"):
        vault.add("openai", "sk-proj-other-newer-0000000000", replace=gone.id, window=86400)
    assert vault.record(gone.id).status == "retired"
    assert len(vault.list()) == 4  # the refused replacements stored nothing
    assert len([e for e in audit(database) if e.action == "key.replace"]) == 2


def test_a_replacement_racing_another_is_refused(
    vault: KeyVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another writer replaces the key between this transaction's read of its status and
    # its update (PostgreSQL READ COMMITTED lets both proceed): the update must not apply.
    from llmswitch.keys import _records

    old = vault.add("openai", SHARED_KEY)
    real = _records.insert_key

    def racing(conn, *args):  # type: ignore[no-untyped-def]
        class Racing:
            def __getattr__(self, name: str) -> object:
                return getattr(conn, name)

            def execute(self, statement, *more, **kw):  # type: ignore[no-untyped-def]
                if getattr(statement, "is_update", False):
                    retire = update(provider_keys).where(provider_keys.c.id == old.id)
                    conn.execute(retire.values(status="retiring", retire_at=1))
                return conn.execute(statement, *more, **kw)

        return real(Racing(), *args)

    monkeypatch.setattr(_records, "insert_key", racing)
    with pytest.raises(KeyVaultError, match=f"key {old.id} was replaced meanwhile"):
        vault.add("openai", "sk-proj-shared-new-000000000000", replace=old.id, window=60)
    monkeypatch.setattr(_records, "insert_key", real)
    assert [(r.id, r.status) for r in vault.list()] == [(old.id, "active")]  # rolled back


def test_a_window_beyond_a_year_is_refused(vault: KeyVault) -> None:
    old = vault.add("openai", SHARED_KEY)
    for window in (99999999999999 * 86400.0, 366 * 86400.0 + 1):
        with pytest.raises(ConfigurationError, match="at most 366 days") as caught:
            vault.add("openai", "sk-proj-shared-new-000000000000", replace=old.id, window=window)
        assert caught.value.field == "window"
    assert vault.record(old.id).status == "active" and len(vault.list()) == 1
    vault.add("openai", "sk-proj-shared-new-000000000000", replace=old.id, window=366 * 86400)


# ---- tampering with the rows themselves


def _set(db: Database, key_id: str, **values: object) -> None:
    db.run(
        lambda c: c.execute(
            update(provider_keys).where(provider_keys.c.id == key_id).values(**values)
        )
    )


def _row(db: Database, key_id: str):  # type: ignore[no-untyped-def]
    return db.read(
        lambda c: c.execute(select(provider_keys).where(provider_keys.c.id == key_id)).one()
    )


def _flip(data: bytes, at: int = 0) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("column", ["ciphertext", "wrapped_key", "nonce"])
def test_envelope_moved_to_another_row_fails(
    vault: KeyVault, database: Database, column: str
) -> None:
    a = vault.add("openai", ALICE_KEY, user="alice")
    b = vault.add("openai", SHARED_KEY, user="bob")
    _set(database, b.id, **{column: getattr(_row(database, a.id), column)})
    with pytest.raises(KeyDecryptionError) as info:
        vault.get(b.id)
    assert info.value.record_id == b.id and b.id in str(info.value)
    assert ALICE_KEY not in str(info.value) and SHARED_KEY not in str(info.value)


def test_whole_envelope_moved_to_another_row_fails(vault: KeyVault, database: Database) -> None:
    a = vault.add("openai", ALICE_KEY, user="alice")
    b = vault.add("openai", SHARED_KEY, user="bob")
    row = _row(database, a.id)
    _set(database, b.id, ciphertext=row.ciphertext, nonce=row.nonce, wrapped_key=row.wrapped_key,
         fingerprint=row.fingerprint)  # fmt: skip
    with pytest.raises(KeyDecryptionError, match=b.id):
        vault.get(b.id)


@pytest.mark.parametrize(
    ("column", "change"),
    [
        ("ciphertext", _flip),
        ("ciphertext", lambda v: v[:-1]),
        ("ciphertext", lambda v: b""),
        ("wrapped_key", _flip),
        ("wrapped_key", lambda v: v[:20]),
        ("nonce", _flip),
        ("nonce", lambda v: v[:8]),
        ("owner", lambda v: "mallory"),
        ("provider", lambda v: "anthropic"),
        ("kek_id", lambda v: v[:-1] + ("0" if v[-1] != "0" else "1")),
        ("fingerprint", lambda v: "0" * 64),
    ],
)
def test_altered_or_truncated_rows_fail(
    vault: KeyVault, database: Database, column: str, change: object
) -> None:
    record = vault.add("openai", ALICE_KEY, user="alice")
    _set(database, record.id, **{column: change(getattr(_row(database, record.id), column))})  # type: ignore[operator]
    with pytest.raises(KeyDecryptionError) as info:
        vault.get(record.id)
    assert info.value.record_id == record.id


def test_an_undecryptable_row_is_left_out_of_the_index(
    vault: KeyVault, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    good = vault.add("openai", SHARED_KEY)
    bad = vault.add("openai", ALICE_KEY, user="alice")
    _set(database, bad.id, ciphertext=_flip(_row(database, bad.id).ciphertext))
    vault.load()
    with pytest.raises(KeyDecryptionError) as info:  # never garbage, never "no key"
        vault.lookup("openai", "alice")
    assert info.value.record_id == bad.id and ALICE_KEY not in str(info.value)
    assert [s.get() for s in vault.shared("openai")] == [SHARED_KEY]
    assert any(bad.id in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert good.id


async def test_async_paths_do_kek_work_off_the_event_loop(database: Database) -> None:
    import threading

    from llmswitch.keys.kek import KeyRing
    from llmswitch.keys.kek.local import LocalKEK

    threads: list[int] = []

    class Recording(LocalKEK):
        def wrap(self, dek, ref):  # type: ignore[no-untyped-def]
            threads.append(threading.get_ident())
            return super().wrap(dek, ref)

        def unwrap(self, wrapped, kek_id, ref):  # type: ignore[no-untyped-def]
            threads.append(threading.get_ident())
            return super().unwrap(wrapped, kek_id, ref)

    ring = KeyRing(Recording(bytes([3]) * 32), {})
    async with KeyVault(database, kek=ring, refresh=0) as vault:
        record = await vault.aadd("openai", ALICE_KEY, user="alice")
        await vault.aget(record.id)
        await vault.aload()
        await vault.arefresh()
    assert len(threads) >= 3 and threading.get_ident() not in threads


def test_import_llmswitch_loads_neither_cryptography_nor_sqlalchemy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, llmswitch, llmswitch.keys; "
        "from llmswitch.keys import KeyPool; "
        "print(sorted(m for m in ('cryptography', 'sqlalchemy', 'llmswitch.keys.vault') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_from_config(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from llmswitch.config import load_config

    keyfile = tmp_path / "master.key"
    keyfile.write_text(MASTER)
    keyfile.chmod(0o600)
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        f'[storage]\ndatabase_url = "sqlite:///{tmp_path}/v.db"\n\n'
        f'[keys]\nkek = "local:{keyfile}"\ncache_ttl = 30\nrefresh = 2\n'
    )
    with KeyVault.from_config(load_config(path), env={}) as vault:
        assert vault.db.url == f"sqlite:///{tmp_path}/v.db"
        assert (vault.cache_ttl, vault.refresh_every) == (30.0, 2.0)
        record = vault.add("openai", ALICE_KEY)
        assert vault.get(record.id).get() == ALICE_KEY
    with KeyVault.from_config(load_config(path), env={}, refresh=0) as vault:
        assert vault.refresh_every == 0  # an explicit option wins over the file
