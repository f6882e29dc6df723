"""The vault's in-memory index: lookups are dict reads, a background refresh picks up
changes made elsewhere, and a KMS outage does not stop keys already decrypted."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator

import pytest

from llmswitch.errors import KEKUnavailableError, StorageError
from llmswitch.keys.vault import KeyVault
from llmswitch.storage.sql import Database
from tests.support.kms import FakeGcpKms, fake_gcp_kms

ENV = {"LLMSWITCH_MASTER_KEY": base64.b64encode(bytes([5]) * 32).decode()}
KEY = "sk-proj-cache-0123456789abcdefghijk"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def wait_for(condition, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_lookup_and_shared(database: Database) -> None:
    with KeyVault(database, env=ENV, refresh=0) as vault:
        assert vault.lookup("openai", "alice") is None and not vault.loaded
        vault.add("openai", KEY, user="alice")
        vault.add("openai", "sk-proj-shared-a-000000000000")
        vault.load()
        assert vault.lookup("openai", "alice").get() == KEY  # type: ignore[union-attr]
        assert vault.lookup("openai", "bob") is None
        assert vault.lookup("openai") is None  # no user: no user key
        assert vault.lookup("anthropic", "alice") is None
        assert [s.get() for s in vault.shared("openai")] == ["sk-proj-shared-a-000000000000"]
        assert vault.shared("anthropic") == ()


def test_lookups_need_no_database(database: Database) -> None:
    with KeyVault(database, env=ENV, refresh=0) as vault:
        vault.add("openai", KEY, user="alice")
        vault.load()

        def broken(*args: object) -> object:
            raise AssertionError("a lookup touched the database")

        vault.db.read = broken  # type: ignore[method-assign]
        vault.db.run = broken  # type: ignore[method-assign]
        for _ in range(100):
            assert vault.lookup("openai", "alice") is not None


def test_a_key_added_elsewhere_shows_up_in_the_background(database_url: str) -> None:
    from llmswitch.storage.sql import open_database

    with (
        KeyVault(open_database(database_url), env=ENV, refresh=0.05) as running,
        KeyVault(open_database(database_url), env=ENV, refresh=0) as cli,
    ):
        running.load()
        assert running.lookup("openai", "alice") is None
        record = cli.add("openai", KEY, user="alice")
        assert wait_for(lambda: running.lookup("openai", "alice") is not None)
        cli.remove(record.id)
        assert wait_for(lambda: running.lookup("openai", "alice") is None)


def test_database_outage_keeps_the_index_and_warns_once(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with KeyVault(database, env=ENV, refresh=0) as vault:
        vault.add("openai", KEY, user="alice")
        vault.load()
        real = vault.db.read

        def down(*args: object) -> object:
            raise StorageError("database is unreachable", url="sqlite:///x")

        vault.db.read = down  # type: ignore[method-assign]
        for _ in range(3):
            vault.refresh()
        assert vault.lookup("openai", "alice") is not None
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "vault.refresh_failed" in warnings[0].getMessage()
        vault.db.read = real  # type: ignore[method-assign]
        vault.refresh()
        assert vault.lookup("openai", "alice") is not None


def test_load_reports_an_unreachable_database(database: Database) -> None:
    with KeyVault(database, env=ENV, refresh=0) as vault:

        def down(*args: object) -> object:
            raise StorageError("database is unreachable", url="sqlite:///x")

        vault.db.read = down  # type: ignore[method-assign]
        with pytest.raises(StorageError):
            vault.load()


@pytest.fixture
def kms() -> Iterator[FakeGcpKms]:
    with fake_gcp_kms() as server:
        yield server


def test_kms_outage_serves_cached_keys_up_to_max_stale(
    database: Database, kms: FakeGcpKms, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llmswitch.keys.vault")
    clock = Clock()
    env = {"LLMSWITCH_GCP_KMS_ENDPOINT": kms.endpoint}
    with KeyVault(
        database, kek=kms.uri(), env=env, refresh=0, cache_ttl=60, max_stale=600, clock=clock
    ) as vault:
        vault.add("gemini", KEY, user="alice")
        vault.load()
        decrypts = sum(1 for m, _ in kms.requests if m == "decrypt")
        clock.now += 30
        vault.refresh()  # within cache_ttl: no KMS call at all
        assert sum(1 for m, _ in kms.requests if m == "decrypt") == decrypts

        kms.status = 503
        for step in range(5):
            clock.now += 100  # past cache_ttl: each refresh tries KMS and fails
            vault.refresh()
            assert vault.lookup("gemini", "alice").get() == KEY, step  # type: ignore[union-attr]
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "vault.kek_unavailable" in warnings[0].getMessage()
        assert KEY not in caplog.text

        clock.now += 200  # now 630 s since the last decryption: over max_stale
        vault.refresh()
        with pytest.raises(KEKUnavailableError):  # hers, unusable now: not "no key"
            vault.lookup("gemini", "alice")

        kms.status = None  # KMS is back
        vault.refresh()
        assert vault.lookup("gemini", "alice").get() == KEY  # type: ignore[union-attr]
        assert any("vault.kek_recovered" in r.getMessage() for r in caplog.records)


def test_a_key_added_during_a_kms_outage_is_not_served_until_kms_answers(
    database: Database, kms: FakeGcpKms
) -> None:
    env = {"LLMSWITCH_GCP_KMS_ENDPOINT": kms.endpoint}
    with (
        KeyVault(database, kek=kms.uri(), env=env, refresh=0) as writer,
        KeyVault(database, kek=kms.uri(), env=env, refresh=0) as reader,
    ):
        reader.load()
        writer.add("gemini", KEY, user="alice")
        kms.status = 503
        reader.refresh()
        with pytest.raises(KEKUnavailableError):  # never served, never taken for "no key"
            reader.lookup("gemini", "alice")
        kms.status = None
        reader.refresh()
        assert reader.lookup("gemini", "alice") is not None


@pytest.mark.parametrize(
    ("name", "value"), [("refresh", -1), ("cache_ttl", 0), ("max_stale", float("nan"))]
)
def test_bad_timings(database: Database, name: str, value: float) -> None:
    from llmswitch.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=name):
        KeyVault(database, env=ENV, **{name: value})  # type: ignore[arg-type]


def test_an_idle_refresh_reads_no_rows(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmswitch.keys import _records as rec

    reads: list[int] = []
    real = rec.all_stored

    def counting(conn):  # type: ignore[no-untyped-def]
        reads.append(1)
        return real(conn)

    monkeypatch.setattr(rec, "all_stored", counting)
    clock = Clock()
    with (
        KeyVault(database, env=ENV, refresh=0, clock=clock, cache_ttl=60) as vault,
        KeyVault(database, env=ENV, refresh=0) as other,
    ):
        vault.add("openai", KEY, user="alice")
        vault.load()
        loaded = len(reads)
        for _ in range(5):
            vault.refresh()
        assert len(reads) == loaded  # nothing changed, nothing due
        record = other.add("openai", "sk-proj-bob-0123456789abcdefghijk", user="bob")
        vault.refresh()
        assert len(reads) == loaded + 1 and vault.lookup("openai", "bob") is not None
        other.remove(record.id)
        vault.refresh()
        assert vault.lookup("openai", "bob") is None
        clock.now += 61  # a cached secret is due to be decrypted again
        before = len(reads)
        vault.refresh()
        assert len(reads) == before + 1
