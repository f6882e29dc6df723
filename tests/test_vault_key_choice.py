"""Which key a vault-wired client sends (R2 findings): model-group endpoints,
calls outside the chat pipeline (embed, count_tokens, list_models), the caller's own
pools and users whose stored key cannot be opened. The loopback upstream records the
key that arrived; SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmswitch import Client
from llmswitch.errors import KeyDecryptionError, UserKeyRequiredError
from llmswitch.keys.vault import KeyVault
from llmswitch.storage.sql import Database
from tests.support.loopback import Loopback
from tests.support.openai import fixture
from tests.support.vault import (
    ALICE,
    CHAT,
    ENV_KEY,
    HI,
    MODEL,
    SHARED,
    env,
    used_key,
)


def group_file(tmp_path: Path, loopback: Loopback, keys: str = "") -> Path:
    """A model group whose one deployment has its own base_url: a derived provider
    ``openai@g#0``."""
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        f'{keys}[models.g]\n[[models.g.deployments]]\nmodel = "{MODEL}"\n'
        f'base_url = "{loopback.url}/v1"\n'
    )
    return path


def test_a_group_endpoint_with_its_own_base_url_uses_its_providers_user_keys(
    seeded: KeyVault, loopback: Loopback, database_url: str, tmp_path: Path
) -> None:
    """R2 #2: the derived provider ``openai@g#0`` is openai at another URL."""
    config = group_file(tmp_path, loopback, "[keys]\nrequire_user_keys = true\n")
    loopback.route("POST", CHAT, fixture("chat_text.json"))
    with Client(config=config, env=env(loopback, database_url), max_retries=0) as client:
        client.chat("g", HI, user="alice")
        assert used_key(loopback) == ALICE
        with pytest.raises(Exception) as info:
            client.chat("g", HI, user="bob")
    errors = getattr(info.value, "errors", [info.value])
    assert all(isinstance(e, UserKeyRequiredError) for e in errors), errors
    assert "llmswitch keys add openai --user bob" in str(errors[0])
    assert errors[0].provider == "openai"
    assert len(loopback.requests) == 1


def test_a_group_endpoint_with_its_own_base_url_uses_its_providers_shared_keys(
    seeded: KeyVault, loopback: Loopback, database_url: str, tmp_path: Path
) -> None:
    config = group_file(tmp_path, loopback)
    loopback.route("POST", CHAT, fixture("chat_text.json"))
    # No OPENAI_API_KEY: the stored shared key of openai configures the endpoint.
    with Client(config=config, env=env(loopback, database_url, key=None)) as client:
        client.chat("g", HI)
        assert used_key(loopback) == SHARED
        client.chat("g", HI, user="bob")  # no key of his own, not required: shared
        assert used_key(loopback) == SHARED
        client.chat("g", HI, user="alice")
        assert used_key(loopback) == ALICE
    # With an environment key too, the stored shared key joins its pool.
    with Client(config=config, env=env(loopback, database_url), max_retries=0) as client:
        assert client._core.vault is not None
        client._core.vault.load()
        n = len(loopback.requests)
        for _ in range(4):
            client.chat("g", HI, user="bob")
        assert {used_key(loopback, i) for i in range(n, n + 4)} == {ENV_KEY, SHARED}


