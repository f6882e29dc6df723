"""Tenancy wired into the gateway as ``serve`` wires it (Tenancy.from_config): access
keys from the database authenticate, revoked ones stop at once, per-user limits answer
429 with retry-after, tenant budgets block, allowed models are enforced."""

from __future__ import annotations

from typing import Any

from llmswitch import AsyncClient
from llmswitch.config import Config
from llmswitch.gateway import Request, Route, create_app, json_response
from llmswitch.gateway.tenancy import Tenancy
from llmswitch.storage.sql import Database
from tests.support.budgets import MAX_TOKENS, MESSAGES, MODEL, priced_fake
from tests.support.gateway import gateway_client
from tests.support.sql import database, database_url  # noqa: F401


async def chat(request: Request) -> Any:
    body = await request.json()
    request.require_model(body["model"])
    reply = await request.gateway.client.chat(body["model"], MESSAGES, max_tokens=MAX_TOKENS)
    return json_response({"text": reply.text})


ROUTES = [Route("POST", "/chat", chat)]


async def test_tenancy_end_to_end_in_the_gateway(database: Database) -> None:  # noqa: F811
    config = Config()
    tenancy = Tenancy.from_config(config, database=database)
    store = tenancy.store
    await store.add_user("ana", team="ml", limits={"requests_per_minute": 2})
    await store.add_user("bob", team="ml", limits={"budget_usd_day": "0"})
    await store.add_user("cy", allowed_models=["anthropic/*"])
    ana_key_record, ana = await store.issue_key("ana")
    _, bob = await store.issue_key("bob")
    _, cy = await store.issue_key("cy")
    fake = priced_fake()
    client = AsyncClient(config=config, providers=[fake], middleware=tenancy.middleware(config))
    app = create_app(client, tenants=tenancy.authenticator, routes=ROUTES, config=config)
    await tenancy.start(client)
    body = {"model": MODEL}
    async with gateway_client(app) as http:
        assert (await http.post("/chat", json=body)).status_code == 401
        bad = await http.post(
            "/chat", json=body, headers={"authorization": "Bearer lsk-" + "x" * 43}
        )
        assert bad.status_code == 401 and "invalid access key" in bad.text
        for _ in range(2):
            ok = await http.post("/chat", json=body, headers={"authorization": f"Bearer {ana}"})
            assert ok.status_code == 200, ok.text
        limited = await http.post("/chat", json=body, headers={"x-api-key": ana})
        assert limited.status_code == 429 and "retry-after" in limited.headers
        assert fake.calls == 2
        blocked = await http.post("/chat", json=body, headers={"x-api-key": bob})
        assert blocked.status_code == 429 and "budget" in blocked.text and fake.calls == 2
        denied = await http.post("/chat", json=body, headers={"x-api-key": cy})
        assert denied.status_code == 403 and "model_not_allowed" in denied.text
        await store.revoke_key(ana_key_record.id)
        gone = await http.post("/chat", json=body, headers={"x-api-key": ana})
        assert gone.status_code == 401
    await app.shutdown()
    await client.aclose()
    await tenancy.aclose()
    await database.aclose()
    used = await Tenancy.from_config(config, database=database).store.get_key(ana_key_record.id)
    assert used is not None and used.last_used_at is not None
    await database.aclose()


async def test_a_loopback_gateway_is_open_until_the_first_key_exists(
    database: Database,  # noqa: F811
) -> None:
    from llmswitch.gateway import GatewaySettings

    config = Config()
    tenancy = Tenancy.from_config(config, database=database)
    client = AsyncClient(config=config, providers=[priced_fake()])
    body = {"model": MODEL}
    open_app = create_app(
        client, tenants=tenancy.authenticator, routes=ROUTES, config=config,
        settings=GatewaySettings(open_until_keys=True),
    )  # fmt: skip
    async with gateway_client(open_app) as http:
        assert (await http.post("/chat", json=body)).status_code == 200  # no key exists yet
        await tenancy.store.add_user("ana")
        _, key = await tenancy.store.issue_key("ana")  # issued while it runs: closed at once
        assert (await http.post("/chat", json=body)).status_code == 401
        ok = await http.post("/chat", json=body, headers={"x-api-key": key})
        assert ok.status_code == 200
    # Without open_until_keys (a non-loopback bind) a key is always needed.
    other = Tenancy.from_config(config, database=database)
    closed = create_app(client, tenants=other.authenticator, routes=ROUTES, config=config)
    async with gateway_client(closed) as http:
        assert (await http.post("/chat", json=body)).status_code == 401
    await tenancy.aclose()
    await other.aclose()


