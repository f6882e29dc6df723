"""What the configured key vault adds to ``AsyncClient.chat`` (budget: < 5 µs a call).

    uv run python bench/vault_wiring.py

Three OpenAI clients answer from a canned chat completion through a transport stub
(no network, no JSON on the wire side beyond the adapter's own work): ``plain`` has no
KEK configured (no vault: its per-call path must not change), ``vault+user`` has
``LLMSWITCH_MASTER_KEY`` set and calls with ``user="alice"``, who has a stored key
(UserKeys binds it; the vault's key rotation then leaves the attempt alone),
``vault, no user`` the same client called without ``user`` (the provider's own key; no
shared key stored). CPU time per call (process_time), best of 15 rounds of 300 calls,
printed in microseconds with the difference to ``plain``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import tempfile
from typing import Any

from stages import abest  # bench/ is on sys.path when run as a script

from llmswitch import AsyncClient
from llmswitch.keys.vault import KeyVault
from llmswitch.wire import HttpResponse

BUDGET_US = 5.0
HI = [{"role": "user", "content": "Hi"}]
BODY = (
    b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},'
    b'"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,'
    b'"total_tokens":7}}'
)


class _Transport:
    async def send(self, request: Any, timeout: Any) -> HttpResponse:
        return HttpResponse(status=200, headers={"content-type": "application/json"}, body=BODY)

    async def aclose(self) -> None:
        pass


def main() -> int:
    folder = tempfile.mkdtemp(prefix="llmswitch-bench-")
    master = base64.b64encode(os.urandom(32)).decode()
    url = f"sqlite:///{folder}/llmswitch.db"
    config = os.path.join(folder, "llmswitch.toml")
    open(config, "w").close()
    base = {"OPENAI_API_KEY": "sk-bench-environment-key-0123456789"}
    vaulted = {**base, "LLMSWITCH_MASTER_KEY": master, "LLMSWITCH_DATABASE_URL": url}
    with KeyVault(url, env=vaulted, refresh=0) as vault:
        vault.add("openai", "sk-bench-alice-own-key-0123456789ab", user="alice")

    loop = asyncio.new_event_loop()
    plain = AsyncClient(config=config, env=base, max_retries=0)
    keyed = AsyncClient(config=config, env=vaulted, max_retries=0)
    for client in (plain, keyed):
        client._core.transport = _Transport()  # before the first call builds a context
    loop.run_until_complete(keyed.chat("openai/gpt-4o-mini", HI, user="alice"))  # loads it
    assert keyed._core.vault is not None and keyed._core.vault.loaded

    rows = {
        "plain": abest(loop, lambda: plain.chat("openai/gpt-4o-mini", HI)),
        "vault+user": abest(loop, lambda: keyed.chat("openai/gpt-4o-mini", HI, user="alice")),
        "vault, no user": abest(loop, lambda: keyed.chat("openai/gpt-4o-mini", HI)),
    }
    for client in (plain, keyed):
        loop.run_until_complete(client.aclose())
    loop.close()
    ref = rows["plain"]
    for name, us in rows.items():
        print(f"{name:<16} {us:7.2f} us/call  (+{us - ref:5.2f})")
    added = rows["vault+user"] - ref
    print(
        f"vault+user adds {added:.2f} us (budget {BUDGET_US} us): {'ok' if added < BUDGET_US else 'OVER'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