def test_the_callers_own_pool_extra_keys_stay_when_the_vault_joins(
    seeded: KeyVault, loopback: Loopback, database_url: str, tmp_path: Path
) -> None:
    """R2 #6: a KeyPool(extra=...) in middleware= keeps its extra keys, the vault's
    shared keys join after them, and a reload onto another vault replaces only the
    vault's part (the previous vault's keys do not linger)."""
    from llmswitch.keys import KeyPool, KeyRotation
    from llmswitch.wire import Secret

    own, extra = "sk-proj-pool-own-key-0123456789abc", "sk-proj-pool-extra-0123456789abcd"
    mine = (Secret(extra),)
    pool = KeyPool("openai", [own], extra=lambda: mine)
    config = tmp_path / "llmswitch.toml"
    config.write_text("[keys]\nrefresh = 60\n")
    loopback.route("POST", CHAT, fixture("chat_text.json"))
    settings = env(loopback, database_url)
    with Client(
        config=config, env=settings, middleware=[KeyRotation(pool)], max_retries=0
    ) as client:
        assert client._core.vault is not None
        client._core.vault.load()
        for _ in range(6):
            client.chat(MODEL, HI)
        assert {used_key(loopback, i) for i in range(6)} == {own, extra, SHARED}
        seeded.remove(next(r.id for r in seeded.list(provider="openai") if r.user is None))
        config.write_text("[keys]\nrefresh = 30\n")  # other vault settings: a new vault
        client.reload()
        assert client._core.vault is not None
        client._core.vault.load()
        for _ in range(6):
            client.chat(MODEL, HI)
        assert {used_key(loopback, i) for i in range(6, 12)} == {own, extra}


def _tamper(database: Database, key_id: str) -> None:
    from sqlalchemy import select, update

    from llmswitch.storage.sql.schema import provider_keys

    def flip(conn: Any) -> None:
        row = conn.execute(select(provider_keys).where(provider_keys.c.id == key_id)).one()
        changed = bytes([row.ciphertext[0] ^ 1]) + row.ciphertext[1:]
        conn.execute(
            update(provider_keys).where(provider_keys.c.id == key_id).values(ciphertext=changed)
        )

    database.run(flip)


@pytest.mark.parametrize("required", [False, True])
def test_a_user_whose_stored_key_cannot_be_opened_gets_that_error_not_the_shared_key(
    seeded: KeyVault,
    database: Database,
    loopback: Loopback,
    database_url: str,
    tmp_path: Path,
    required: bool,
) -> None:
    """R2 #12: alice's record is altered. Her calls fail with KeyDecryptionError naming
    the record (never her key or the shared one), with or without require_user_keys;
    nothing is sent for her; others are served as before."""
    alice = next(r for r in seeded.list(provider="openai") if r.user == "alice")
    _tamper(database, alice.id)
    config = tmp_path / "llmswitch.toml"
    config.write_text(f"[keys]\nrequire_user_keys = {str(required).lower()}\n")
    loopback.route("POST", CHAT, fixture("chat_text.json"))
    with Client(config=config, env=env(loopback, database_url), max_retries=0) as client:
        with pytest.raises(KeyDecryptionError) as info:
            client.chat(MODEL, HI, user="alice")
        assert info.value.record_id == alice.id and alice.id in str(info.value)
        assert ALICE not in str(info.value) and SHARED not in str(info.value)
        assert loopback.requests == []
        client.chat(MODEL, HI)  # the platform's own call
        assert used_key(loopback) in (ENV_KEY, SHARED)
        # a new key of hers that opens serves her again
        seeded.add("openai", "sk-proj-alice-second-0123456789abcd", user="alice")
        assert client._core.vault is not None and client._core.vault.vault is not None
        client._core.vault.vault.refresh()
        client.chat(MODEL, HI, user="alice")
        assert used_key(loopback) == "sk-proj-alice-second-0123456789abcd"


def _carries(loopback: Loopback, key: str, at: int = -1) -> bool:
    request = loopback.requests[at]
    return key in str(dict(request.headers)) or key in request.path


