"""The client's vault handle (llmswitch._vault_wiring.VaultHandle) and reloads of the
vault's settings: what reopens the vault, waiting for its first load without holding
threads, closing without blocking, and a collected client's threads ending."""

from __future__ import annotations

import asyncio
import base64
import gc
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from llmswitch import Client
from llmswitch._vault_wiring import VaultHandle, settings_key
from llmswitch.config import Config
from llmswitch.errors import ConfigurationError, KeyVaultError, LLMError
from llmswitch.keys.vault import KeyVault
from tests.support.loopback import Loopback
from tests.support.openai import fixture
from tests.support.upstreams import OPENAI

MASTER = {"LLMSWITCH_MASTER_KEY": base64.b64encode(bytes([7]) * 32).decode()}
ALICE = "sk-proj-alice-own-key-0123456789abcd"
MODEL = "openai/gpt-4o-mini"
HI = [{"role": "user", "content": "Hi"}]


def test_the_aws_kms_endpoint_variables_reopen_the_vault_on_reload() -> None:
    """A reload reopens the vault when what it was opened from changed: the AWS KMS
    client reads its endpoint from these two variables, as GCP's from its own."""
    config = Config(kek="aws-kms://arn:aws:kms:us-east-1:111122223333:key/k")
    for name in ("AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL", "LLMSWITCH_GCP_KMS_ENDPOINT"):
        before = settings_key(config, {**MASTER, name: "http://127.0.0.1:1"})
        after = settings_key(config, {**MASTER, name: "http://127.0.0.1:2"})
        assert before != after, name


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The vault's first load waits until the test sets the event (set at teardown
    too, so no opening thread is left waiting)."""
    release = threading.Event()
    real_load = KeyVault.load

    def held_load(self: KeyVault) -> None:
        assert release.wait(120)
        real_load(self)

    monkeypatch.setattr(KeyVault, "load", held_load)
    yield release
    release.set()


def handle_for(database_url: str, text: str = "") -> VaultHandle:
    config = Config(database_url=database_url, kek=None)
    settings = {**MASTER, "LLMSWITCH_DATABASE_URL": database_url}
    return VaultHandle(config, settings, settings_key(config, settings))


async def test_async_waiters_for_the_first_load_hold_no_worker_thread(
    database_url: str, held: threading.Event
) -> None:
    """Ten calls waiting for the vault leave the loop's default executor free: a job
    given to it (getaddrinfo of a call without user=, say) runs at once."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=2))
    handle = handle_for(database_url)
    try:
        waiters = [asyncio.ensure_future(handle.aload()) for _ in range(10)]
        await asyncio.sleep(0.05)
        assert await asyncio.wait_for(loop.run_in_executor(None, lambda: 42), 20) == 42
        assert not any(w.done() for w in waiters)
        held.set()
        await asyncio.wait_for(asyncio.gather(*waiters), 60)
        assert handle.loaded and handle.vault is not None
    finally:
        await handle.aclose()


