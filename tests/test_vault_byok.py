"""Per-user keys: a call with user="alice" reaches the provider with alice's stored key
(the loopback upstream checks which key arrived); others use the shared key/pool, or
are refused before anything is sent when users must bring their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import AuthenticationError, UserKeyRequiredError
from llmswitch.keys import KeyPool, KeyRotation, UserKeys
from llmswitch.keys.vault import KeyVault
from llmswitch.storage.sql import Database
from tests.support.loopback import Loopback, Reply, sse_reply
from tests.support.openai import fixture
from tests.support.upstreams import OPENAI
from tests.support.vault import ALICE, ENV_KEY, HI, MASTER, MODEL, SHARED, used_key


@pytest.fixture
def vault(database: Database) -> Iterator[KeyVault]:
    with KeyVault(database, env=MASTER, refresh=0) as v:
        v.add("openai", ALICE, user="alice")
        v.add("openai", SHARED)
        yield v


def chat_route(loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", fixture("chat_text.json"))


def test_a_users_call_uses_their_key(vault: KeyVault, loopback: Loopback) -> None:
    chat_route(loopback)
    vault.load()
    with Client(env=OPENAI.env(loopback, key=ENV_KEY), middleware=[UserKeys(vault)]) as client:
        client.chat(MODEL, HI, user="alice")
        assert used_key(loopback) == ALICE
        client.chat(MODEL, HI, user="bob")  # no key of his own: the shared one
        assert used_key(loopback) == ENV_KEY
        client.chat(MODEL, HI)
        assert used_key(loopback) == ENV_KEY
        client.chat(MODEL, HI, user="alice")  # the bound provider is reused
        assert used_key(loopback) == ALICE


def test_the_first_call_loads_an_unloaded_vault(vault: KeyVault, loopback: Loopback) -> None:
    chat_route(loopback)
    assert not vault.loaded
    with Client(env=OPENAI.env(loopback, key=ENV_KEY), middleware=[UserKeys(vault)]) as client:
        client.chat(MODEL, HI, user="alice")
    assert used_key(loopback) == ALICE and vault.loaded


async def test_async_stream(vault: KeyVault, loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(fixture("stream_text.sse")))
    await vault.aload()
    env = OPENAI.env(loopback, key=ENV_KEY)
    async with AsyncClient(env=env, middleware=[UserKeys(vault)]) as client:
        async with client.stream(MODEL, HI, user="alice") as stream:
            async for _ in stream:
                pass
        assert used_key(loopback) == ALICE
        async with client.stream(MODEL, HI, user="carol") as stream:
            async for _ in stream:
                pass
        assert used_key(loopback) == ENV_KEY


def test_sync_stream(vault: KeyVault, loopback: Loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(fixture("stream_text.sse")))
    vault.load()
    with (
        Client(env=OPENAI.env(loopback, key=ENV_KEY), middleware=[UserKeys(vault)]) as client,
        client.stream(MODEL, HI, user="alice") as stream,
    ):
        for _ in stream:
            pass
    assert used_key(loopback) == ALICE


def test_require_user_keys_refuses_before_sending(vault: KeyVault, loopback: Loopback) -> None:
    chat_route(loopback)
    vault.load()
    layer = UserKeys(vault, require_user_keys=True)
    with Client(env=OPENAI.env(loopback, key=ENV_KEY), middleware=[layer]) as client:
        with pytest.raises(UserKeyRequiredError) as info:
            client.chat(MODEL, HI, user="bob")
        assert loopback.requests == []
        assert info.value.user == "bob" and info.value.provider == "openai"
        assert "llmswitch keys add openai --user bob" in str(info.value)
        client.chat(MODEL, HI, user="alice")
        assert used_key(loopback) == ALICE
        client.chat(MODEL, HI)  # the platform's own call, no user: the shared key
        assert used_key(loopback) == ENV_KEY


async def test_require_user_keys_async_stream(vault: KeyVault, loopback: Loopback) -> None:
    await vault.aload()
    layer = UserKeys(vault, require_user_keys=True)
    async with AsyncClient(env=OPENAI.env(loopback, key=ENV_KEY), middleware=[layer]) as client:
        with pytest.raises(UserKeyRequiredError):
            async with client.stream(MODEL, HI, user="bob") as stream:
                async for _ in stream:
                    pass
    assert loopback.requests == []


def test_with_a_pool_of_shared_vault_keys(vault: KeyVault, loopback: Loopback) -> None:
    chat_route(loopback)
    vault.load()
    pool = KeyPool("openai", [ENV_KEY, *vault.shared("openai")])
    middleware = [UserKeys(vault), KeyRotation(pool)]
    with Client(env=OPENAI.env(loopback, key=ENV_KEY), middleware=middleware) as client:
        client.chat(MODEL, HI, user="alice")
        assert used_key(loopback) == ALICE  # the pool did not swap her key out
        seen = set()
        for _ in range(4):
            client.chat(MODEL, HI, user="bob")
            seen.add(used_key(loopback))
        assert seen == {ENV_KEY, SHARED}  # the stored shared key joined the pool


def test_a_rejected_user_key_is_the_users_error(vault: KeyVault, loopback: Loopback) -> None:
    body = b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}'
    loopback.route("POST", "/v1/chat/completions", Reply(status=401, body=body))
    vault.load()
    pool = KeyPool("openai", [ENV_KEY])
    middleware = [UserKeys(vault), KeyRotation(pool)]
    with Client(env=OPENAI.env(loopback, key=ENV_KEY), middleware=middleware) as client:
        with pytest.raises(AuthenticationError) as info:
            client.chat(MODEL, HI, user="alice")
        assert ALICE not in str(info.value)
    # The shared pool's key was not blamed for alice's key.
    assert [s.state for s in pool.status()] == ["ok"]
