"""``resp.request_id``: the id of the call's usage-ledger rows (what feedback names),
on chat and stream, sync and async; ``None`` when nothing is recorded."""

from __future__ import annotations

import asyncio

from llmswitch import AsyncClient, Client
from llmswitch.config import Config
from llmswitch.storage.sql import open_database
from llmswitch.testing import FakeProvider

MSG = [{"role": "user", "content": "hi"}]
USAGE = {"input_tokens": 10, "output_tokens": 2}


def _ids(database_url: str) -> list[str]:
    from sqlalchemy import select

    from llmswitch.storage.sql.schema import usage_ledger as t

    db = open_database(database_url)
    try:
        return db.read(lambda conn: list(conn.execute(select(t.c.request_id)).scalars()))
    finally:
        db.close()


def test_chat_and_stream_carry_the_ledger_rows_request_id(database_url: str) -> None:
    fake = FakeProvider("openai", default={"text": "hi", "usage": USAGE})
    with Client(config=Config(database_url=database_url), providers=[fake]) as client:
        first = client.chat("openai/gpt-4o", MSG)
        second = client.chat("openai/gpt-4o", MSG)
        with client.stream("openai/gpt-4o", MSG) as stream:
            for _ in stream:
                pass
        streamed = stream.response
        assert client.usage_ledger is not None
        client.usage_ledger.flush(30)
    ids = [first.request_id, second.request_id, streamed.request_id]
    assert None not in ids and len(set(ids)) == 3
    assert sorted(_ids(database_url)) == sorted(ids)  # type: ignore[type-var]


def test_async_chat_carries_it_too(database_url: str) -> None:
    fake = FakeProvider("openai", default={"text": "hi", "usage": USAGE})

    async def main() -> str | None:
        async with AsyncClient(config=Config(database_url=database_url),
                               providers=[fake]) as client:  # fmt: skip
            resp = await client.chat("openai/gpt-4o", MSG)
            assert client.usage_ledger is not None
            client.usage_ledger.flush(30)
            return resp.request_id

    request_id = asyncio.run(main())
    assert request_id is not None and _ids(database_url) == [request_id]


def test_no_recording_no_request_id() -> None:
    fake = FakeProvider("openai", default={"text": "hi", "usage": USAGE})
    with Client(providers=[fake]) as client:
        assert client.usage_ledger is None
        assert client.chat("openai/gpt-4o", MSG).request_id is None


def test_a_shared_response_object_is_copied_not_renamed() -> None:
    from llmswitch.messages import ChatResponse
    from llmswitch.usage.middleware import attach_request_id

    fresh = ChatResponse(id=None, model="m", provider="p")
    assert attach_request_id(fresh, "r1") is fresh and fresh.request_id == "r1"
    again = attach_request_id(fresh, "r2")  # handed out before: a copy
    assert (fresh.request_id, again.request_id) == ("r1", "r2")


def test_feedback_is_stored_against_the_answer(database_url: str) -> None:
    from llmswitch.prompts.feedback import get_feedback

    fake = FakeProvider("openai", default={"text": "hi", "usage": USAGE})
    with Client(config=Config(database_url=database_url), providers=[fake]) as client:
        resp = client.chat("openai/gpt-4o", MSG)
        assert resp.request_id is not None
        client.feedback(resp.request_id, 4, "useful")
    db = open_database(database_url)
    try:
        stored = get_feedback(db, resp.request_id)
    finally:
        db.close()
    assert stored is not None and (stored.score, stored.comment) == (4.0, "useful")


def test_feedback_without_a_ledger_is_refused() -> None:
    import pytest

    from llmswitch.errors import ConfigurationError

    with Client(providers=[FakeProvider("openai")]) as client:
        with pytest.raises(ConfigurationError, match="usage ledger's database"):
            client.feedback("some-id", 1)


def test_feedback_on_an_id_no_answer_carries_is_refused_and_not_stored(
    database_url: str,
) -> None:
    import pytest

    from llmswitch.errors import ConfigurationError
    from llmswitch.prompts.feedback import get_feedback

    fake = FakeProvider("openai", default={"text": "hi", "usage": USAGE})
    with Client(config=Config(database_url=database_url), providers=[fake]) as client:
        client.chat("openai/gpt-4o", MSG)  # the ledger is in use: only the id is wrong
        with pytest.raises(
            ConfigurationError, match="no answer with request_id 'nonexistent-id'"
        ) as info:
            client.feedback("nonexistent-id", 1)
        assert info.value.field == "request_id"

    async def in_async() -> None:
        async with AsyncClient(config=Config(database_url=database_url), providers=[fake]) as ac:
            with pytest.raises(ConfigurationError, match="no answer with request_id"):
                await ac.feedback("nonexistent-id", 1)
            resp = await ac.chat("openai/gpt-4o", MSG)
            assert resp.request_id is not None
            await ac.feedback(resp.request_id, 5)  # just returned: found after the flush

    asyncio.run(in_async())
    db = open_database(database_url)
    try:
        assert get_feedback(db, "nonexistent-id") is None
    finally:
        db.close()
