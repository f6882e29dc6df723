"""The gateway's core: routing, auth, request ids, body limits, error classification and
the SSE writer (progressive writes, heartbeats, disconnects, errors after the start)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from llmswitch import errors as e
from llmswitch.gateway import (
    GatewaySettings,
    HttpError,
    Principal,
    Request,
    Route,
    StreamResponse,
    classify,
    create_app,
    json_response,
    retry_headers,
)
from llmswitch.gateway._errors import PLAIN
from llmswitch.testing import FakeProvider
from llmswitch.usage import current_tags
from llmswitch.usage.middleware import new_request_id
from llmswitch.wire import Secret
from tests.support.gateway import gateway_client, served

ADMIN_KEY = "admin-" + "a" * 40
ALICE_KEY = "lsk-" + "A" * 40


class Keys:
    """An Authenticator with one known access key."""

    def __init__(self) -> None:
        self.closed = False

    async def authenticate(self, token: str) -> Principal | None:
        if token == ALICE_KEY:
            return Principal(
                key_id="key_0123456789ab",
                user="alice",
                team="ml",
                allowed_models=frozenset({"openai/gpt-4o-mini"}),
            )
        return None

    async def aclose(self) -> None:
        self.closed = True


async def whoami(request: Request) -> object:
    tags = current_tags()
    body = await request.body()
    return json_response(
        {
            "user": tags.user,
            "team": tags.team,
            "key": tags.access_key,
            "request_id": new_request_id(),
            "bytes": len(body),
        }
    )


async def model_check(request: Request) -> object:
    data = await request.json()
    request.require_model(data["model"])
    return json_response({"ok": True})


async def boom(request: Request) -> object:
    raise e.RateLimitError("slow down", provider="openai", status_code=429, retry_after=1.2)


ROUTES = [
    Route("POST", "/whoami", whoami),
    Route("POST", "/model", model_check),
    Route("GET", "/boom", boom),
    Route("GET", "/admin/*", whoami, auth="admin"),
    Route("GET", "/open", whoami, auth="none"),
]


def app_with(**settings: object) -> object:
    fake = FakeProvider("openai").default_reply("hi")
    from llmswitch import AsyncClient

    return create_app(
        AsyncClient(providers=[fake]),
        settings=GatewaySettings(**settings),  # type: ignore[arg-type]
        tenants=Keys(),
        routes=ROUTES,
    )


async def test_routing_404_and_405() -> None:
    async with gateway_client(app_with()) as http:  # type: ignore[arg-type]
        missing = await http.get("/nope")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        wrong = await http.get("/whoami")
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "POST"


async def test_access_key_sets_the_callers_tags_and_request_id() -> None:
    async with gateway_client(app_with()) as http:  # type: ignore[arg-type]
        r = await http.post(
            "/whoami", headers={"authorization": f"Bearer {ALICE_KEY}", "x-request-id": "abc-1"}
        )
        assert r.status_code == 200
        assert r.json() == {
            "user": "alice",
            "team": "ml",
            "key": "key_0123456789ab",
            "request_id": "abc-1",
            "bytes": 0,
        }
        assert r.headers["x-request-id"] == "abc-1"
        # x-api-key works too; an insane request id is replaced by a fresh one
        r = await http.post("/whoami", headers={"x-api-key": ALICE_KEY, "x-request-id": "a b\x01"})
        assert r.status_code == 200
        fresh = r.headers["x-request-id"]
        assert fresh != "a b\x01" and fresh == r.json()["request_id"]


async def test_bad_keys_are_401_and_never_echoed() -> None:
    async with gateway_client(app_with()) as http:  # type: ignore[arg-type]
        for headers in ({}, {"authorization": "Bearer lsk-wrong"}, {"x-api-key": "lsk-nope"}):
            r = await http.post("/whoami", headers=headers)
            assert r.status_code == 401
            assert r.json()["error"]["code"] == "invalid_access_key"
            assert "wrong" not in r.text and "nope" not in r.text


async def test_admin_routes_take_only_the_admin_key() -> None:
    app = app_with(admin_key=Secret(ADMIN_KEY))
    async with gateway_client(app) as http:  # type: ignore[arg-type]
        assert (await http.get("/admin/users")).status_code == 401
        tenant = await http.get("/admin/users", headers={"x-api-key": ALICE_KEY})
        assert tenant.status_code == 403
        ok = await http.get("/admin/users", headers={"authorization": f"Bearer {ADMIN_KEY}"})
        assert ok.status_code == 200
        # the admin key also passes key routes, with no tenant tags
        r = await http.post("/whoami", headers={"x-api-key": ADMIN_KEY})
        assert r.status_code == 200 and r.json()["user"] is None
        assert (await http.get("/open")).status_code == 200


async def test_open_gateway_without_keys_or_admin() -> None:
    from llmswitch import AsyncClient

    app = create_app(AsyncClient(providers=[FakeProvider("openai")]), routes=ROUTES)
    async with gateway_client(app) as http:
        assert (await http.post("/whoami")).status_code == 200


async def test_allowed_models_and_bad_json() -> None:
    async with gateway_client(app_with()) as http:  # type: ignore[arg-type]
        h = {"x-api-key": ALICE_KEY}
        assert (await http.post("/model", headers=h, json={"model": "openai/gpt-4o-mini"})).json()
        denied = await http.post("/model", headers=h, json={"model": "anthropic/claude"})
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "model_not_allowed"
        bad = await http.post("/model", headers=h, content=b"{not json")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"


async def test_body_limit() -> None:
    async with gateway_client(app_with(max_body_bytes=1024)) as http:  # type: ignore[arg-type]
        r = await http.post("/whoami", headers={"x-api-key": ALICE_KEY}, content=b"x" * 2048)
        assert r.status_code == 413
        r = await http.post("/whoami", headers={"x-api-key": ALICE_KEY}, content=b"x" * 1000)
        assert r.status_code == 200 and r.json()["bytes"] == 1000


async def test_errors_keep_retry_hints() -> None:
    async with gateway_client(app_with()) as http:  # type: ignore[arg-type]
        r = await http.get("/boom", headers={"x-api-key": ALICE_KEY})
        assert r.status_code == 429
        assert r.headers["retry-after"] == "2"
        assert r.headers["retry-after-ms"] == "1200"


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (e.ContextLengthExceededError("too long", provider="anthropic", status_code=400), 400,
         "context_length"),
        (e.ProviderUnavailableError("overloaded", provider="anthropic", status_code=529), 503,
         "overloaded"),
        (e.AuthenticationError("bad key", provider="openai", status_code=401), 401,
         "authentication"),
        (e.PermissionDeniedError("no", provider="openai", status_code=403), 403, "permission"),
        (e.ModelNotFoundError("no model", provider="openai", status_code=404), 404, "not_found"),
        (e.RateLimitExceeded("local limit", retry_after=3), 429, "rate_limit"),
        (e.BudgetExceededError("spent", scope="user:alice", period="day", spent_usd=1.0,
                               limit_usd=1.0), 429, "budget"),
        (e.LLMTimeoutError("slow", provider="openai"), 504, "timeout"),
        (e.TransportError("refused", provider="openai"), 502, "upstream"),
        (HttpError(413, "big"), 413, "too_large"),
        (ValueError("secret-ish internals"), 500, "server"),
    ],
)  # fmt: skip
def test_classify(exc: BaseException, status: int, kind: str) -> None:
    info = classify(exc)
    assert (info.status, info.kind) == (status, kind)
    if isinstance(exc, ValueError):
        assert "internals" not in info.message
    if isinstance(exc, e.ProviderError):
        assert exc.provider and exc.provider in info.message


def test_all_failed_answers_as_the_last_attempt() -> None:
    limited = e.RateLimitError("429", provider="gemini", status_code=429, retry_after=7)
    info = classify(e.AllProvidersFailedError("all failed", errors=[limited]))
    assert info.status == 429 and retry_headers(info) == [
        ("retry-after", "7"),
        ("retry-after-ms", "7000"),
    ]


# ------------------------------------------------------------------ streams on a socket


def stream_app(make: object, heartbeat: float = 15.0) -> object:
    async def handler(request: Request) -> StreamResponse:
        return StreamResponse(
            make(),  # type: ignore[operator]
            on_error=lambda exc: b"event: error\ndata: " + str(classify(exc).status).encode()
            + b"\n\n",
        )  # fmt: skip

    from llmswitch import AsyncClient

    return create_app(
        AsyncClient(providers=[FakeProvider("openai")]),
        settings=GatewaySettings(heartbeat_seconds=heartbeat),
        routes=[Route("GET", "/s", handler, errors=PLAIN)],
    )


def test_chunks_are_written_as_they_come() -> None:
    release = threading.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: one\n\n"
        while not release.is_set():  # the client must see "one" before "two" exists
            await asyncio.sleep(0.01)
        yield b"data: two\n\n"

    with served(stream_app(chunks)) as url:  # type: ignore[arg-type]
        with httpx.stream("GET", url + "/s", timeout=30) as r:
            assert r.headers["content-type"] == "text/event-stream"
            lines = r.iter_lines()
            assert next(lines) == "data: one"
            release.set()
            rest = [line for line in lines if line]
        assert rest == ["data: two"]


def test_heartbeat_during_silence_then_error_event() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: start\n\n"
        await asyncio.sleep(1.5)
        raise e.ProviderUnavailableError("overloaded", provider="anthropic", status_code=529)

    with served(stream_app(chunks, heartbeat=0.2)) as url:  # type: ignore[arg-type]
        body = httpx.get(url + "/s", timeout=30).text
    assert body.startswith("data: start\n\n")
    assert ": keep-alive" in body
    assert body.endswith("event: error\ndata: 503\n\n")


def test_client_disconnect_closes_the_generator() -> None:
    closed = threading.Event()

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"data: first\n\n"
            while True:
                await asyncio.sleep(0.05)
                yield b": still here\n\n"
        finally:
            closed.set()

    with served(stream_app(chunks)) as url:  # type: ignore[arg-type]
        with httpx.stream("GET", url + "/s", timeout=30) as r:
            assert next(r.iter_lines()) == "data: first"
        started = time.monotonic()
        # 250 ms is the promise; the wide margin keeps a busy machine from failing it.
        assert closed.wait(10), "the stream was not closed after the client left"
        assert time.monotonic() - started < 10


async def test_a_tenant_cannot_choose_whose_provider_keys_a_call_uses() -> None:
    from llmswitch.gateway._principal import ADMIN, ANONYMOUS

    async def noop(request: Request) -> object:
        return json_response({})

    app = app_with()
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    request = Request(scope, noop, app)  # type: ignore[arg-type]
    cases = [
        (Principal(key_id="key_1", user="alice", team=None), "alice"),
        (Principal(key_id="key_2", user=None, team=None), None),  # the body's "bob" is dropped
        (ADMIN, "bob"),
        (ANONYMOUS, "bob"),
    ]
    for principal, expected in cases:
        request.principal = principal
        options = {"user": "bob"}
        request.bind_user(options)
        assert options.get("user") == expected, principal
