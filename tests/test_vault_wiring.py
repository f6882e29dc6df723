"""The key vault wired in from configuration alone: a client whose settings name a KEK
uses the vault's per-user keys and shared keys with no middleware given (the loopback
upstream checks which key arrived), on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.errors import AllProvidersFailedError, ConfigurationError, UserKeyRequiredError
from llmswitch.keys.vault import KeyVault
from tests.support.fixtures import Fixtures
from tests.support.loopback import Loopback, sse_reply
from tests.support.openai import fixture
from tests.support.upstreams import ANTHROPIC
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

ALICE_ANT = "sk-ant-alice-own-key-0123456789abc"
LATER = "sk-proj-vault-added-later-012345678"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "llmswitch.toml"
    path.write_text("")
    return path


def test_user_shared_and_env_keys_from_configuration_alone(
    seeded: KeyVault, loopback: Loopback, database_url: str, config: Path
) -> None:
    loopback.route("POST", CHAT, fixture("chat_text.json"))
    with Client(config=config, env=env(loopback, database_url), max_retries=0) as client:
        client.chat(MODEL, HI, user="alice")
        assert used_key(loopback) == ALICE
        # bob has no key: the provider's pool, the env key and the stored shared key
        for _ in range(4):
            client.chat(MODEL, HI, user="bob")
        assert {used_key(loopback, i) for i in range(1, 5)} == {ENV_KEY, SHARED}
        client.chat(MODEL, HI)
        assert used_key(loopback) in (ENV_KEY, SHARED)
        client.chat(MODEL, HI, user="alice")
        assert used_key(loopback) == ALICE


async def test_async_chat_and_stream(
    seeded: KeyVault, loopback: Loopback, database_url: str, config: Path
) -> None:
    loopback.route("POST", CHAT, fixture("chat_text.json"), sse_reply(fixture("stream_text.sse")))
    async with AsyncClient(config=config, env=env(loopback, database_url)) as client:
        await client.chat(MODEL, HI, user="alice")
        assert used_key(loopback) == ALICE
        async with client.stream(MODEL, HI, user="alice") as stream:
            text = "".join([e.text async for e in stream if e.kind == "text"])  # type: ignore[attr-defined]
        assert text and used_key(loopback) == ALICE


def test_sync_stream(seeded: KeyVault, loopback: Loopback, database_url: str, config: Path) -> None:
    loopback.route("POST", CHAT, sse_reply(fixture("stream_text.sse")))
    with (
        Client(config=config, env=env(loopback, database_url)) as client,
        client.stream(MODEL, HI, user="alice") as stream,
    ):
        assert "".join(stream.text_stream)
    assert used_key(loopback) == ALICE


async def test_a_stored_shared_key_alone_configures_its_provider(
    seeded: KeyVault, loopback: Loopback, database_url: str, config: Path
) -> None:
    chat, stream = fixture("chat_text.json"), sse_reply(fixture("stream_text.sse"))
    loopback.route("POST", CHAT, chat, chat, stream)
    no_env_key = env(loopback, database_url, key=None)
    # The first call comes before the vault has loaded: it waits for it (off the loop).
    async with AsyncClient(config=config, env=no_env_key) as client:
        await client.chat(MODEL, HI)
        assert used_key(loopback) == SHARED
        await client.chat(MODEL, HI, user="alice")
        assert used_key(loopback) == ALICE
    with Client(config=config, env=no_env_key) as client:
        with client.stream(MODEL, HI) as stream:
            assert "".join(stream.text_stream)
        assert used_key(loopback) == SHARED
    assert all("llmswitch-vault-key" not in str(r.headers) for r in loopback.requests)


def test_no_key_anywhere_says_how_to_add_one(
    database_url: str, loopback: Loopback, config: Path
) -> None:
    with Client(config=config, env=env(loopback, database_url, key=None)) as client:
        with pytest.raises(ConfigurationError) as info:
            client.chat(MODEL, HI)
    assert "set OPENAI_API_KEY" in str(info.value)  # what `llmswitch models` reports
    assert "llmswitch keys add openai" in str(info.value)
    assert loopback.requests == []


def test_require_user_keys_from_the_file(
    seeded: KeyVault, loopback: Loopback, database_url: str, config: Path
) -> None:
    config.write_text('[keys]\nkek = "local:"\nrequire_user_keys = true\n')
    loopback.route("POST", CHAT, fixture("chat_text.json"))
    with Client(config=config, env=env(loopback, database_url)) as client:
        with pytest.raises(UserKeyRequiredError) as info:
            client.chat(MODEL, HI, user="bob")
        assert loopback.requests == []
        assert info.value.user == "bob"
        client.chat(MODEL, HI, user="alice")
        assert used_key(loopback) == ALICE
        client.chat(MODEL, HI)  # no user: the platform's own call, the shared pool
        assert used_key(loopback) in (ENV_KEY, SHARED)


def test_keys_added_and_removed_while_running_follow_the_index(
    seeded: KeyVault, loopback: Loopback, database_url: str, config: Path
) -> None:
    loopback.route("POST", CHAT, fixture("chat_text.json"))
    with Client(config=config, env=env(loopback, database_url, key=None)) as client:
        client.chat(MODEL, HI)
        handle = client._core.vault
        assert handle is not None and handle.vault is not None
        added = seeded.add("openai", LATER)
        handle.vault.refresh()  # what the background refresh does every [keys] refresh s
        seen = set()
        for _ in range(4):
            client.chat(MODEL, HI)
            seen.add(used_key(loopback))
        assert seen == {SHARED, LATER}
        for record in seeded.list(provider="openai"):
            if record.user is None and record.id != added.id:
                seeded.remove(record.id)
        seeded.add("openai", "sk-proj-bobs-key-0123456789abcdefgh", user="bob")
        handle.vault.refresh()
        n = len(loopback.requests)
        for _ in range(3):
            client.chat(MODEL, HI)
        assert {used_key(loopback, i) for i in range(n, n + 3)} == {LATER}
        client.chat(MODEL, HI, user="bob")
        assert used_key(loopback) == "sk-proj-bobs-key-0123456789abcdefgh"


ANT = Fixtures("anthropic")


def test_router_falls_back_past_a_provider_the_user_has_no_key_for(
    seeded: KeyVault, loopback: Loopback, database_url: str, config: Path
) -> None:
    seeded.add("anthropic", ALICE_ANT, user="alice")
    config.write_text(
        '[keys]\nrequire_user_keys = true\n[models.smart]\nstrategy = "ordered"\n'
        '[[models.smart.deployments]]\nmodel = "anthropic/claude-sonnet-4-5"\n'
        '[[models.smart.deployments]]\nmodel = "openai/gpt-4o-mini"\n'
    )
    loopback.route("POST", CHAT, fixture("chat_text.json"))
    loopback.route("POST", "/v1/messages", ANT("text.json"))
    settings = {**env(loopback, database_url), **ANTHROPIC.env(loopback)}
    with Client(config=config, env=settings) as client:
        client.chat("smart", HI, user="alice")
        assert (loopback.requests[-1].path, used_key(loopback)) == ("/v1/messages", ALICE_ANT)
        seeded.remove(next(r.id for r in seeded.list(provider="anthropic")))
        handle = client._core.vault
        assert handle is not None and handle.vault is not None
        handle.vault.refresh()
        client.chat("smart", HI, user="alice")  # no anthropic key now: the next deployment
        assert (loopback.requests[-1].path, used_key(loopback)) == (CHAT, ALICE)
        n = len(loopback.requests)
        with pytest.raises(AllProvidersFailedError) as info:
            client.chat("smart", HI, user="bob")  # a key for neither: nothing sent
        assert all(isinstance(e, UserKeyRequiredError) for e in info.value.errors)
        assert len(loopback.requests) == n


def test_reload_keeps_the_vault_and_close_stops_its_refresh(
    seeded: KeyVault, loopback: Loopback, database_url: str, config: Path
) -> None:
    loopback.route("POST", CHAT, fixture("chat_text.json"))
    config.write_text("[keys]\nrefresh = 60\n")
    client = Client(config=config, env=env(loopback, database_url))
    client.chat(MODEL, HI, user="alice")
    first = client._core.vault
    assert first is not None and first.vault is not None
    config.write_text('[keys]\nrefresh = 60\n[aliases]\nfast = "openai/gpt-4o-mini"\n')
    client.reload()
    assert client._core.vault is first  # same vault settings: kept
    config.write_text("[keys]\nrefresh = 30\n")
    client.reload()
    second = client._core.vault
    assert second is not None and second is not first
    assert first.vault._thread is None  # the replaced one stopped refreshing
    client.chat(MODEL, HI, user="alice")
    assert used_key(loopback) == ALICE
    assert second.vault is not None and second.vault._thread is not None
    client.close()
    assert second.vault._thread is None


def test_a_client_without_a_kek_loads_no_vault(tmp_path: Path) -> None:
    code = (
        "import sys, llmswitch\n"
        "c = llmswitch.Client(config=sys.argv[1], env={})\n"
        "c.chat('fake/echo', [{'role': 'user', 'content': 'hi'}], user='alice')\n"
        "assert c._core.vault is None\n"
        "bad = [m for m in ('sqlalchemy', 'cryptography', 'llmswitch._vault_wiring') "
        "if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    (tmp_path / "llmswitch.toml").write_text("")
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "llmswitch.toml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


async def test_list_models_of_a_provider_configured_by_the_vault_alone(
    seeded: KeyVault, loopback: Loopback, database_url: str, config: Path
) -> None:
    """Outside the chat pipeline (list_models, `llmswitch models`/`health`) the newest
    stored shared key is used too."""
    loopback.route("GET", "/v1/models", fixture("models_openai.json"))
    settings = env(loopback, database_url, key=None)
    with Client(config=config, env=settings) as client:
        assert client.list_models("openai")
        assert used_key(loopback) == SHARED
    async with AsyncClient(config=config, env=settings) as aclient:
        assert await aclient.list_models("openai")
        assert used_key(loopback) == SHARED


def test_a_stored_shared_key_the_provider_rejects_is_disabled_like_any_pool_key(
    seeded: KeyVault, loopback: Loopback, database_url: str, config: Path
) -> None:
    from tests.support.loopback import Recorded, Reply

    ok = fixture("chat_text.json")
    rejected = b'{"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}'

    def answer(request: Recorded) -> Reply:
        if request.headers["authorization"] == f"Bearer {SHARED}":
            return Reply(status=401, body=rejected)
        return Reply(body=ok)

    loopback.route("POST", CHAT, handler=answer)
    with Client(config=config, env=env(loopback, database_url), max_retries=0) as client:
        for _ in range(4):  # each call succeeds: a 401 moves on to the next key at once
            client.chat(MODEL, HI, user="bob")
    sent = [used_key(loopback, i) for i in range(len(loopback.requests))]
    assert sent.count(SHARED) == 1 and sent.count(ENV_KEY) == 4


def test_configured_pool_keys_and_stored_shared_keys_rotate_together(
    seeded: KeyVault, loopback: Loopback, database_url: str, config: Path
) -> None:
    config.write_text('[providers.openai]\nkeys = ["sk-proj-config-pool-key-0123456789ab"]\n')
    loopback.route("POST", CHAT, fixture("chat_text.json"))
    with Client(config=config, env=env(loopback, database_url), max_retries=0) as client:
        assert client._core.vault is not None
        client._core.vault.load()  # calls that need no vault do not wait for its first load
        for _ in range(4):
            client.chat(MODEL, HI)
        client.chat(MODEL, HI, user="alice")
    sent = {used_key(loopback, i) for i in range(4)}
    assert sent == {"sk-proj-config-pool-key-0123456789ab", SHARED}  # `keys` replace the env key
    assert used_key(loopback) == ALICE


async def test_a_vault_that_cannot_open_fails_only_the_calls_that_need_it(
    loopback: Loopback, database_url: str, config: Path
) -> None:
    from llmswitch.errors import LLMError

    loopback.route("POST", CHAT, fixture("chat_text.json"))
    settings = {**env(loopback, database_url), "LLMSWITCH_MASTER_KEY": "not base64 at all!"}
    async with AsyncClient(config=config, env=settings) as client:
        with pytest.raises(LLMError) as info:
            await client.chat(MODEL, HI, user="alice")
        assert "LLMSWITCH_MASTER_KEY" in str(info.value)
        assert "not base64" not in str(info.value)
        assert loopback.requests == []
        await client.chat(MODEL, HI)  # the platform's own call: its env key, as before
        assert used_key(loopback) == ENV_KEY


def test_key_pool_extra_keys_join_and_leave() -> None:
    from llmswitch.keys import KeyPool
    from llmswitch.keys.pool import fingerprint
    from llmswitch.wire import Secret

    current: list[tuple[Secret, ...]] = [()]
    pool = KeyPool("openai", [], extra=lambda: current[0])
    with pytest.raises(ConfigurationError, match="llmswitch keys add openai"):
        pool.pick()
    a, b = Secret("sk-a-0123456789"), Secret("sk-b-0123456789")
    current[0] = (a, b)
    picked = {pool.pick().secret.get() for _ in range(4)}
    assert picked == {a.get(), b.get()} and len(pool) == 2
    label_b = "…" + fingerprint(b)[-4:]
    uses_b = next(k.uses for k in pool.status() if k.key == label_b)
    current[0] = (b,)  # a removed from the vault: it leaves, b keeps its use count
    assert [(k.key, k.uses) for k in pool.status()] == [(label_b, uses_b)]
    assert {pool.pick().secret.get() for _ in range(3)} == {b.get()}


async def test_async_calls_outside_the_pipeline_wait_for_the_vault_off_the_loop(
    seeded: KeyVault,
    loopback: Loopback,
    database_url: str,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The vault's first load is held until a task on the loop releases it: a wait on
    the loop itself (not in a worker thread) could never see the release."""
    import asyncio
    import threading

    release = threading.Event()
    real_load = KeyVault.load

    def held_load(self: KeyVault) -> None:
        assert release.wait(60)
        real_load(self)

    monkeypatch.setattr(KeyVault, "load", held_load)
    loopback.route("GET", "/v1/models", fixture("models_openai.json"))
    loopback.route("POST", CHAT, fixture("chat_text.json"))
    async with AsyncClient(config=config, env=env(loopback, database_url, key=None)) as client:
        listing = asyncio.ensure_future(client.list_models("openai"))
        chat = asyncio.ensure_future(client.chat(MODEL, HI, user="alice"))
        await asyncio.sleep(0.05)  # runs only if neither call holds the loop
        assert not listing.done() and not chat.done()
        release.set()
        assert await asyncio.wait_for(listing, 30)
        await asyncio.wait_for(chat, 30)
    assert sorted(used_key(loopback, i) for i in range(2)) == sorted([SHARED, ALICE])


def test_llmswitch_models_sees_a_provider_configured_by_the_vault(
    seeded: KeyVault,
    loopback: Loopback,
    database_url: str,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.support.cli import run

    loopback.route("GET", "/v1/models", fixture("models_openai.json"))
    for name, value in env(loopback, database_url, key=None).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, out, err = run(capsys, "models", "openai", "--json", "--config", str(config))
    assert code == 0, err
    assert '"provider": "openai"' in out
    assert used_key(loopback) == SHARED and SHARED not in out + err
