"""``KeyVault.rotate``: every record re-wrapped under the current KEK, online (lookups
keep answering), one compare-and-set per record, resumable after a crash."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from llmswitch.errors import KEKUnavailableError
from llmswitch.keys.kek.local import LocalKEK
from llmswitch.keys.vault import KeyVault, RotationProgress
from llmswitch.storage.sql import Database
from llmswitch.storage.sql.audit import read_audit
from llmswitch.storage.sql.schema import provider_keys
from tests.support.kms import FakeGcpKms, fake_gcp_kms

OLD = bytes([1]) * 32
NEW = bytes([2]) * 32
OLD_ENV = {"LLMSWITCH_MASTER_KEY": base64.b64encode(OLD).decode()}
NEW_ENV = {
    "LLMSWITCH_MASTER_KEY": base64.b64encode(NEW).decode(),
    "LLMSWITCH_MASTER_KEY_PREVIOUS": base64.b64encode(OLD).decode(),
}
SECRETS = [f"sk-proj-rotate-{i:02d}-0123456789abcdef" for i in range(7)]


def kek_ids(db: Database) -> set[str]:
    return set(db.read(lambda c: c.execute(select(provider_keys.c.kek_id)).scalars().all()))


@pytest.fixture
def filled(database: Database) -> Iterator[Database]:
    with KeyVault(database, env=OLD_ENV, refresh=0) as vault:
        for i, secret in enumerate(SECRETS):
            vault.add("openai", secret, user=f"user{i}" if i % 2 else None)
    yield database


def test_rotate_rewraps_everything_and_keeps_serving(filled: Database) -> None:
    assert kek_ids(filled) == {LocalKEK(OLD).current_id()}
    seen: list[RotationProgress] = []
    with KeyVault(filled, env=NEW_ENV, refresh=0, actor="rotator") as vault:
        vault.load()
        before = vault.shared("openai")

        def progress(p: RotationProgress) -> None:
            seen.append(p)
            assert vault.shared("openai") == before  # lookups answer throughout

        report = vault.rotate(progress)
        assert (report.rewrapped, report.changed, report.failed, report.pending) == (7, 0, (), 0)
        assert report.kek_id == LocalKEK(NEW).current_id()
        assert [p.done for p in seen] == list(range(1, 8)) and {p.total for p in seen} == {7}
        assert kek_ids(filled) == {LocalKEK(NEW).current_id()}
        assert sorted(vault.get(r.id).get() for r in vault.list()) == sorted(SECRETS)
        again = vault.rotate()
        assert (again.rewrapped, again.pending) == (0, 0)
    # Only the new master key is needed now.
    only_new = {"LLMSWITCH_MASTER_KEY": NEW_ENV["LLMSWITCH_MASTER_KEY"]}
    with KeyVault(filled, env=only_new, refresh=0) as vault:
        assert sorted(vault.get(r.id).get() for r in vault.list()) == sorted(SECRETS)
    entries = filled.read(lambda c: read_audit(c, limit=100, action_prefix="key.rotate"))
    assert len(entries) == 7 and {e.actor for e in entries} == {"rotator"}
    assert {e.detail["to_kek"] for e in entries} == {LocalKEK(NEW).current_id()}


def test_rotate_resumes_after_a_crash(filled: Database) -> None:
    class Crash(Exception):
        pass

    def crash_after_three(p: RotationProgress) -> None:
        if p.done == 3:
            raise Crash

    with KeyVault(filled, env=NEW_ENV, refresh=0) as vault, pytest.raises(Crash):
        vault.rotate(crash_after_three)
    assert len(kek_ids(filled)) == 2  # half way: each row old or new, none broken
    with KeyVault(filled, env=NEW_ENV, refresh=0) as vault:
        report = vault.rotate()
        assert (report.rewrapped, report.pending) == (4, 0)
        assert sorted(vault.get(r.id).get() for r in vault.list()) == sorted(SECRETS)


def test_a_row_changed_meanwhile_is_left_to_the_winner(filled: Database) -> None:
    with (
        KeyVault(filled, env=NEW_ENV, refresh=0) as first,
        KeyVault(filled, env=NEW_ENV, refresh=0) as second,
    ):
        # A second rotator re-wraps each row just before the first one writes it.
        records = {r.id: r for r in first.list()}
        from llmswitch.keys import _records as rec

        real_swap = rec.swap_envelope
        outcomes: list[str] = []

        def racing(p: RotationProgress) -> None:
            outcomes.append(p.outcome)

        original = first._write

        def write(fn, *args):  # type: ignore[no-untyped-def]
            if fn is real_swap and len(outcomes) == 2:
                second.rotate()  # the other process finishes everything
            return original(fn, *args)

        first._write = write  # type: ignore[method-assign]
        report = first.rotate(racing)
        assert report.pending == 0 and report.changed >= 1
        assert "changed" in outcomes
        assert sorted(first.get(i).get() for i in records) == sorted(SECRETS)


def test_undecryptable_rows_are_reported_and_left(filled: Database) -> None:
    from sqlalchemy import update

    with KeyVault(filled, env=NEW_ENV, refresh=0) as vault:
        victim = vault.list()[0].id
        filled.run(
            lambda c: c.execute(
                update(provider_keys).where(provider_keys.c.id == victim).values(nonce=b"x" * 12)
            )
        )
        report = vault.rotate()
        assert [f[0] for f in report.failed] == [victim]
        assert report.rewrapped == 6 and report.pending == 1


def test_rotate_under_gcp_kms_after_a_kms_key_rotation(database: Database) -> None:
    with fake_gcp_kms() as kms:
        env = {"LLMSWITCH_GCP_KMS_ENDPOINT": kms.endpoint}
        with KeyVault(database, kek=kms.uri(), env=env, refresh=0) as vault:
            ids = [vault.add("gemini", s).id for s in SECRETS[:3]]
            assert {r.kek_id for r in vault.list()} == {kms.uri() + "/cryptoKeyVersions/1"}
            kms.rotate()
            report = vault.rotate()
            assert report.rewrapped == 3 and report.kek_id.endswith("/cryptoKeyVersions/2")
            assert {r.kek_id for r in vault.list()} == {kms.uri() + "/cryptoKeyVersions/2"}
            assert [vault.get(i).get() for i in ids] == SECRETS[:3]


def test_moving_from_local_to_gcp_kms(filled: Database) -> None:
    with fake_gcp_kms() as kms:
        env = {**OLD_ENV, "LLMSWITCH_GCP_KMS_ENDPOINT": kms.endpoint}
        with KeyVault(filled, kek=kms.uri(), env=env, refresh=0) as vault:
            assert vault.rotate().rewrapped == 7
            assert {r.kek_id.rpartition("/")[0] for r in vault.list()} == {
                kms.uri() + "/cryptoKeyVersions"
            }
        # The master key is no longer needed.
        only_kms = {"LLMSWITCH_GCP_KMS_ENDPOINT": kms.endpoint}
        with KeyVault(filled, kek=kms.uri(), env=only_kms, refresh=0) as vault:
            assert sorted(vault.get(r.id).get() for r in vault.list()) == sorted(SECRETS)


def test_kms_outage_stops_rotation_resumably(database: Database) -> None:
    kms: FakeGcpKms
    with fake_gcp_kms() as kms:
        env = {"LLMSWITCH_GCP_KMS_ENDPOINT": kms.endpoint}
        with KeyVault(database, kek=kms.uri(), env=env, refresh=0) as vault:
            for s in SECRETS[:2]:
                vault.add("gemini", s)
            kms.rotate()
            kms.status = 503
            with pytest.raises(KEKUnavailableError):
                vault.rotate()
            kms.status = None
            assert vault.rotate().rewrapped == 2


async def test_arotate(filled: Database) -> None:
    async with KeyVault(filled, env=NEW_ENV, refresh=0) as vault:
        report = await vault.arotate()
        assert report.rewrapped == 7 and report.pending == 0


def test_moving_from_local_to_aws_kms(filled: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.kms import AWS_TEST_ENV, moto_kms

    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    with moto_kms() as kms:
        env = {**OLD_ENV, "AWS_ENDPOINT_URL_KMS": kms.endpoint}
        with KeyVault(filled, kek=kms.uri, env=env, refresh=0) as vault:
            assert vault.rotate().rewrapped == 7
            assert {r.kek_id for r in vault.list()} == {kms.uri}
        only_kms = {"AWS_ENDPOINT_URL_KMS": kms.endpoint}
        with KeyVault(filled, kek=kms.uri, env=only_kms, refresh=0) as vault:
            vault.load()
            assert sorted(s.get() for s in vault.shared("openai")) == sorted(SECRETS[::2])
            assert vault.lookup("openai", "user1").get() == SECRETS[1]  # type: ignore[union-attr]
