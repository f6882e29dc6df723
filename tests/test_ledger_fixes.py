"""Regressions from the issue-10 review of the usage ledger, through real loopback HTTP:

- a row's ``cost_nano`` is the response's own cost (Anthropic 1-hour cache writes and a
  provider-reported ``usage.cost`` included), not a re-pricing of the token columns;
- a stream whose connection drops midway is a ``broken`` row priced from the usage
  received so far (``NULL`` when none came, never 0), and the error's ``partial``
  carries that usage;
- ``client.usage_report()`` right after a call on a fresh database includes the call;
- ``[usage] enabled = false`` turns recording off even with a database configured.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select

from llmswitch import AsyncClient, Client, catalog
from llmswitch.errors import StorageError, TransportError
from llmswitch.messages import ChatResponse, Usage
from llmswitch.storage.sql import open_database
from llmswitch.storage.sql.schema import usage_ledger
from llmswitch.usage import _journal as journal
from llmswitch.usage._record import UsageRecord
from llmswitch.usage.ledger import Ledger
from tests.support.fixtures import fixture
from tests.support.loopback import Loopback, Reply

HI = [{"role": "user", "content": "Hi"}]
ANTHROPIC_KEY = "sk-ant-api03-ledgerKey0123456789abcdefABCDEF"
OPENAI_KEY = "sk-proj-ledgerKey0123456789abcdefABCDEF"


def _all(conn: Connection) -> list[dict[str, Any]]:
    return [
        dict(r._mapping) for r in conn.execute(select(usage_ledger).order_by(usage_ledger.c.id))
    ]


def flushed(client: Any) -> list[dict[str, Any]]:
    ledger = client.usage_ledger
    assert ledger is not None and ledger.flush(30)
    return ledger.database.read(_all)  # type: ignore[no-any-return]


def anthropic_env(server: Loopback, database_url: str, home: Path) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": server.url,
        "LLMSWITCH_DATABASE_URL": database_url,
        "LLMSWITCH_HOME": str(home),
    }


def openai_env(server: Loopback, database_url: str, home: Path) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": server.url + "/v1",
        "LLMSWITCH_DATABASE_URL": database_url,
        "LLMSWITCH_HOME": str(home),
    }


def sse_events(data: bytes) -> list[bytes]:
    """One chunk per SSE event, so ``drop_after`` cuts between events."""
    return [e + b"\n\n" for e in data.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


# ---------------------------------------------------------------------- 1. cost_nano = resp.cost

CACHED_USAGE = {
    "input_tokens": 50,
    "output_tokens": 400,
    "cache_read_input_tokens": 10000,
    "cache_creation_input_tokens": 3000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
}


def test_anthropic_one_hour_cache_writes_cost_the_same_in_the_ledger(
    loopback: Loopback, database_url: str, home: Path
) -> None:
    body = {
        "id": "msg_01Cache", "type": "message", "role": "assistant",
        "model": "claude-opus-4-5", "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn", "stop_sequence": None, "usage": CACHED_USAGE,
    }  # fmt: skip
    loopback.route("POST", "/v1/messages", Reply(body=json.dumps(body).encode()))
    with Client(env=anthropic_env(loopback, database_url, home)) as client:
        resp = client.chat("anthropic/claude-opus-4-5", HI, max_tokens=500)
        (row,) = flushed(client)
    assert resp.cost == pytest.approx(0.0415)
    assert row["cost_nano"] == 41_500_000 == round(resp.cost * 1e9)


def test_a_provider_reported_cost_is_the_ledger_cost(
    loopback: Loopback, database_url: str, home: Path
) -> None:
    body = json.loads(fixture("openai", "chat_text.json"))
    body["usage"] = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500,
                     "cost": 0.5}  # fmt: skip
    loopback.route("POST", "/v1/chat/completions", Reply(body=json.dumps(body).encode()))
    with Client(env=openai_env(loopback, database_url, home)) as client:
        resp = client.chat("openai/gpt-4o-mini", HI)
        (row,) = flushed(client)
    assert resp.cost == 0.5
    assert row["cost_nano"] == 500_000_000


def test_a_streamed_one_hour_cache_write_costs_the_same_in_the_ledger(
    loopback: Loopback, database_url: str, home: Path
) -> None:
    start = {"type": "message_start", "message": {
        "id": "msg_01S", "type": "message", "role": "assistant", "model": "claude-opus-4-5",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {**CACHED_USAGE, "output_tokens": 1},
    }}  # fmt: skip
    sse = (
        b"event: message_start\ndata: " + json.dumps(start).encode() + b"\n\n"
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"ok"}}\n\n'
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
        b'"end_turn","stop_sequence":null},"usage":{"output_tokens":400}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    loopback.route(
        "POST", "/v1/messages", Reply(content_type="text/event-stream", chunks=sse_events(sse))
    )
    with Client(env=anthropic_env(loopback, database_url, home)) as client:
        resp = client.stream("anthropic/claude-opus-4-5", HI, max_tokens=500).response
        (row,) = flushed(client)
    assert resp.cost == pytest.approx(0.0415)
    assert row["cost_nano"] == 41_500_000


# ---------------------------------------------------------------------- 2. broken streams


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_an_anthropic_stream_dropped_midway_is_a_broken_row_with_its_usage(
    loopback: Loopback, database_url: str, home: Path, flavour: str
) -> None:
    # message_start (input 25 tokens), the block's start and first delta, then the
    # connection drops: the row is broken, carries the input count and is priced from it.
    chunks = sse_events(fixture("anthropic", "text_pings.sse"))
    loopback.route(
        "POST", "/v1/messages",
        Reply(content_type="text/event-stream", chunks=chunks, drop_after=4),
    )  # fmt: skip
    env = anthropic_env(loopback, database_url, home)
    model = "anthropic/claude-sonnet-4-5"
    got: list[Any] = []
    if flavour == "sync":
        with Client(env=env) as client:
            with pytest.raises(TransportError) as info:
                for event in client.stream(model, HI, max_tokens=100):
                    got.append(event)
            rows = flushed(client)
    else:
        async with AsyncClient(env=env) as aclient:
            with pytest.raises(TransportError) as info:
                async for event in aclient.stream(model, HI, max_tokens=100):
                    got.append(event)
            rows = flushed(aclient)
    assert any(e.kind == "text" for e in got)
    (row,) = rows
    assert (row["status"], row["error"], row["stream"]) == ("broken", "TransportError", True)
    assert (row["input_tokens"], row["cached_input_tokens"]) == (25, 0)
    seen = info.value.stream_usage
    assert isinstance(seen, Usage) and seen.input_tokens == 25
    expected = catalog.cost_nano("anthropic", "claude-sonnet-4-5", seen)
    assert expected is not None and expected > 0
    assert row["cost_nano"] == expected
    partial = info.value.partial
    assert isinstance(partial, ChatResponse) and partial.text
    assert partial.usage.input_tokens == 25 and partial.cost == pytest.approx(expected / 1e9)


def test_a_stream_dropped_before_any_usage_has_an_unknown_cost(
    loopback: Loopback, database_url: str, home: Path
) -> None:
    # OpenAI reports usage in the last chunk: a drop after the first deltas leaves none.
    chunks = sse_events(fixture("openai", "stream_text.sse"))
    loopback.route(
        "POST", "/v1/chat/completions",
        Reply(content_type="text/event-stream", chunks=chunks, drop_after=2),
    )  # fmt: skip
    with Client(env=openai_env(loopback, database_url, home)) as client:
        with pytest.raises(TransportError) as info:
            for _ in client.stream("openai/gpt-4o-mini", HI):
                pass
        (row,) = flushed(client)
    assert (row["status"], row["error"]) == ("broken", "TransportError")
    assert row["input_tokens"] is None and row["cost_nano"] is None  # unknown, never 0
    assert isinstance(info.value.partial, ChatResponse)


def test_a_stream_refused_before_any_event_still_costs_zero(
    loopback: Loopback, database_url: str, home: Path
) -> None:
    chunks = sse_events(fixture("openai", "stream_text.sse"))
    loopback.route(
        "POST", "/v1/chat/completions",
        Reply(content_type="text/event-stream", chunks=chunks, drop_after=0),
    )  # fmt: skip
    with Client(env=openai_env(loopback, database_url, home)) as client:
        with pytest.raises(TransportError):
            for _ in client.stream("openai/gpt-4o-mini", HI):
                pass
        rows = flushed(client)
    assert rows and all((r["status"], r["cost_nano"]) == ("error", 0) for r in rows)


def test_the_gemini_parser_reports_the_usage_it_has_seen() -> None:
    from llmswitch.messages import ChatRequest, Message
    from llmswitch.providers.gemini._stream import GeminiStreamParser

    request = ChatRequest(
        provider="gemini", model="gemini-2.5-flash", messages=(Message(role="user", content="Hi"),)
    )
    parser = GeminiStreamParser(request)
    assert parser.usage_seen() is None
    chunk = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 1},
    }
    assert parser.feed(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
    seen = parser.usage_seen()
    assert seen is not None and seen.input_tokens == 12


# ---------------------------------------------------------------------- 3. usage_report at once


def test_usage_report_right_after_the_first_call_on_a_fresh_database(
    loopback: Loopback, tmp_path: Path, home: Path
) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    loopback.route("POST", "/v1/messages", Reply(body=fixture("anthropic", "text.json")))
    with Client(env=anthropic_env(loopback, url, home)) as client:
        client.chat("anthropic/claude-sonnet-4-5", HI, max_tokens=100)
        rows = client.usage_report(by=("model",))
    assert [(r["model"], r["calls"]) for r in rows] == [("claude-sonnet-4-5", 1)]


def test_the_ledger_opens_and_migrates_its_database_when_it_starts(
    tmp_path: Path, database_url: str
) -> None:
    # A fresh SQLite file, or the fixture's fresh (empty) PostgreSQL schema.
    url = f"sqlite:///{tmp_path}/new.db" if database_url.startswith("sqlite") else database_url
    assert not _migrated(url)
    db = open_database(url)
    ledger = Ledger(db, journal=str(tmp_path / "j"))
    try:
        # Nothing appended: the writer still creates the schema, off the call path.
        deadline = time.monotonic() + 60
        while not _migrated(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _migrated(url)
    finally:
        ledger.close()
        db.close()


def _migrated(url: str) -> bool:
    probe = open_database(url)
    try:
        return probe.status().up_to_date
    finally:
        probe.close()


# ---------------------------------------------------------------------- 5. enabled = false


def test_usage_disabled_records_nothing_even_with_a_database(
    loopback: Loopback, database_url: str, tmp_path: Path, home: Path
) -> None:
    config = tmp_path / "llmswitch.toml"
    config.write_text("[usage]\nenabled = false\n")
    loopback.route("POST", "/v1/messages", Reply(body=fixture("anthropic", "text.json")))
    env = anthropic_env(loopback, database_url, home)
    with Client(config=config, env=env) as client:
        assert client.usage_ledger is None
        resp = client.chat("anthropic/claude-sonnet-4-5", HI, max_tokens=100)
        assert resp.request_id is None
    assert not (home / "usage-journal").exists()


def test_a_usage_section_without_enabled_still_records_with_a_database(
    loopback: Loopback, database_url: str, tmp_path: Path, home: Path
) -> None:
    config = tmp_path / "llmswitch.toml"
    config.write_text("[usage]\nflush_interval = 0.2\n")
    loopback.route("POST", "/v1/messages", Reply(body=fixture("anthropic", "text.json")))
    with Client(config=config, env=anthropic_env(loopback, database_url, home)) as client:
        client.chat("anthropic/claude-sonnet-4-5", HI, max_tokens=100)
        assert len(flushed(client)) == 1


# ---------------------------------------------------------------------- 4. close, then replay


class _StuckDatabase:
    """A database whose every use hangs until ``release`` is set, then fails (down)."""

    url = "sqlite:////nonexistent/stuck.db"  # names the journal folder only

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def run(self, fn: Any, *args: Any) -> Any:
        self.entered.set()
        self.release.wait(60)
        raise StorageError(f"database {self.url}: down", url=self.url)

    def close(self) -> None:
        pass


def test_wait_closed_hands_the_segments_over_once_the_writer_stops(tmp_path: Path) -> None:
    db = _StuckDatabase()
    ledger = Ledger(db, journal=str(tmp_path / "j"), flush_interval=0.01)  # type: ignore[arg-type]
    assert db.entered.wait(30)  # the writer is inside the database, as in a slow connect
    for i in range(5):
        ledger.append(UsageRecord(request_id=f"r{i}", at=0, provider="openai", model="m"))
    ledger.close(timeout=0)
    # Still held by the stuck writer: another process's recovery must leave it alone.
    assert list(journal.orphan_segments(ledger.journal_dir)) == []
    assert not ledger.wait_closed(0.01)
    db.release.set()
    assert ledger.wait_closed(60)
    orphans = list(journal.orphan_segments(ledger.journal_dir))
    try:
        records = [r for path, _ in orphans for chunk in journal.read_records(path, 100)
                   for r in chunk]  # fmt: skip
    finally:
        for _, fd in orphans:
            journal.close_quietly(fd)
    assert sorted(r.request_id for r in records) == [f"r{i}" for i in range(5)]


def test_a_recovering_process_never_takes_a_segment_being_made(tmp_path: Path) -> None:
    # A recoverer scanning the journal between a new segment's creation and its owner's
    # lock must not take it (the owner's lock would then fail): it is only visible to
    # recovery once locked; an unborn one (".new") is left alone until it is stale.
    import fcntl
    import os

    from llmswitch.usage import _journal

    real_flock = fcntl.flock
    taken: list[str] = []

    def scan_then_lock(fd: int, op: int) -> None:
        for path, other in _journal.orphan_segments(str(tmp_path)):
            taken.append(path)
            os.close(other)
        real_flock(fd, op)

    _journal.fcntl.flock = scan_then_lock  # type: ignore[attr-defined]
    try:
        segment = _journal.Segment(str(tmp_path))
    finally:
        _journal.fcntl.flock = real_flock  # type: ignore[attr-defined]
    assert taken == [] and os.path.exists(segment.path)
    segment.write(b"x\n")
    segment.release(delete=True)
    # A stale unborn segment (its maker killed before the rename) is cleaned up.
    stale = tmp_path / "123-1-abcd.new"
    stale.write_bytes(b"")
    os.utime(stale, (0, 0))
    assert list(_journal.orphan_segments(str(tmp_path))) == []
    assert not stale.exists()
