from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from llmswitch.testing import block_network
from tests.support.bedrock import aws_env
from tests.support.loopback import Loopback
from tests.support.sql import database, database_url
from tests.support.state import backend, redis_prefix
from tests.support.vault import seeded

# Property tests run the same examples on every run (a test's own @settings keeps its
# example count and deadline; this fixes the seed): a CI run must not fail on a random
# draw. A new case they should cover is written down with @example.
settings.register_profile("llmswitch", derandomize=True, database=None)
settings.load_profile("llmswitch")

# Fixtures shared by every module: pytest finds them here.
__all__ = ["aws_env", "backend", "database", "database_url", "redis_prefix", "seeded"]

_PROVIDER_ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_AD_TOKEN", "OPENAI_API_VERSION", "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL",
    "OLLAMA_HOST", "LLMSWITCH_CONFIG", "LLMSWITCH_ENV", "LLMSWITCH_MODEL",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests see no provider settings from the machine they run on, no llmswitch.toml and
    no database of its own."""
    for name in _PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    # The default database lives under LLMSWITCH_HOME: never the real one of the machine.
    monkeypatch.delenv("LLMSWITCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("LLMSWITCH_HOME", str(tmp_path_factory.mktemp("home") / "llmswitch"))


@pytest.fixture(autouse=True)
def _bundled_catalog() -> Iterator[None]:
    """A client's [catalog] settings and listed models go into the process's default
    catalog: each test starts from the bundled data alone."""
    from llmswitch import catalog

    catalog.install(None)
    yield
    catalog.install(None)


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    """The whole suite runs under the guard users get: loopback only."""
    with block_network():
        yield
