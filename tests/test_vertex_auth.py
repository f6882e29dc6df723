"""Vertex AI's OAuth tokens: cached, refreshed before expiry, one refresh at a time,
off the event loop on the async path; and where project, location and credentials
come from. The token endpoint is the loopback fake of tests/support/vertex.py (real
google-auth, real JWT assertions) or, where the timing must be controlled exactly, a
stand-in credentials object."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.config import load_config
from llmswitch.errors import AuthenticationError, ConfigurationError
from llmswitch.providers import registry
from llmswitch.providers.vertex import TokenSource, VertexEndpoint
from llmswitch.providers.vertex._spec import build_provider
from tests.support.fixtures import Fixtures
from tests.support.loopback import Loopback
from tests.support.vertex import GEMINI_ROOT, PROJECT, GoogleAccount, vertex_env

fixture = Fixtures("vertex")
HI = [{"role": "user", "content": "Say hello."}]
GENERATE = f"{GEMINI_ROOT}/gemini-2.5-flash:generateContent"


@pytest.fixture
def account(loopback: Loopback) -> GoogleAccount:
    return GoogleAccount(loopback)


@pytest.fixture
def key_file(account: GoogleAccount, tmp_path: Path) -> Path:
    return account.write(tmp_path)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


class SlowCredentials:
    """Stands in for google-auth credentials: ``refresh`` records its thread and waits
    for ``release`` (so a test decides when the token endpoint "answers")."""

    quota_project_id = None

    def __init__(self) -> None:
        self.token: str | None = None
        self.expiry: datetime | None = None
        self.release = threading.Event()
        self.started = threading.Event()
        self.threads: list[int] = []
        self.calls = 0

    def refresh(self, request: Any) -> None:
        self.threads.append(threading.get_ident())
        self.calls += 1
        self.started.set()
        assert self.release.wait(10), "the test never released the refresh"
        self.token = f"tok-{self.calls}"
        self.expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)


# --------------------------------------------------------------------------- caching


def test_one_token_serves_many_calls_sync_and_async(
    loopback: Loopback, account: GoogleAccount, key_file: Path, tmp_path: Path
) -> None:
    loopback.route("POST", GENERATE, fixture("gemini_text.json"))
    env = vertex_env(loopback, key_file, tmp_path)
    with Client(env=env) as client:
        for _ in range(5):
            client.chat("vertex/gemini-2.5-flash", HI)
    assert account.issued == 1

    async def many() -> None:
        async with AsyncClient(env=env) as client:
            await asyncio.gather(*(client.chat("vertex/gemini-2.5-flash", HI) for _ in range(8)))

    asyncio.run(many())
    assert account.issued == 2  # the async client's own provider: one more, for all eight
    tokens = {r.headers["authorization"] for r in loopback.requests if r.path == GENERATE}
    assert tokens == {"Bearer ya29.test-token-1", "Bearer ya29.test-token-2"}


def test_a_token_is_replaced_before_it_expires(account: GoogleAccount, key_file: Path) -> None:
    clock = Clock()
    tokens = TokenSource("vertex", str(key_file), clock=clock, margin=300)
    first = tokens.token()
    clock.now += 3600 - 301  # 5 minutes and a second before expiry: still good
    assert tokens.token() == first and account.issued == 1
    clock.now += 2  # inside the margin: minted again
    second = tokens.token()
    assert second != first and account.issued == 2
    assert tokens.token() == second


def test_a_refused_token_is_minted_again_once(account: GoogleAccount, key_file: Path) -> None:
    tokens = TokenSource("vertex", str(key_file))
    first = tokens.token()
    tokens.invalidate(first)
    second = tokens.token()
    assert second != first
    tokens.invalidate(first)  # a late 401 for the old token: the new one stays
    assert tokens.token() == second and account.issued == 2


# --------------------------------------------------------------------------- one refresh at a time


def test_threads_share_one_refresh(account: GoogleAccount, key_file: Path) -> None:
    account.delay = 0.3  # all threads arrive while the first refresh is in flight
    tokens = TokenSource("vertex", str(key_file))
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(tokens.token())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert got == ["ya29.test-token-1"] * 8
    assert account.issued == 1


@pytest.mark.asyncio
async def test_coroutines_share_one_refresh(account: GoogleAccount, key_file: Path) -> None:
    account.delay = 0.3
    tokens = TokenSource("vertex", str(key_file))
    got = await asyncio.gather(*(tokens.atoken() for _ in range(10)))
    assert got == ["ya29.test-token-1"] * 10
    assert account.issued == 1


@pytest.mark.asyncio
async def test_the_async_refresh_runs_off_the_loop() -> None:
    creds = SlowCredentials()
    tokens = TokenSource("vertex", loader=lambda: (creds, PROJECT))
    pending = asyncio.ensure_future(tokens.atoken())
    # The refresh has started and is blocked; the loop still runs other work meanwhile.
    assert await asyncio.to_thread(creds.started.wait, 10)
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 5 and not pending.done()
    creds.release.set()
    assert await asyncio.wait_for(pending, 10) == "tok-1"
    assert creds.threads and creds.threads[0] != threading.get_ident()


@pytest.mark.asyncio
async def test_a_cancelled_waiter_leaves_the_refresh_to_the_others() -> None:
    creds = SlowCredentials()
    tokens = TokenSource("vertex", loader=lambda: (creds, PROJECT))
    first = asyncio.ensure_future(tokens.atoken())
    assert await asyncio.to_thread(creds.started.wait, 10)
    second = asyncio.ensure_future(tokens.atoken())
    await asyncio.sleep(0)
    first.cancel()
    creds.release.set()
    assert await asyncio.wait_for(second, 10) == "tok-1"
    assert creds.calls == 1


def test_every_waiter_gets_the_failure_and_the_next_call_tries_again(
    account: GoogleAccount, key_file: Path
) -> None:
    account.refuse, account.delay = True, 0.3
    tokens = TokenSource("vertex", str(key_file))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            tokens.token()
        except AuthenticationError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(errors) == 4 and len({id(e) for e in errors}) == 4  # a copy each
    assert all("invalid_grant" in str(e) for e in errors)
    account.refuse, account.delay = False, 0.0
    assert tokens.token() == "ya29.test-token-1"


def test_no_token_in_reprs(account: GoogleAccount, key_file: Path) -> None:
    tokens = TokenSource("vertex", str(key_file))
    token = tokens.token()
    endpoint = VertexEndpoint(
        provider="vertex", base_url="https://x.example", project=PROJECT, location="global",
        tokens=tokens,
    )  # fmt: skip
    assert token not in repr(tokens) and token not in repr(endpoint)
    assert token in endpoint.secrets()  # ... but scrubbed from errors


# --------------------------------------------------------------------------- configuration


def _endpoint(env: dict[str, str], pc: Any = None) -> VertexEndpoint:
    provider = build_provider("vertex", pc, env)
    endpoint = provider.endpoint  # type: ignore[attr-defined]
    assert isinstance(endpoint, VertexEndpoint)
    return endpoint


def test_project_and_location_from_the_environment(key_file: Path, tmp_path: Path) -> None:
    base = {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file), "CLOUDSDK_CONFIG": str(tmp_path)}
    plain = _endpoint(base)
    assert (plain.project, plain.location) == (PROJECT, "global")  # the account's project
    assert plain.base_url == "https://aiplatform.googleapis.com"
    regional = _endpoint({**base, "GOOGLE_CLOUD_PROJECT": "p2", "CLOUD_ML_REGION": "europe-west4"})
    assert (regional.project, regional.location) == ("p2", "europe-west4")
    assert regional.base_url == "https://europe-west4-aiplatform.googleapis.com"
    multi = _endpoint({**base, "GOOGLE_CLOUD_LOCATION": "us", "CLOUD_ML_REGION": "asia-east1"})
    assert multi.base_url == "https://aiplatform.us.rep.googleapis.com"
    url = regional.model_url("anthropic", "claude-sonnet-4-5@20250929", "rawPredict")
    assert url == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/p2/locations/europe-west4"
        "/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
    )


def test_not_configured_without_credentials(tmp_path: Path) -> None:
    env = {"GOOGLE_CLOUD_PROJECT": PROJECT, "CLOUDSDK_CONFIG": str(tmp_path)}
    with Client(env=env) as client, pytest.raises(ConfigurationError) as caught:
        client.chat("vertex/gemini-2.5-flash", HI)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in caught.value.message
    assert caught.value.provider == "vertex"


def test_gcloud_adc_file_or_google_cloud_runtime_configure_it(tmp_path: Path) -> None:
    adc = {"type": "authorized_user", "client_id": "c", "client_secret": "s",
           "refresh_token": "r", "quota_project_id": "billing-proj"}  # fmt: skip
    (tmp_path / "application_default_credentials.json").write_text(json.dumps(adc))
    found = _endpoint({"CLOUDSDK_CONFIG": str(tmp_path)})
    assert found.project == "billing-proj"
    on_cloud_run = _endpoint(
        {"K_SERVICE": "api", "GOOGLE_CLOUD_PROJECT": "run-proj", "CLOUDSDK_CONFIG": "/nonexistent"}
    )
    assert on_cloud_run.project == "run-proj"


def test_a_project_is_required(account: GoogleAccount, tmp_path: Path) -> None:
    key = account.write(tmp_path, project_id="")
    with pytest.raises(ConfigurationError) as caught:
        build_provider("vertex", None, {"GOOGLE_APPLICATION_CREDENTIALS": str(key)})
    assert "GOOGLE_CLOUD_PROJECT" in caught.value.message


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "cannot read"), ("not json", "not a Google credentials JSON file")],
)
def test_a_bad_credentials_file_is_named(tmp_path: Path, content: str | None, words: str) -> None:
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError) as caught:
        build_provider("vertex", None, {"GOOGLE_APPLICATION_CREDENTIALS": str(path)})
    assert words in caught.value.message and str(path) in caught.value.message
    assert caught.value.field == "GOOGLE_APPLICATION_CREDENTIALS"


def test_bad_location(key_file: Path) -> None:
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file), "GOOGLE_CLOUD_LOCATION": "us central"}
    with pytest.raises(ConfigurationError) as caught:
        build_provider("vertex", None, env)
    assert caught.value.field == "location"


def test_llmswitch_toml_kind_vertex(account: GoogleAccount, tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    account.write(tmp_path / "keys")
    path = tmp_path / "llmswitch.toml"
    path.write_text(
        '[providers.claude-eu]\nkind = "vertex"\nproject = "eu-proj"\n'
        'location = "europe-west1"\ncredentials_file = "keys/service-account.json"\n'
    )
    config = load_config(path, env={})
    pc = config.providers["claude-eu"]
    assert pc.credentials_file == str(tmp_path / "keys" / "service-account.json")
    provider = registry.build_provider("claude-eu", config, {})
    endpoint = provider.endpoint  # type: ignore[attr-defined]
    assert (endpoint.project, endpoint.location) == ("eu-proj", "europe-west1")
    assert endpoint.base_url == "https://europe-west1-aiplatform.googleapis.com"


def test_vertex_settings_are_refused_on_other_kinds(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text('[providers.openai]\nproject = "p"\n')
    with pytest.raises(ConfigurationError) as caught:
        load_config(path, env={})
    assert "project" in str(caught.value) and "vertex" in str(caught.value)


def test_without_google_auth_the_error_names_the_extra(
    key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name.startswith("google.auth") else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigurationError) as caught:
        build_provider("vertex", None, {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})
    assert "pip install 'llmswitch[vertex]'" in caught.value.message


def test_google_auth_is_imported_only_when_a_call_needs_a_token(key_file: Path) -> None:
    script = (
        "import sys\n"
        "from llmswitch import Client\n"
        f"c = Client(env={{'GOOGLE_APPLICATION_CREDENTIALS': {str(key_file)!r}}})\n"
        "c._core.provider('vertex')\n"
        "print('google.auth' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("line", ['api_key = "AIza-not-for-vertex"', 'keys = ["a", "b"]'])
def test_api_keys_are_refused_on_vertex(tmp_path: Path, line: str) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_text(f'[providers.vertex]\nproject = "p"\n{line}\n')
    with pytest.raises(ConfigurationError) as caught:
        load_config(path, env={})
    assert "Google credentials" in str(caught.value) and ":3:" in str(caught.value)


def test_a_hung_token_endpoint_is_a_transport_error(
    account: GoogleAccount, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmswitch.errors import TransportError
    from llmswitch.providers.vertex import _auth

    monkeypatch.setattr(_auth, "TOKEN_READ_TIMEOUT", 0.3)
    account.delay = 30.0  # far longer than the read timeout: the request must give up
    tokens = TokenSource("vertex", str(key_file))
    with pytest.raises(TransportError) as caught:
        tokens.token()
    assert "token endpoint" in caught.value.message
    assert caught.value.retryable