async def test_streamed_and_plain_calls_are_filed_under_the_callers_key_and_team(
    database: Database,  # noqa: F811
    database_url: str,  # noqa: F811
    tmp_path: Any,
) -> None:
    # The gateway sends a stream's body after its handler has returned: the ledger row
    # of a streamed call must still carry the caller's team and access key.
    import asyncio

    from sqlalchemy import select

    from llmswitch.storage.sql.schema import usage_ledger

    config = Config()
    tenancy = Tenancy.from_config(config, database=database)
    await tenancy.store.add_user("dee", team="ml")
    record, key = await tenancy.store.issue_key("dee")
    env = {"LLMSWITCH_DATABASE_URL": database_url, "LLMSWITCH_HOME": str(tmp_path)}
    client = AsyncClient(
        config=config, providers=[priced_fake()], middleware=tenancy.middleware(config), env=env
    )
    app = create_app(client, tenants=tenancy.authenticator, config=config)
    await tenancy.start(client)
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS}
    async with gateway_client(app, headers={"authorization": f"Bearer {key}"}) as http:
        plain = await http.post("/v1/chat/completions", json=body)
        assert plain.status_code == 200, plain.text
        streamed = await http.post("/v1/chat/completions", json={**body, "stream": True})
        assert streamed.status_code == 200 and "data: [DONE]" in streamed.text
        ledger = client.usage_ledger
        assert ledger is not None and await asyncio.to_thread(ledger.flush, 10)
        rows = await asyncio.to_thread(
            ledger.database.read,
            lambda c: [dict(r._mapping) for r in c.execute(select(usage_ledger))],
        )
    await app.shutdown()
    await client.aclose()
    await tenancy.aclose()
    await database.aclose()
    assert sorted((r["stream"], r["user"], r["team"], r["access_key"]) for r in rows) == [
        (False, "dee", "ml", record.id),
        (True, "dee", "ml", record.id),
    ]


async def test_embeddings_are_held_to_the_callers_limits_and_budgets(
    database: Database,  # noqa: F811
) -> None:
    from llmswitch.messages import EmbeddingResponse, Usage
    from llmswitch.testing import FakeProvider

    class Embeds(FakeProvider):
        embedded = 0

        def embed(self, request: Any, ctx: Any = None) -> EmbeddingResponse:
            type(self).embedded += 1
            return EmbeddingResponse(
                vectors=[[0.5, 0.5] for _ in request.inputs], model=request.model,
                usage=Usage(input_tokens=1000, total_tokens=1000), provider=self.id,
            )  # fmt: skip

        async def aembed(self, request: Any, ctx: Any = None) -> EmbeddingResponse:
            return self.embed(request, ctx)

    config = Config()
    tenancy = Tenancy.from_config(config, database=database)
    await tenancy.store.add_user("eve", limits={"requests_per_minute": 2})
    await tenancy.store.add_user("flo", limits={"budget_usd_day": "0"})
    _, eve = await tenancy.store.issue_key("eve")
    _, flo = await tenancy.store.issue_key("flo")
    client = AsyncClient(
        config=config, providers=[Embeds("openai")], middleware=tenancy.middleware(config)
    )
    app = create_app(client, tenants=tenancy.authenticator, config=config)
    await tenancy.start(client)
    body = {"model": "openai/text-embedding-3-small", "input": ["a", "b"]}
    async with gateway_client(app) as http:
        for _ in range(2):
            ok = await http.post("/v1/embeddings", json=body, headers={"x-api-key": eve})
            assert ok.status_code == 200, ok.text
            assert len(ok.json()["data"]) == 2
        limited = await http.post("/v1/embeddings", json=body, headers={"x-api-key": eve})
        assert limited.status_code == 429 and "retry-after" in limited.headers
        blocked = await http.post("/v1/embeddings", json=body, headers={"x-api-key": flo})
        assert blocked.status_code == 429 and "budget" in blocked.text
    assert Embeds.embedded == 2
    await app.shutdown()
    await client.aclose()
    await tenancy.aclose()
    await database.aclose()
