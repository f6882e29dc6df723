"""The admin API through the app in process: auth (401 without or with a wrong admin
key, 403 for a tenant's access key, on every operation), teams/users/keys CRUD with
limits, the access key shown once, validation errors naming the field, and the
OpenAPI document made from the same declarations as the routes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from llmswitch.gateway.admin import OPERATIONS, ROUTER, document
from tests.support.admin import ADMIN, ADMIN_KEY, AdminApp, admin_app
from tests.support.gateway import gateway_client
from tests.support.sql import database_url  # noqa: F401  (the sqlite/postgresql fixture)


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[AdminApp]:  # noqa: F811
    built = admin_app(database_url)
    yield built
    await built.app.shutdown()
    await built.store.database.aclose()


@pytest.fixture
async def http(admin: AdminApp) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(admin.app, headers=ADMIN) as client:
        yield client


def _concrete(path: str) -> str:
    """A path of ``path``'s template with plausible parameter values."""
    values = {"name": "alice", "key_id": "key_0123456789ab", "label": "production",
              "experiment_id": "exp-1"}  # fmt: skip
    out = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
    return out.replace("/provider-keys/key_0123456789ab", "/provider-keys/key_" + "0" * 20)


async def test_every_operation_needs_the_admin_key(admin: AdminApp) -> None:
    await admin.store.add_user("alice", team="ml")
    _, tenant_key = await admin.store.issue_key("alice")
    wrong = {"authorization": "Bearer adm-" + "x" * 42}
    async with gateway_client(admin.app) as anon:
        for op in [*OPERATIONS, None]:
            method, path = ("GET", "/admin/openapi.json") if op is None else (op.method, op.path)
            url = _concrete(path)
            for headers, status in (({}, 401), (wrong, 401), ({"x-api-key": tenant_key}, 403),
                                    ({"authorization": f"Bearer {tenant_key}"}, 403)):  # fmt: skip
                answer = await anon.request(method, url, headers=headers, json={})
                assert answer.status_code == status, (method, url, headers.keys())
                body = answer.json()
                # Only an error: no admin data, and neither key echoed.
                assert set(body) == {"error"}
                assert "alice" not in answer.text and tenant_key not in answer.text
                assert ADMIN_KEY not in answer.text


