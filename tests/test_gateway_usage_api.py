"""``GET /v1/usage``: each access key sees its own user's usage and nothing else; the
admin key sees all. Rows come from real calls made through the gateway (the dispatcher
tags them with the caller), in SQLite."""

from __future__ import annotations

from pathlib import Path

from llmswitch import AsyncClient
from llmswitch.gateway import GatewaySettings, Principal, Request, Route, create_app
from llmswitch.gateway._response import json_response
from llmswitch.gateway.usage_api import ROUTES
from llmswitch.testing import FakeProvider
from llmswitch.wire import Secret
from tests.support.gateway import gateway_client
from tests.support.sql import sqlite_url

ADMIN = "admin-" + "z" * 40
KEYS = {
    "lsk-" + "a" * 40: Principal(key_id="key_aaaaaaaaaaaa", user="alice", team="ml"),
    "lsk-" + "b" * 40: Principal(key_id="key_bbbbbbbbbbbb", user="bob", team="web"),
    "lsk-" + "c" * 40: Principal(key_id="key_cccccccccccc", user=None, team=None),
}


class Keys:
    async def authenticate(self, token: str) -> Principal | None:
        return KEYS.get(token)

    async def aclose(self) -> None:
        return None


async def call(request: Request) -> object:
    response = await request.gateway.client.chat(
        "openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    return json_response({"text": response.text})


def h(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_each_key_sees_only_its_users_usage(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    fake = FakeProvider("openai").default_reply("hello")
    client = AsyncClient(
        providers=[fake], env={"LLMSWITCH_DATABASE_URL": url, "LLMSWITCH_HOME": str(tmp_path)}
    )
    app = create_app(
        client,
        settings=GatewaySettings(admin_key=Secret(ADMIN)),
        tenants=Keys(),
        routes=[*ROUTES, Route("POST", "/call", call)],
    )
    alice, bob, keyless = list(KEYS)
    async with gateway_client(app) as http:
        for key, times in ((alice, 3), (bob, 2), (keyless, 1)):
            for _ in range(times):
                assert (await http.post("/call", headers=h(key))).status_code == 200

        mine = (await http.get("/v1/usage?by=user", headers=h(alice))).json()["data"]
        assert [(r["user"], r["calls"]) for r in mine] == [("alice", 3)]
        theirs = (await http.get("/v1/usage?by=key", headers=h(bob))).json()["data"]
        assert [(r["key"], r["calls"]) for r in theirs] == [("key_bbbbbbbbbbbb", 2)]
        own_key = (await http.get("/v1/usage?by=key", headers=h(keyless))).json()["data"]
        assert [(r["key"], r["calls"]) for r in own_key] == [("key_cccccccccccc", 1)]

        # widening is refused, not answered empty
        for query in ("user=bob", "team=web", "key=key_bbbbbbbbbbbb"):
            r = await http.get(f"/v1/usage?{query}", headers=h(keyless))
            assert r.status_code == 403, query
        assert (await http.get("/v1/usage?user=bob", headers=h(alice))).status_code == 403
        assert (await http.get("/v1/usage?team=ml", headers=h(alice))).status_code == 200

        everyone = (await http.get("/v1/usage?by=user", headers=h(ADMIN))).json()["data"]
        assert sorted((r["user"] or "", r["calls"]) for r in everyone) == [
            ("", 1), ("alice", 3), ("bob", 2),
        ]  # fmt: skip
        assert (await http.get("/v1/usage?by=nope", headers=h(alice))).status_code == 400
        assert (await http.get("/v1/usage?colour=red", headers=h(alice))).status_code == 400
        assert (
            await http.get("/v1/usage?since=yesterday-ish", headers=h(alice))
        ).status_code == 400
        assert (await http.get("/v1/usage")).status_code == 401
    await app.shutdown()
