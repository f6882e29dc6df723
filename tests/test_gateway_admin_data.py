"""The admin API's other resources in process: provider keys in the vault (write-only:
the secret never in an answer or a log line), prompts and experiments, usage rows
equal to the report's, budgets read live, and the client's status."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from llmswitch.keys.vault import KeyVault
from llmswitch.usage import report, tags
from llmswitch.usage.budgets import Budget
from tests.support.admin import ADMIN, MASTER, AdminApp, admin_app
from tests.support.budgets import MESSAGES, MODEL, config, priced_fake
from tests.support.gateway import gateway_client
from tests.support.sql import sqlite_url

SECRET = "sk-proj-admin-secret-0123456789abcdef"


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[AdminApp]:
    built = admin_app(
        sqlite_url(tmp_path),
        config=config(Budget(scope="user:alice", limit_usd=5.0, period="day")),
        provider=priced_fake(),
    )
    yield built
    await built.app.shutdown()
    await built.store.database.aclose()


@pytest.fixture
async def http(admin: AdminApp) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(admin.app, headers=ADMIN) as client:
        yield client


async def test_provider_keys_are_write_only(
    admin: AdminApp, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    made = await http.post("/admin/provider-keys", json={
        "provider": "openai", "secret": SECRET, "user": "alice", "label": "alice's",
    })  # fmt: skip
    assert made.status_code == 201, made.text
    record = made.json()
    assert record["fingerprint"] == hashlib.sha256(SECRET.encode()).hexdigest()
    assert record["user"] == "alice" and record["status"] == "active"
    listed = await http.get("/admin/provider-keys", params={"provider": "openai"})
    assert [r["id"] for r in listed.json()] == [record["id"]]
    assert (await http.get("/admin/provider-keys", params={"user": "bob"})).json() == []
    # Stored encrypted and readable by the vault with the same master key.
    with KeyVault(admin.url, env={"LLMSWITCH_MASTER_KEY": MASTER}, refresh=0) as vault:
        assert vault.get(record["id"]).get() == SECRET

    refused = await http.post("/admin/provider-keys", json={"provider": "nope", "secret": SECRET})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "provider"
    blank = await http.post("/admin/provider-keys", json={"provider": "openai", "secret": " x "})
    assert blank.status_code == 400 and blank.json()["error"]["param"] == "secret"
    typed = await http.post("/admin/provider-keys", json={"provider": "openai", "secret": 5})
    assert typed.status_code == 422 and typed.json()["error"]["param"] == "secret"

    gone = await http.delete(f"/admin/provider-keys/{record['id']}")
    assert gone.status_code == 204
    assert (await http.delete(f"/admin/provider-keys/{record['id']}")).status_code == 404
    assert (await http.get("/admin/provider-keys")).json() == []

    answers = [made, listed, refused, blank, typed, gone, await http.get("/admin/openapi.json")]
    for answer in answers:
        assert SECRET not in answer.text and " x " not in answer.text
    assert SECRET not in caplog.text


async def test_no_kek_means_nothing_is_stored(tmp_path: Path) -> None:
    built = admin_app(sqlite_url(tmp_path), master_key=False)
    try:
        async with gateway_client(built.app, headers=ADMIN) as http:
            answer = await http.post(
                "/admin/provider-keys", json={"provider": "openai", "secret": SECRET}
            )
            assert answer.status_code == 409
            assert answer.json()["error"]["code"] == "vault_not_configured"
            assert SECRET not in answer.text
            assert (await http.get("/admin/provider-keys")).json() == []
    finally:
        await built.app.shutdown()
        await built.store.database.aclose()


async def test_prompts_versions_and_labels(http: httpx.AsyncClient) -> None:
    first = await http.post("/admin/prompts/greet/versions",
                            json={"template": "Hello {{ name }}", "message": "first"})  # fmt: skip
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 1 and first.json()["created"] is True
    same = await http.post("/admin/prompts/greet/versions", json={"template": "Hello {{ name }}"})
    assert same.json()["version"] == 1 and same.json()["created"] is False
    second = await http.post("/admin/prompts/greet/versions", json={"template": {
        "system": "Be brief.", "messages": [{"role": "user", "content": "Hi {{ name }}"}],
        "model": MODEL,
    }})  # fmt: skip
    assert second.json()["version"] == 2
    assert second.json()["template"]["system"] == "Be brief."
    broken = await http.post("/admin/prompts/greet/versions", json={"template": "{{ oops"})
    assert broken.status_code == 400

    moved = await http.put("/admin/prompts/greet/labels/production", json={"version": 1})
    assert moved.json() == {"name": "greet", "label": "production", "version": 1, "previous": None}
    again = await http.put("/admin/prompts/greet/labels/production", json={"version": 2})
    assert again.json()["previous"] == 1
    assert (await http.put("/admin/prompts/greet/labels/production",
                           json={"version": 9})).status_code == 404  # fmt: skip
    assert (await http.put("/admin/prompts/greet/labels/latest",
                           json={"version": 1})).status_code == 400  # fmt: skip
    assert (await http.put("/admin/prompts/nope/labels/x", json={"version": 1})).status_code == 404

    listed = (await http.get("/admin/prompts")).json()
    assert [(p["name"], p["latest"], p["labels"]) for p in listed] == [
        ("greet", 2, {"production": 2})
    ]
    versions = (await http.get("/admin/prompts/greet/versions")).json()
    assert [v["ref"] for v in versions] == ["greet@1", "greet@2"]
    assert versions[0]["message"] == "first" and versions[0]["author"] == "admin"
    assert (await http.get("/admin/prompts/nope/versions")).status_code == 404


async def test_experiments(http: httpx.AsyncClient) -> None:
    for text in ("Hello {{ name }}", "Hi {{ name }}"):
        await http.post("/admin/prompts/greet/versions", json={"template": text})
    variants = [{"name": "control", "version": 1}, {"name": "brief", "version": 2, "weight": 3}]
    started = await http.post("/admin/experiments",
                              json={"prompt": "greet", "variants": variants, "id": "tone"})  # fmt: skip
    assert started.status_code == 201, started.text
    assert started.json()["status"] == "running"
    assert [v["weight"] for v in started.json()["variants"]] == [1.0, 3.0]
    second = await http.post("/admin/experiments", json={"prompt": "greet", "variants": variants})
    assert second.status_code == 409 and second.json()["error"]["param"] == "prompt"
    taken = await http.post("/admin/experiments",
                            json={"prompt": "greet", "variants": variants, "id": "tone"})  # fmt: skip
    assert taken.status_code == 409
    no_prompt = await http.post("/admin/experiments", json={"prompt": "nope", "variants": variants})
    assert no_prompt.status_code == 404
    one = await http.post("/admin/experiments", json={"prompt": "greet", "variants": variants[:1]})
    assert one.status_code == 422 and one.json()["error"]["param"] == "variants"

    assert (await http.get("/admin/experiments/tone")).json()["id"] == "tone"
    assert [e["id"] for e in (await http.get("/admin/experiments")).json()] == ["tone"]
    assert (await http.get("/admin/experiments", params={"prompt": "other"})).json() == []
    results = await http.get("/admin/experiments/tone/results", params={"since": "7d"})
    assert results.status_code == 200, results.text
    assert results.json()["experiment"]["id"] == "tone" and results.json()["rows_read"] == 0
    bad_since = await http.get("/admin/experiments/tone/results", params={"since": "soon"})
    assert bad_since.status_code == 400 and bad_since.json()["error"]["param"] == "since"

    wrong = await http.post("/admin/experiments/tone/stop", json={"winner": "nobody"})
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "winner"
    stopped = await http.post("/admin/experiments/tone/stop", json={"winner": "brief"})
    assert stopped.json()["status"] == "stopped" and stopped.json()["winner"] == "brief"
    assert (await http.post("/admin/experiments/tone/stop")).status_code == 409
    assert (await http.get("/admin/experiments/nope")).status_code == 404


async def test_usage_rows_are_the_reports(admin: AdminApp, http: httpx.AsyncClient) -> None:
    await http.get("/admin/status")  # starts the gateway, which opens its client
    client = admin.app.client
    for user, team in (("alice", "ml"), ("alice", "ml"), ("bob", None)):
        with tags(user=user, team=team):
            await client.chat(MODEL, messages=MESSAGES, max_tokens=100)
    ledger = client.usage_ledger
    assert ledger is not None and ledger.flush()

    for params in ({"by": "user"}, {"by": "day,model"}, {"by": "team", "user": "alice"},
                   {"by": "user", "since": "1d", "until": "2999-01-01"}):  # fmt: skip
        answer = await http.get("/admin/usage", params=params)
        assert answer.status_code == 200, answer.text
        filters = {k: v for k, v in params.items() if k not in ("by", "since", "until")}
        expected = report(admin.url, params["by"], params.get("since"), params.get("until"),
                          **filters)  # fmt: skip
        assert answer.json() == expected
    by_user = {row["user"]: row for row in (await http.get("/admin/usage?by=user")).json()}
    assert by_user["alice"]["calls"] == 2 and by_user["bob"]["calls"] == 1
    assert by_user["alice"]["cost_usd"] > 0
    assert set(by_user["alice"]) == {"user", "calls", "input_tokens", "output_tokens",
                                     "cached_input_tokens", "cache_write_tokens",
                                     "reasoning_tokens", "cost_usd"}  # fmt: skip

    for params, status in (({"by": "colour"}, 422), ({"since": "soon"}, 400),
                           ({"since": "99999999999999d"}, 400),
                           ({"since": "2026-12-02", "until": "2026-12-01"}, 400)):  # fmt: skip
        assert (await http.get("/admin/usage", params=params)).status_code == status, params

    budgets = (await http.get("/admin/budgets")).json()
    alice = next(b for b in budgets if b["scope"] == "user:alice")
    assert alice["period"] == "day" and alice["limit_usd"] == 5.0
    assert 0 < alice["spent_usd"] < 5.0
    assert alice["remaining_usd"] == pytest.approx(5.0 - alice["spent_usd"] - alice["reserved_usd"])

    status = await http.get("/admin/status")
    assert status.status_code == 200 and isinstance(status.json(), dict)
    assert status.json() == await client.status()
