"""The OpenAI routes under test: the gateway in process with loopback provider fakes
behind it, and the official ``openai`` SDK pointed at it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from openai import AsyncOpenAI

from llmswitch import AsyncClient
from llmswitch.gateway import Principal, create_app
from llmswitch.gateway.app import Gateway
from llmswitch.gateway.openai.routes import ROUTES
from tests.support.gateway import gateway_client
from tests.support.loopback import Loopback, Recorded, Reply
from tests.support.upstreams import Upstream

ALICE_KEY = "lsk-" + "A" * 40
BOB_KEY = "lsk-" + "B" * 40

# What an Anthropic or Gemini upstream refuses: OpenAI's own fields, never forwarded.
OPENAI_ONLY = ("seed", "logit_bias", "parallel_tool_calls", "presence_penalty",
               "frequency_penalty", "stream_options", "logprobs", "service_tier")  # fmt: skip


class Keys:
    """Two access keys: alice may use everything, bob only ``openai/gpt-4o-mini``."""

    async def authenticate(self, token: str) -> Principal | None:
        if token == ALICE_KEY:
            return Principal(key_id="key_alice0000", user="alice", team="ml")
        if token == BOB_KEY:
            return Principal(key_id="key_bob000000", user="bob", team=None,
                             allowed_models=frozenset({"openai/gpt-4o-mini"}))  # fmt: skip
        return None

    async def aclose(self) -> None:
        return None


def by_stream(answer: Reply | bytes, stream: Reply) -> Callable[[Recorded], Reply]:
    """OpenAI's one path for both: ``stream`` when the body asks for a stream."""
    whole = answer if isinstance(answer, Reply) else Reply(body=answer)
    return lambda recorded: stream if json.loads(recorded.body).get("stream") else whole


def strict(reply: Reply | bytes) -> Callable[[Recorded], Reply]:
    """A handler answering ``reply``, or a 400 as the real API would when the body
    carries a field that provider does not know."""
    answer = reply if isinstance(reply, Reply) else Reply(body=reply)

    def handle(recorded: Recorded) -> Reply:
        body = json.loads(recorded.body)
        unknown = [k for k in OPENAI_ONLY if k in body]
        if unknown:
            msg = {"type": "error", "error": {"type": "invalid_request_error",
                                              "message": f"{unknown[0]}: Extra inputs are not permitted"}}  # fmt: skip
            return Reply(status=400, body=json.dumps(msg).encode())
        return answer

    return handle


@contextlib.asynccontextmanager
async def gateway(
    loopback: Loopback, upstreams: Iterable[Upstream], *, keys: bool = True, **client_kw: Any
) -> AsyncIterator[tuple[Gateway, AsyncClient]]:
    env: dict[str, str] = {}
    for u in upstreams:
        env.update(u.env(loopback))
    client_kw.setdefault("max_retries", 0)
    client = AsyncClient(env=env, **client_kw)
    app = create_app(client, tenants=Keys() if keys else None, routes=ROUTES)
    try:
        yield app, client
    finally:
        await app.shutdown(grace=5)
        await client.aclose()


def sdk(app: Gateway, key: str = ALICE_KEY, **kw: Any) -> AsyncOpenAI:
    kw.setdefault("max_retries", 0)
    return AsyncOpenAI(
        base_url="http://gateway.test/v1", api_key=key, http_client=gateway_client(app), **kw
    )


def last_body(loopback: Loopback) -> Any:
    return json.loads(loopback.requests[-1].body)