async def test_embed_and_count_tokens_take_the_users_key_or_refuse_her(
    seeded: KeyVault, loopback: Loopback, database_url: str, tmp_path: Path
) -> None:
    """R2 #1: embed and count_tokens, which run outside the chat pipeline, choose the
    key as chat does: the user's own, or UserKeyRequiredError before anything is sent."""
    from llmswitch import AsyncClient
    from tests.support.fixtures import Fixtures
    from tests.support.upstreams import GEMINI

    alice_gemini = "AIzaAliceOwnKey0123456789abcdefghij"
    seeded.add("gemini", alice_gemini, user="alice")
    config = tmp_path / "llmswitch.toml"
    config.write_text("[keys]\nrequire_user_keys = true\n")
    count = "/v1beta/models/gemini-2.5-flash:countTokens"
    loopback.route("POST", "/v1/embeddings", fixture("embed_openai_float.json"))
    loopback.route("POST", count, Fixtures("gemini")("count_tokens.json"))
    settings = {**env(loopback, database_url), **GEMINI.env(loopback)}
    with Client(config=config, env=settings, max_retries=0) as client:
        assert client.embed("openai/text-embedding-3-small", ["a", "b", "c"], user="alice").vectors
        assert _carries(loopback, ALICE)
        assert client.count_tokens("gemini/gemini-2.5-flash", HI, user="alice") > 0
        assert _carries(loopback, alice_gemini)
        n = len(loopback.requests)
        with pytest.raises(UserKeyRequiredError):
            client.embed("openai/text-embedding-3-small", "x", user="bob")
        with pytest.raises(UserKeyRequiredError):
            client.count_tokens("gemini/gemini-2.5-flash", HI, user="bob")
        assert len(loopback.requests) == n
        client.embed("openai/text-embedding-3-small", ["a", "b", "c"])  # the platform's own call
        assert _carries(loopback, ENV_KEY)
    async with AsyncClient(config=config, env=settings, max_retries=0) as aclient:
        assert (
            await aclient.embed("openai/text-embedding-3-small", ["a", "b", "c"], user="alice")
        ).vectors
        assert _carries(loopback, ALICE)
        assert await aclient.count_tokens("gemini/gemini-2.5-flash", HI, user="alice") > 0
        assert _carries(loopback, alice_gemini)
        n = len(loopback.requests)
        with pytest.raises(UserKeyRequiredError):
            await aclient.embed("openai/text-embedding-3-small", "x", user="bob")
        with pytest.raises(UserKeyRequiredError):
            await aclient.count_tokens("gemini/gemini-2.5-flash", HI, user="bob")
        assert len(loopback.requests) == n


async def test_calls_outside_the_pipeline_skip_a_stored_key_the_provider_rejected(
    seeded: KeyVault, loopback: Loopback, database_url: str, tmp_path: Path
) -> None:
    """R2 #7: openai is configured by the vault alone and its newest stored shared key
    is revoked. list_models and embed move past it (the pool marks it disabled, as a
    chat attempt does) instead of failing on it every time."""
    from llmswitch import AsyncClient
    from tests.support.loopback import Recorded, Reply

    revoked = "sk-proj-vault-revoked-0123456789ab"
    seeded.add("openai", revoked)  # the newest: StoredKey's choice
    rejected = b'{"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}'

    def answer(body: bytes) -> Any:
        def reply(request: Recorded) -> Reply:
            if request.headers["authorization"] == f"Bearer {revoked}":
                return Reply(status=401, body=rejected)
            return Reply(body=body)

        return reply

    loopback.route("GET", "/v1/models", handler=answer(fixture("models_openai.json")))
    loopback.route("POST", "/v1/embeddings", handler=answer(fixture("embed_openai_float.json")))
    config = tmp_path / "llmswitch.toml"
    config.write_text("")
    settings = env(loopback, database_url, key=None)
    with Client(config=config, env=settings, max_retries=0) as client:
        for _ in range(3):
            assert client.list_models("openai")
        assert client.embed("openai/text-embedding-3-small", ["a", "b", "c"]).vectors
        sent = [used_key(loopback, i) for i in range(len(loopback.requests))]
        assert sent.count(revoked) == 1 and sent.count(SHARED) == 4, sent
        assert used_key(loopback) == SHARED
    n = len(loopback.requests)
    async with AsyncClient(config=config, env=settings, max_retries=0) as aclient:
        for _ in range(3):
            assert await aclient.list_models("openai")
        assert (await aclient.embed("openai/text-embedding-3-small", ["a", "b", "c"])).vectors
    sent = [used_key(loopback, i) for i in range(n, len(loopback.requests))]
    assert sent.count(revoked) == 1 and sent.count(SHARED) == 4, sent
