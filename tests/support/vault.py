"""What the vault-wiring tests share: the keys an operator stored, the master key, the
client environment pointing at a loopback upstream, and which key a request carried."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from llmswitch.keys.vault import KeyVault
from tests.support.loopback import Loopback
from tests.support.upstreams import OPENAI

ENV_KEY = "sk-proj-environment-0123456789abcdef"
ALICE = "sk-proj-alice-own-key-0123456789abcd"
SHARED = "sk-proj-vault-shared-0123456789abcd"
MODEL = "openai/gpt-4o-mini"
HI = [{"role": "user", "content": "Hi"}]
MASTER = {"LLMSWITCH_MASTER_KEY": base64.b64encode(bytes([7]) * 32).decode()}
CHAT = "/v1/chat/completions"


@pytest.fixture
def seeded(database_url: str) -> Iterator[KeyVault]:
    """The vault as an operator filled it: alice's own key and one shared key for openai."""
    with KeyVault(database_url, env=MASTER, refresh=0) as v:
        v.add("openai", ALICE, user="alice")
        v.add("openai", SHARED)
        yield v


def env(loopback: Loopback, database_url: str, key: str | None = ENV_KEY) -> dict[str, str]:
    """A client environment: OpenAI at the loopback (with ``key``, or none), the master
    key and the database."""
    base = OPENAI.env(loopback, key=key or "")
    if key is None:
        del base["OPENAI_API_KEY"]
    return {**base, **MASTER, "LLMSWITCH_DATABASE_URL": database_url}


def used_key(loopback: Loopback, at: int = -1) -> str:
    """The API key request ``at`` carried (x-api-key or a bearer token)."""
    headers = loopback.requests[at].headers
    if "x-api-key" in headers:
        return str(headers["x-api-key"])
    return str(headers["authorization"]).removeprefix("Bearer ")