def test_close_never_waits_for_an_open_in_progress(
    database_url: str, held: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reload calls close() on the event loop of an AsyncClient: it returns while the
    vault is still opening, and the opening thread closes what it opened when it ends."""
    opened: list[KeyVault] = []
    held_load = KeyVault.load

    def recording_load(self: KeyVault) -> None:
        opened.append(self)
        held_load(self)

    monkeypatch.setattr(KeyVault, "load", recording_load)
    handles = []
    for closing in ("close", "aclose"):
        handle = handle_for(database_url)
        handles.append(handle)
        closed = threading.Event()

        def close(
            handle: VaultHandle = handle, closing: str = closing, closed: threading.Event = closed
        ) -> None:
            if closing == "close":
                handle.close()
            else:
                asyncio.run(handle.aclose())
            closed.set()

        threading.Thread(target=close, daemon=True).start()
        assert closed.wait(20), f"{closing}() waited for the open in progress"
        assert handle._thread.is_alive()  # still opening: the load is held
    held.set()
    for handle in handles:
        handle._thread.join(60)
        assert not handle._thread.is_alive()
        assert handle.vault is None and not handle.loaded  # never published
    assert len(opened) == 2
    assert all(v._thread is None for v in opened)  # their refreshers were stopped


def _threads_of_an_unclosed_client(
    settings: dict[str, str], config: Path
) -> list[threading.Thread]:
    client = Client(config=config, env=settings)
    handle = client._core.vault
    assert handle is not None
    assert handle._tried.wait(60)  # opened, or failed once and now waits to retry
    if handle.loaded:
        handle._thread.join(60)
    threads = [handle._thread]
    if handle.vault is not None:
        assert handle.vault._thread is not None  # its refresher runs
        threads.append(handle.vault._thread)
    return threads  # the client, its handle and vault go out of scope unclosed


@pytest.mark.parametrize("opens", [True, False])
def test_a_client_garbage_collected_unclosed_stops_its_vault_threads(
    database_url: str, tmp_path: Path, opens: bool
) -> None:
    """Its refresher (a vault that opened) or its opening thread (one that keeps
    failing, retrying every few seconds) ends once the client is collected."""
    config = tmp_path / "llmswitch.toml"
    config.write_text("[keys]\nrefresh = 1\n")
    settings = {**MASTER, "LLMSWITCH_DATABASE_URL": database_url}
    if not opens:
        settings["LLMSWITCH_MASTER_KEY"] = "not base64 at all!"
    threads = _threads_of_an_unclosed_client(settings, config)
    assert all(t.is_alive() for t in threads[1:])
    gc.collect()
    for thread in threads:
        thread.join(60)  # woken by the finalizers: at once; the margin is for a busy box
        assert not thread.is_alive(), thread.name


def _count_waits(handle: VaultHandle) -> list[float]:
    """The blocking waits for the first load the handle makes (their timeouts)."""
    waits: list[float] = []
    wait = handle._tried.wait

    def counted(timeout: float | None = None) -> bool:
        waits.append(timeout or 0.0)
        return wait(timeout)

    handle._tried.wait = counted  # type: ignore[method-assign]
    return waits


def test_one_bounded_wait_per_call(
    database_url: str, tmp_path: Path, held: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider configured by the vault alone reads its key twice when a request
    fails (its headers, then the scrubbing of the error): that call waits once for the
    vault, not twice; the next call soon after fails at once."""
    import llmswitch._vault_wiring as wiring

    monkeypatch.setattr(wiring, "LOAD_WAIT", 2.0)  # the wait runs out (the load is held)
    config = tmp_path / "llmswitch.toml"
    config.write_text("")
    settings = {**MASTER, "LLMSWITCH_DATABASE_URL": database_url}
    settings["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"  # never reached
    with Client(config=config, env=settings) as client:
        handle = client._core.vault
        assert handle is not None
        waits = _count_waits(handle)
        provider = client._core.provider("openai")  # configured by the vault alone
        with pytest.raises(KeyVaultError, match="still loading"):
            provider.list_models(client._core.context("openai", None))
        assert waits == [2.0]
        with pytest.raises(KeyVaultError, match="still loading"):
            handle.load()  # the vault is stuck: no second wait right after
        assert waits == [2.0]


def _kek_error(settings: dict[str, str], config: Path, model: str, user: str | None) -> str:
    with Client(config=config, env=settings, max_retries=0) as client:
        with pytest.raises(LLMError) as info:
            client.chat(model, [{"role": "user", "content": "Hi"}], user=user)
    return str(info.value)


def test_kek_errors_say_where_the_kek_was_set(database_url: str, tmp_path: Path) -> None:
    """LLMSWITCH_KEK, or [keys] kek with its file and line; and a provider with no key
    anywhere still says which variable to set while the vault cannot be opened."""
    config = tmp_path / "llmswitch.toml"
    config.write_text("")
    settings = {
        "LLMSWITCH_DATABASE_URL": database_url, "LLMSWITCH_KEK": "bogus://x",
        "OPENAI_API_KEY": "sk-proj-environment-0123456789abcdef",
    }  # fmt: skip
    message = _kek_error(settings, config, "openai/gpt-4o-mini", "alice")
    assert message.startswith("LLMSWITCH_KEK: unknown KEK 'bogus://x'"), message
    config.write_text('[retry]\nattempts = 1\n\n[keys]\nkek = "local:missing.key"\n')
    message = _kek_error(settings, config, "openai/gpt-4o-mini", "alice")
    assert message.startswith(f"[keys] kek ({config}:5): cannot read key file"), message
    message = _kek_error(settings, config, "anthropic/claude-sonnet-4-5", None)
    assert "ANTHROPIC_API_KEY" in message and "cannot read key file" in message, message


def test_reload_refuses_a_kek_that_cannot_be_opened_and_keeps_the_vault(
    database_url: str, tmp_path: Path, loopback: Loopback
) -> None:
    with KeyVault(database_url, env=MASTER, refresh=0) as vault:
        vault.add("openai", ALICE, user="alice")
    loopback.route("POST", "/v1/chat/completions", fixture("chat_text.json"))
    config = tmp_path / "llmswitch.toml"
    config.write_text("")
    settings = {**OPENAI.env(loopback), **MASTER, "LLMSWITCH_DATABASE_URL": database_url}
    with Client(config=config, env=settings, max_retries=0) as client:
        client.chat(MODEL, HI, user="alice")
        before = client._core
        config.write_text('[keys]\nkek = "local:nonexistent.key"\n')
        with pytest.raises(ConfigurationError) as info:
            client.reload()
        assert str(info.value).startswith(f"[keys] kek ({config}:2): cannot read key file")
        assert client._core is before  # the old configuration, and its vault, serve on
        assert before.vault is not None and before.vault.vault is not None
        assert before.vault.vault._thread is not None  # still refreshing
        client.chat(MODEL, HI, user="alice")
        assert loopback.requests[-1].headers["authorization"] == f"Bearer {ALICE}"
        config.write_text("[keys]\nrefresh = 60\n")  # a good one is taken as before
        assert client.reload().changes and client._core is not before
