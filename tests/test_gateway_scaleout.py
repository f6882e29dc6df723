"""Scale-out: two ``llmswitch serve`` OS processes sharing Redis (``[state] url``) and
PostgreSQL (``LLMSWITCH_DATABASE_URL``, a fresh schema per test) in front of one
loopback OpenAI upstream behave as one gateway: load splits across both, a rate limit
and a budget hold across them, a breaker opened through one is open in the other, a
key revoked through one is refused by the other within the auth cache's ttl.
And the shutdown: SIGTERM during a stream lets it finish, and its ledger row is in the
database.

These drive ``POST /v1/chat/completions`` (the OpenAI routes) with plain HTTP."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.loopback import Loopback, Recorded, Reply
from tests.support.serve import Serve, serving, wait_for
from tests.support.sql import _admin, postgres_or_skip, postgres_schema_url
from tests.support.state import REDIS_URL, redis_or_skip

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
    pytest.mark.skipif(
        importlib.util.find_spec("llmswitch.gateway.openai") is None,
        reason="needs the OpenAI routes (llmswitch.gateway.openai)",
    ),
]

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
# The answer names the model asked for (budgets price what answered).
CHAT = (FIXTURES / "chat_text.json").read_bytes().replace(b"gpt-5-mini-2025-08-07", b"gpt-4o-mini")
STREAM = (FIXTURES / "stream_text.sse").read_bytes()
MODEL = "openai/gpt-4o-mini"
ADMIN_KEY = "admin-" + "s" * 40
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = postgres_or_skip()
    schema = f"test_scaleout_{uuid.uuid4().hex[:16]}"
    _admin(base, f"CREATE SCHEMA {schema}")
    try:
        yield postgres_schema_url(base, schema)
    finally:
        _admin(base, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _config(folder: Path, upstream: Loopback, extra: str = "") -> tuple[Path, str]:
    """A config sharing the test Redis, with a provider of this test's own in front of
    ``upstream`` (breaker, limit and budget keys in Redis are named after deployments:
    a fresh provider id keeps every run's keys apart). Returns the path and the id."""
    pid = f"p{uuid.uuid4().hex[:10]}"
    path = folder / "llmswitch.toml"
    path.write_text(
        f'[state]\nurl = "{REDIS_URL}"\n'
        "[retry]\nattempts = 1\n"
        "[gateway]\nshutdown_grace_seconds = 30\n"
        f'[providers.{pid}]\nkind = "openai-compatible"\nbase_url = "{upstream.url}/v1"\n'
        'api_key = "sk-test-0123456789abcdef"\n'
        # USD per million tokens: one 1264-token answer costs about 0.13 USD.
        f'[catalog.models."{pid}/gpt-4o-mini"]\ninput_price = 100\noutput_price = 100\n'
        "cached_input_price = 100\n" + extra.replace("{pid}", pid)
    )
    return path, pid


def _env(upstream: Loopback, database_url: str, **extra: str) -> dict[str, str]:
    return {
        **extra,
        "OPENAI_API_KEY": "sk-test-0123456789abcdef",
        "OPENAI_BASE_URL": upstream.url + "/v1",
        "LLMSWITCH_DATABASE_URL": database_url,
    }


def _two(folder: Path, config: Path, env: dict[str, str]) -> tuple[Serve, Serve]:
    a = Serve(folder, config=config, env=env, name="a")
    b = Serve(folder, config=config, env=env, name="b")
    try:
        a.wait_ready()
        b.wait_ready()
    except BaseException:
        for proc in (a, b):
            proc.kill()
        raise
    return a, b


def _chat(base: str, model: str = MODEL, *, key: str | None = None, **extra: Any) -> httpx.Response:
    body = {**BODY, "model": model, **extra}
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(base + "/v1/chat/completions", json=body, headers=headers, timeout=60)


def _tenant_key(database_url: str, user: str) -> tuple[str, str]:
    """A user and an access key in the shared database, as ``llmswitch users key``
    makes them: (key id, key)."""
    from llmswitch.gateway.tenancy import TenantStore
    from llmswitch.storage.sql import open_database

    async def issue() -> tuple[str, str]:
        database = open_database(database_url)
        try:
            store = TenantStore(database)
            await store.add_user(user)
            record, key = await store.issue_key(user)
            return record.id, key
        finally:
            await database.aclose()

    return asyncio.run(issue())


def _rows(database_url: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from llmswitch.storage.sql import open_database
    from llmswitch.storage.sql.schema import usage_ledger

    db = open_database(database_url)
    try:
        return db.read(lambda conn: [dict(r._mapping) for r in conn.execute(select(usage_ledger))])
    finally:
        db.close()


@pytest.fixture
def upstream() -> Iterator[Loopback]:
    server = Loopback()
    try:
        yield server
    finally:
        server.close()


def test_load_splits_and_a_rate_limit_holds_across_processes(
    tmp_path: Path, upstream: Loopback, pg_url: str
) -> None:
    redis_or_skip()
    limit = 12
    upstream.route("POST", "/v1/chat/completions", Reply(body=CHAT))
    config, pid = _config(
        tmp_path,
        upstream,
        f'[queue]\nmax_wait = 0\n[[limits]]\nscope = "deployment"\nrequests_per_minute = {limit}\n',
    )
    key_id, key = _tenant_key(pg_url, "ana")  # an access key: tenancy is on in both
    a, b = _two(tmp_path, config, _env(upstream, pg_url, LLMSWITCH_ADMIN_KEY=ADMIN_KEY))
    try:
        for proc in (a, b):
            assert _chat(proc.url, f"{pid}/nope").status_code == 401  # no key, no call
        urls = [a.url, b.url] * 15  # 30 concurrent calls, half through each process
        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(lambda u: _chat(u, f"{pid}/gpt-4o-mini", key=key), urls))
        ok = [r for r in answers if r.status_code == 200]
        limited = [r for r in answers if r.status_code == 429]
        assert len(ok) + len(limited) == len(urls), [r.text for r in answers][:3]
        # Never more admitted than the shared limit, and the limit was reached.
        assert len(ok) == limit and len(upstream.requests) == limit
        assert all("retry-after" in r.headers for r in limited)
        assert all(r.json()["choices"][0]["message"]["content"] for r in ok)

        # Both processes served: each one's access log (in batches) has its 15 and the 401.
        def chat_lines(proc: Serve) -> int:
            return proc.stdout.count('"path":"/v1/chat/completions"')

        assert wait_for(lambda: chat_lines(a) == chat_lines(b) == 16, timeout=10)
        assert '"user":"ana"' in a.stdout and key not in a.stdout + b.stdout
        # Every admitted call is one ledger row in the shared database, with its caller.
        assert wait_for(lambda: len(_rows(pg_url)) == limit, timeout=30)
        assert {(r["user"], r["access_key"]) for r in _rows(pg_url)} == {("ana", key_id)}

        # Revoked through a's admin API: refused by a at once, by b within the access-key
        # cache's ttl (30 s; a cached key is re-read in the background after half of it).
        admin = {"authorization": f"Bearer {ADMIN_KEY}"}
        r = httpx.delete(f"{a.url}/admin/keys/{key_id}", headers=admin, timeout=30)
        assert r.status_code == 200 and r.json()["revoked_at"], r.text

        def refused(url: str) -> bool:
            return _chat(url, f"{pid}/gpt-4o-mini", key=key, max_tokens=5).status_code == 401

        assert refused(a.url)
        assert wait_for(lambda: refused(b.url), timeout=45, every=1.0)
    finally:
        for proc in (a, b):
            assert proc.stop() == 0


def test_breaker_and_budget_are_shared(tmp_path: Path, upstream: Loopback, pg_url: str) -> None:
    redis_or_skip()
    down = Reply(status=503, body=b'{"error":{"message":"overloaded","type":"server_error"}}')

    def answer(request: Recorded) -> Reply:  # "broken" is down, gpt-4o-mini answers
        return down if json.loads(request.body)["model"] == "broken" else Reply(body=CHAT)

    upstream.route("POST", "/v1/chat/completions", handler=answer)
    # One answer costs about 0.13 USD, more than the budget; the estimate of a call with
    # max_tokens=50 (about 0.006) does not.
    config, pid = _config(
        tmp_path,
        upstream,
        "[breaker]\nmin_calls = 3\nfailure_rate = 0.5\ncooldown = 600\n"
        '[[budgets]]\nscope = "provider:{pid}"\nperiod = "day"\nlimit_usd = 0.05\n'
        'action = "block"\n',
    )
    broken, model = f"{pid}/broken", f"{pid}/gpt-4o-mini"
    a, b = _two(tmp_path, config, _env(upstream, pg_url))
    try:
        # The breaker: opened by failures through a, open in b (nothing sent from there).
        for _ in range(3):
            assert _chat(a.url, broken).status_code >= 500
        assert len(upstream.requests) == 3
        r = _chat(b.url, broken)
        assert r.status_code == 503, r.text
        assert len(upstream.requests) == 3

        # The budget: spent through b, then blocked in a and b before anything is sent.
        r = _chat(b.url, model, max_tokens=50)
        assert r.status_code == 200, r.text
        blocked = lambda url: "budget" in _chat(url, model, max_tokens=50).text.lower()  # noqa: E731
        # Settled in the shared store: both processes refuse the next call at once.
        assert blocked(a.url) and blocked(b.url)
        sent = len(upstream.requests)
        for url in (a.url, b.url, a.url, b.url):
            r = _chat(url, model, max_tokens=50)
            assert r.status_code == 429 and "budget" in r.text.lower(), r.text
        assert len(upstream.requests) == sent  # nothing sent once blocked
    finally:
        for proc in (a, b):
            assert proc.stop() == 0


def test_sigterm_lets_a_stream_finish_and_records_it(
    tmp_path: Path, upstream: Loopback, pg_url: str
) -> None:
    events = [e + b"\n\n" for e in STREAM.split(b"\n\n") if e.strip()]
    upstream.route(
        "POST", "/v1/chat/completions",
        Reply(content_type="text/event-stream", chunks=events, chunk_delay=0.4),
    )  # fmt: skip
    config = tmp_path / "llmswitch.toml"
    config.write_text("[gateway]\nshutdown_grace_seconds = 30\n")
    with serving(tmp_path, config=config, env=_env(upstream, pg_url), workers=2) as proc:
        got: list[bytes] = []
        first = threading.Event()
        failure: list[BaseException] = []

        def read() -> None:
            try:
                body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
                with httpx.stream(
                    "POST", proc.url + "/v1/chat/completions", json=body, timeout=60
                ) as r:
                    assert r.status_code == 200
                    for chunk in r.iter_bytes():
                        got.append(chunk)
                        first.set()
            except BaseException as exc:
                failure.append(exc)
                first.set()

        reader = threading.Thread(target=read)
        reader.start()
        assert first.wait(60)
        proc.signal(signal.SIGTERM)
        reader.join(60)
        assert not failure, failure
        text = b"".join(got).decode()
        assert text.rstrip().endswith("data: [DONE]"), text[-300:]
        assert '"content":"Hello"' in text
        assert proc.wait() == 0
        # New connections are refused once it is stopping / stopped.
        with pytest.raises(httpx.HTTPError):
            httpx.get(proc.url + "/healthz", timeout=5)
    rows = _rows(pg_url)
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["stream"] and row["status"] == "ok" and row["output_tokens"] == 84
    assert json.dumps(row, default=str)  # plain values
