"""PromptStore on SQLite and PostgreSQL: immutable versions, labels, the cache and its
label TTL across stores (processes), files, concurrency, the audit log."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from llmswitch.errors import PromptError, StorageError
from llmswitch.prompts import PromptStore, PromptTemplate
from llmswitch.storage.sql import Database, open_database
from llmswitch.storage.sql.audit import read_audit

V1 = {"system": "Be brief.", "messages": [{"role": "user", "content": "{{ q }}"}]}
V2 = {"system": "Be very brief.", "messages": [{"role": "user", "content": "{{ q }}"}]}
V3 = {"system": "Be kind.", "messages": [{"role": "user", "content": "{{ q }}?"}]}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_every_save_is_a_new_version_unless_it_equals_the_latest(database: Database) -> None:
    store = PromptStore(database)
    first = store.add("support", V1, author="ana", message="first")
    again = store.add("support", V1, author="bob")
    second = store.add("support", V2, message="shorter")
    back = store.add("support", V1, message="roll back")
    assert (first.version, first.created) == (1, True)
    assert (again.version, again.created, again.author) == (1, False, "ana")  # nothing written
    assert (second.version, back.version) == (2, 3)  # equal to an OLDER version: a new one
    assert back.content_hash == first.content_hash != second.content_hash
    history = store.versions("support")
    assert [(v.version, v.author, v.message) for v in history] == [
        (1, "ana", "first"), (2, None, "shorter"), (3, None, "roll back"),
    ]  # fmt: skip
    assert history[1].template == PromptTemplate.from_content(V2)
    assert store.get("support").version == 3 == store.get("support:latest").version
    assert store.get("support@2").template.system == "Be very brief."


def test_labels_point_at_versions_and_latest_cannot_be_moved(database: Database) -> None:
    store = PromptStore(database)
    store.add("support", V1)
    store.add("support", V2)
    assert store.label("support", 1, "production", author="ana") is None
    assert store.label("support", 2, "staging") is None
    assert store.get("support:production").version == 1
    assert store.label("support", 2, "production") == 1  # returns where it pointed before
    assert store.get("support:production").version == 2
    assert store.labels("support") == {"production": 2, "staging": 2}
    with pytest.raises(PromptError, match="'latest' is not a label you can move"):
        store.label("support", 1, "latest")
    with pytest.raises(PromptError, match="has no version 9"):
        store.label("support", 9, "production")
    [info] = store.list()
    assert (info.name, info.latest, dict(info.labels)) == (
        "support",
        2,
        {"production": 2, "staging": 2},
    )


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", "no prompt 'nope'"),
        ("support:canary", "prompt 'support' has no label 'canary'"),
        ("support@7", "prompt 'support' has no version 7"),
        ("support@0", "must be a number >= 1"),
        ("support@x", "must be a number >= 1"),
        ("bad name", "prompt name 'bad name'"),
        ("support:", "label ''"),
    ],
)
def test_unknown_or_malformed_references_are_prompt_errors(
    database: Database, ref: str, message: str
) -> None:
    store = PromptStore(database)
    store.add("support", V1)
    with pytest.raises(PromptError, match=message):
        store.get(ref)


def test_a_label_move_reaches_another_process_within_the_ttl(database_url: str) -> None:
    """Two stores on two Database objects stand for two processes; a fake clock."""
    clock = FakeClock()
    with open_database(database_url) as db_a, open_database(database_url) as db_b:
        a = PromptStore(db_a, label_ttl=2.0, clock=clock)
        b = PromptStore(db_b, label_ttl=2.0, clock=clock)
        a.add("support", V1)
        a.add("support", V2)
        a.label("support", 1, "production")
        assert b.get("support:production").version == 1  # b reads it now, then caches it
        assert b.get("support").version == 2
        a.label("support", 2, "production")
        a.add("support", V3)
        assert a.get("support:production").version == 2  # the mover sees its move at once
        assert a.get("support").version == 3
        clock.now += 1.9
        assert b.get("support:production").version == 1  # within the TTL: b's cached answer
        assert b.get("support").version == 2
        clock.now += 0.2
        assert b.get("support:production").version == 2  # past it: the move is seen
        assert b.get("support").version == 3  # latest moved by itself


def test_lookups_are_served_from_the_cache(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    store = PromptStore(database, clock=clock)
    store.add("support", V1)
    store.label("support", 1, "production")
    store.render("support:production", {"q": "hi"})
    store.render("support@1", {"q": "hi"})
    reads: list[Any] = []
    real = database.read
    monkeypatch.setattr(database, "read", lambda fn, *a: reads.append(fn) or real(fn, *a))
    for _ in range(50):
        call = store.render("support:production", {"q": "hi"})
        store.render("support@1", {"q": "hi"})
    assert reads == [] and call.messages == [{"role": "user", "content": "hi"}]
    clock.now += 2.5
    store.render("support:production", {"q": "hi"})
    # The label (and the prompt's running experiment) are looked up again; the version
    # stays cached.
    assert sorted(fn.__name__ for fn in reads) == ["_active", "pointer"]


def test_an_expired_label_keeps_its_version_while_the_database_is_down(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    store = PromptStore(database, clock=clock)
    store.add("support", V1)
    store.label("support", 1, "production")
    store.get("support:production")

    def down(*_: Any) -> Any:
        raise StorageError("database sqlite:///x: unable to open database file", url="x")

    monkeypatch.setattr(database, "read", down)
    clock.now += 10
    assert store.get("support:production").version == 1
    with pytest.raises(StorageError):
        store.get("other")  # nothing known to fall back on


def test_concurrent_adds_get_distinct_consecutive_versions(database_url: str) -> None:
    databases = [open_database(database_url) for _ in range(4)]
    try:
        PromptStore(databases[0]).add("busy", {"messages": [{"content": "seed"}]})
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            store = PromptStore(databases[n])
            try:
                for i in range(5):
                    store.add("busy", {"messages": [{"content": f"writer {n} save {i}"}]})
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors
        versions = PromptStore(databases[0]).versions("busy")
        assert [v.version for v in versions] == list(range(1, 22))
        assert len({v.template.messages[0].content for v in versions}) == 21
    finally:
        for db in databases:
            db.close()


def test_diff_shows_what_changed(database: Database) -> None:
    store = PromptStore(database)
    store.add("support", V1)
    store.add("support", V3)
    diff = store.diff("support@1", "support@2")
    assert diff.startswith("--- support@1\n+++ support@2\n")
    assert '-system = "Be brief."' in diff and '+system = "Be kind."' in diff
    assert store.diff("support@1", "support@1") == ""


def test_export_and_import_round_trip_through_files(database_url: str, tmp_path: Path) -> None:
    from llmswitch.prompts.files import export_directory

    with open_database(database_url) as source:
        store = PromptStore(source)
        store.add("support", V1, author="ana", message="first")
        store.add("support", V2)
        store.add("greet", "Hello {{ name }}!")
        store.label("support", 1, "production")
        single = store.export("support:production")
        assert "[llmswitch]" in single and 'labels = ["production"]' in single
        written = export_directory(store, tmp_path / "all", all_versions=True)
        latest = export_directory(store, tmp_path / "latest")
        assert sorted(p.name for p in written) == [
            "greet@1.toml",
            "support@1.toml",
            "support@2.toml",
        ]
        assert sorted(p.name for p in latest) == ["greet.toml", "support.toml"]
        # Importing an export into the same database adds nothing.
        assert [v.created for v in store.import_(str(tmp_path / "all"))] == [False, False, False]
        assert [v.version for v in store.versions("support")] == [1, 2]
    target = tmp_path / "target.db"
    with open_database(f"sqlite:///{target}") as other:
        copy = PromptStore(other)
        added = copy.import_(str(tmp_path / "all"), author="ci", label="staging")
        assert [(v.name, v.version) for v in added] == [
            ("greet", 1),
            ("support", 1),
            ("support", 2),
        ]
        assert copy.get("support@1").message == "first"  # the file's own message
        assert copy.get("support@2").content_hash == PromptTemplate.from_content(V2).content_hash
        assert copy.labels("support") == {"staging": 2}
        # An edited file (its header still names version 2) is a new version.
        edited = (
            (tmp_path / "latest" / "support.toml")
            .read_text()
            .replace("Be very brief.", "Be terse.")
        )
        (tmp_path / "latest" / "support.toml").write_text(edited)
        [greet, support] = copy.import_(str(tmp_path / "latest"))
        assert (greet.created, support.created, support.version) == (False, True, 3)


def test_an_import_checks_every_file_before_writing_any(database: Database, tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[[messages]]\ncontent = "fine {{ x }}"\n')
    (tmp_path / "b.toml").write_text('[[messages]]\ncontent = "{% if %}"\n')
    store = PromptStore(database)
    with pytest.raises(PromptError, match="syntax error"):
        store.import_(str(tmp_path))
    assert store.list() == []


def test_adds_and_label_moves_are_audited(database: Database) -> None:
    store = PromptStore(database)
    store.add("support", V1, author="ana", message="first")
    store.label("support", 1, "production", author="bob")
    entries = database.read(lambda conn: read_audit(conn, limit=10, action_prefix="prompt."))
    seen = {(e.action, e.actor, e.subject) for e in entries}
    assert seen == {
        ("prompt.add", "ana", "support@1"),
        ("prompt.label", "bob", "support:production"),
    }


async def test_the_async_twins(database: Database) -> None:
    store = PromptStore(database)
    first = await store.aadd("support", V1, author="ana")
    await store.aadd("support", V2)
    assert await store.alabel("support", first.version, "production") is None
    call = await store.arender("support:production", {"q": "hello"})
    assert (call.ref.name, call.ref.version, call.system) == ("support", 1, "Be brief.")
    assert (await store.aget("support")).version == 2
    assert [p.name for p in await store.alist()] == ["support"]
    await asyncio.sleep(0)