async def test_teams_and_users_crud(http: httpx.AsyncClient) -> None:
    made = await http.post("/admin/teams", json={
        "name": "ml", "allowed_models": ["openai/gpt-4o-mini"],
        "limits": {"requests_per_minute": 60, "budget_usd_month": 25.5},
    })  # fmt: skip
    assert made.status_code == 201, made.text
    team = made.json()
    assert team["allowed_models"] == ["openai/gpt-4o-mini"]
    assert team["limits"]["requests_per_minute"] == 60
    assert team["limits"]["budget_usd_month"] == 25.5
    assert team["limits"]["tokens_per_day"] is None
    again = await http.post("/admin/teams", json={"name": "ml"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    user = await http.post("/admin/users", json={"name": "alice", "team": "ml"})
    assert user.status_code == 201, user.text
    assert user.json()["team"] == "ml" and user.json()["disabled"] is False
    await http.post("/admin/users", json={"name": "bob"})  # no team
    assert [u["name"] for u in (await http.get("/admin/users", params={"team": "ml"})).json()] == [
        "alice"
    ]
    assert {u["name"] for u in (await http.get("/admin/users")).json()} == {"alice", "bob"}

    # PATCH changes only what is sent; null clears.
    changed = await http.patch("/admin/users/alice", json={"limits": {"tokens_per_day": 1000}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["limits"]["tokens_per_day"] == 1000
    assert changed.json()["team"] == "ml"
    disabled = await http.patch("/admin/users/alice", json={"disabled": True})
    assert disabled.json()["disabled"] is True
    assert disabled.json()["limits"]["tokens_per_day"] == 1000
    cleared = await http.patch("/admin/teams/ml", json={"allowed_models": None})
    assert cleared.json()["allowed_models"] is None
    assert cleared.json()["limits"]["requests_per_minute"] == 60
    assert (await http.get("/admin/teams/ml")).json() == cleared.json()

    for path in ("/admin/users/nobody", "/admin/teams/nobody"):
        missing = await http.get(path)
        assert missing.status_code == 404 and missing.json()["error"]["param"] == "name"
        assert (await http.patch(path, json={})).status_code == 404
        assert (await http.delete(path)).status_code == 404

    assert (await http.delete("/admin/teams/ml")).status_code == 204
    assert (await http.get("/admin/users/alice")).json()["team"] is None  # the user stays
    assert (await http.delete("/admin/users/bob")).status_code == 204
    assert (await http.get("/admin/users/bob")).status_code == 404


async def test_an_access_key_is_shown_once(admin: AdminApp, http: httpx.AsyncClient) -> None:
    await http.post("/admin/users", json={"name": "alice", "team": "ml"})
    issued = await http.post("/admin/keys", json={
        "user": "alice", "name": "laptop", "allowed_models": ["openai/gpt-4o-mini"],
        "limits": {"requests_per_day": 100}, "expires_at": "2999-01-01T00:00:00Z",
    })  # fmt: skip
    assert issued.status_code == 201, issued.text
    body = issued.json()
    key = body["key"]
    assert re.fullmatch(r"lsk-[A-Za-z0-9_-]{32,}", key)
    assert body["status"] == "active" and body["name"] == "laptop"
    assert key[4:12] == body["prefix"]
    assert body["expires_at"].startswith("2999-01-01T00:00:00")

    # The key authenticates through the gateway's own authenticator at once.
    principal = await admin.app.tenants.authenticate(key)  # type: ignore[union-attr]
    assert principal is not None and principal.user == "alice" and principal.team == "ml"

    # Never again: not in the list, nor in the record, nor its hash.
    listed = await http.get("/admin/keys", params={"user": "alice"})
    one = await http.get(f"/admin/keys/{body['id']}")
    for answer in (listed, one):
        assert answer.status_code == 200
        records = answer.json() if isinstance(answer.json(), list) else [answer.json()]
        assert key not in answer.text and "hash" not in answer.text
        assert all("key" not in r and "hash" not in r for r in records)
    assert one.json()["limits"]["requests_per_day"] == 100
    assert [k["id"] for k in listed.json()] == [body["id"]]

    revoked = await http.delete(f"/admin/keys/{body['id']}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_at"] is not None
    # Seen at once by the gateway's cache (the same store told it).
    assert await admin.app.tenants.authenticate(key) is None  # type: ignore[union-attr]
    assert (await http.delete(f"/admin/keys/{body['id']}")).status_code == 200  # idempotent
    assert (await http.get("/admin/keys/key_000000000000")).status_code == 404
    unknown_user = await http.post("/admin/keys", json={"user": "nobody"})
    assert unknown_user.status_code == 404 and unknown_user.json()["error"]["param"] == "user"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "bad name"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "ok", "limits": {"requests_per_minute": "5"}}, "limits.requests_per_minute"),
        ({"name": "ok", "limits": {"requests_per_minute": 0}}, "limits.requests_per_minute"),
        ({"name": "ok", "limits": {"budget_usd_day": -1}}, "limits.budget_usd_day"),
        ({"name": "ok", "limits": {"per_year": 5}}, "limits.per_year"),
        ({"name": "ok", "allowed_models": "openai/gpt-4o"}, "allowed_models"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({}, "name"),
    ],
)
async def test_validation_errors_name_the_field(
    http: httpx.AsyncClient, body: dict[str, Any], param: str
) -> None:
    answer = await http.post("/admin/teams", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["code"] == "validation_error"
    assert error["details"][0]["loc"] == param.split(".")
    assert (await http.get("/admin/teams")).json() == []  # nothing was made


async def test_malformed_requests(http: httpx.AsyncClient) -> None:
    not_json = await http.post("/admin/teams", content=b"{nope", headers={"content-type": "x"})
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
    empty = await http.post("/admin/teams", content=b"")
    assert empty.status_code == 400
    array = await http.post("/admin/teams", json=[1])
    assert array.status_code == 422
    wrong_method = await http.put("/admin/teams")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET, POST"
    assert (await http.get("/admin/nothing-here")).status_code == 404
    assert (await http.get("/admin/keys/not-an-id")).status_code == 422
    unknown_query = await http.get("/admin/teams", params={"x": "1"})
    assert unknown_query.status_code == 422 and unknown_query.json()["error"]["param"] == "x"
    too_far = await http.post(
        "/admin/keys", json={"user": "a", "expires_at": "9999-12-31T23:59:59-23:59"}
    )
    assert too_far.status_code in (404, 422)  # never an overflow


def test_the_document_is_made_from_the_operations() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    declared = {(op.method.lower(), op.path) for op in OPERATIONS}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert declared == documented
    ids = [ops[m]["operationId"] for p, ops in doc["paths"].items() for m in ops]
    assert len(ids) == len(set(ids))
    for path, ops in doc["paths"].items():
        for method, entry in ops.items():
            op, params, _ = ROUTER.match(method.upper(), _concrete(path))
            assert op is not None and op.path == path
            assert {"401", "403", "422"} <= set(entry["responses"])
            assert set(params) == {p["name"] for p in entry["parameters"] if p["in"] == "path"}
    schemas = doc["components"]["schemas"]
    assert "secret" in schemas["ProviderKeyCreate"]["properties"]
    assert "secret" not in schemas["ProviderKey"]["properties"]  # write-only
    assert "key" in schemas["IssuedKey"]["properties"]
    assert "key" not in schemas["AccessKey"]["properties"]


async def test_openapi_is_served(http: httpx.AsyncClient) -> None:
    answer = await http.get("/admin/openapi.json")
    assert answer.status_code == 200
    assert answer.json() == document()
