"""``list_models`` against servers that never stop paging: a repeated cursor is refused
(a ``ProviderError``, never a silently cut list), the page count is capped, and the
total timeout bounds the whole listing, sync and async."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import LLMTimeoutError, ProviderError
from llmswitch.messages import ModelInfo
from llmswitch.providers import _paging
from tests.support.loopback import Loopback, Recorded, Reply

KEY = "plain-paging-key-0123456789"


def anthropic_page(cursor: str) -> Reply:
    page = {"data": [{"type": "model", "id": f"claude-{cursor}"}], "has_more": True,
            "first_id": f"claude-{cursor}", "last_id": cursor}  # fmt: skip
    return Reply(body=json.dumps(page).encode())


def gemini_page(cursor: str) -> Reply:
    page = {"models": [{"name": f"models/gemini-{cursor}"}], "nextPageToken": cursor}
    return Reply(body=json.dumps(page).encode())


# provider, env, path, page builder
PAGED: list[tuple[str, Callable[[str], dict[str, str]], str, Callable[[str], Reply]]] = [
    ("anthropic", lambda u: {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": u}, "/v1/models",
     anthropic_page),
    ("gemini", lambda u: {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": u}, "/v1beta/models",
     gemini_page),
]  # fmt: skip
IDS = [p[0] for p in PAGED]


def listing(pid: str, env: dict[str, str], timeout: float | None = None) -> list[ModelInfo]:
    with Client(env=env) as client:
        return client.list_models(pid, timeout=timeout)


async def alisting(pid: str, env: dict[str, str], timeout: float | None = None) -> list[ModelInfo]:
    async with AsyncClient(env=env) as client:
        return await client.list_models(pid, timeout=timeout)


def fresh_cursors(page: Callable[[str], Reply], delay: float = 0.0) -> Callable[[Recorded], Reply]:
    """A server that always has one more page, each with a new cursor."""
    counter = itertools.count()

    def handler(_: Recorded) -> Reply:
        reply = page(f"c{next(counter)}")
        reply.delay = delay
        return reply

    return handler


@pytest.mark.parametrize(("pid", "make_env", "path", "page"), PAGED, ids=IDS)
async def test_a_repeated_cursor_is_refused(
    loopback: Loopback,
    pid: str,
    make_env: Callable[[str], dict[str, str]],
    path: str,
    page: Callable[[str], Reply],
) -> None:
    loopback.route("GET", path, page("same-cursor"))  # every page names the same next page
    env = make_env(loopback.url)
    for run in ("sync", "async"):
        with pytest.raises(ProviderError) as info:
            if run == "sync":
                listing(pid, env)
            else:
                await alisting(pid, env)
        err = info.value
        assert "repeated page cursor 'same-cursor'" in str(err)
        assert "2 pages, 2 models so far" in str(err) and err.provider == pid
        assert err.code == "malformed_response" and KEY not in str(err)
    assert len(loopback.requests) == 4  # two pages per listing, then it stopped


@pytest.mark.parametrize(("pid", "make_env", "path", "page"), PAGED, ids=IDS)
async def test_the_page_count_is_capped(
    loopback: Loopback,
    monkeypatch: pytest.MonkeyPatch,
    pid: str,
    make_env: Callable[[str], dict[str, str]],
    path: str,
    page: Callable[[str], Reply],
) -> None:
    monkeypatch.setattr(_paging, "MAX_MODEL_PAGES", 5)  # 1000 in earnest; 5 keeps it fast
    loopback.route("GET", path, handler=fresh_cursors(page))
    env = make_env(loopback.url)
    with pytest.raises(ProviderError, match="did not end after 5 pages"):
        listing(pid, env)
    with pytest.raises(ProviderError, match="did not end after 5 pages"):
        await alisting(pid, env)
    assert len(loopback.requests) == 10


@pytest.mark.parametrize(("pid", "make_env", "path", "page"), PAGED, ids=IDS)
async def test_the_total_timeout_bounds_the_whole_listing(
    loopback: Loopback,
    pid: str,
    make_env: Callable[[str], dict[str, str]],
    path: str,
    page: Callable[[str], Reply],
) -> None:
    # Each page comes well within the total timeout; together they never end.
    loopback.route("GET", path, handler=fresh_cursors(page, delay=0.25))
    env = make_env(loopback.url)
    for run in ("sync", "async"):
        started = time.monotonic()
        with pytest.raises(LLMTimeoutError) as info:
            if run == "sync":
                listing(pid, env, timeout=1.0)
            else:
                await alisting(pid, env, timeout=1.0)
        elapsed = time.monotonic() - started
        assert elapsed < 10, run  # without the bound it pages until the cap (250 s)
        assert info.value.phase == "total" and info.value.timeout == 1.0
        assert "model listing took longer than the total timeout of 1.0s" in str(info.value)
        assert info.value.provider == pid


def test_distinct_cursors_still_page_to_the_end(loopback: Loopback) -> None:
    pages = [anthropic_page(c) for c in ("a", "b")]
    last = {"data": [{"type": "model", "id": "claude-c"}], "has_more": False, "last_id": "c"}
    loopback.route("GET", "/v1/models", *pages, Reply(body=json.dumps(last).encode()))
    models = listing("anthropic", PAGED[0][1](loopback.url))
    assert [m.id for m in models] == ["claude-a", "claude-b", "claude-c"]
    assert [r.query.get("after_id") for r in loopback.requests] == [None, ["a"], ["b"]]
