"""The dashboard's data endpoints over a ledger with known rows (the page's numbers are
the ledger's), its session (login, cookie, expiry, logout, the failed-login limiter) and
its static files (types, CSP, ETags)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmswitch import AsyncClient
from llmswitch.gateway.dashboard import Dashboard
from llmswitch.gateway.dashboard._session import COOKIE, LoginLimiter, Sessions, read_cookie
from llmswitch.usage.report import report
from tests.support.dashboard import (
    ADMIN_KEY,
    DAY_MS,
    MESSAGES,
    MODEL,
    Ledger,
    day_start_ms,
    make_app,
    make_client,
    month_start_ms,
    seed_ledger,
)
from tests.support.gateway import gateway_client
from tests.support.state import FakeClock

ENDPOINTS = ("overview", "spend", "budgets", "live", "status", "experiments")
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return seed_ledger(tmp_path)


@pytest.fixture
async def client(tmp_path: Path, ledger: Ledger) -> AsyncIterator[AsyncClient]:
    c = make_client(tmp_path, ledger.url)
    try:
        yield c
    finally:
        await c.aclose()


@pytest.fixture
async def http(client: AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(make_app(client)) as h:
        yield h


async def _login(http: httpx.AsyncClient, key: str = ADMIN_KEY, **headers: str) -> httpx.Response:
    return await http.post(
        "/dashboard/login", data={"key": key}, headers=headers, follow_redirects=False
    )


async def _get(http: httpx.AsyncClient, name: str, **params: str) -> dict[str, Any]:
    response = await http.get(f"/dashboard/api/{name}", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# ---- the numbers


async def test_spend_totals_are_the_ledgers_own(http: httpx.AsyncClient, ledger: Ledger) -> None:
    since = day_start_ms() - 30 * DAY_MS  # what "30d" covers, to the day
    data = await _get(http, "spend", by="provider", since="30d")
    assert data["by"] == "provider"
    expected = report(ledger.url, by="provider", since="30d")
    assert data["total"]["cost_usd"] == pytest.approx(ledger.cost(since) / 1e9, abs=0)
    assert data["total"]["calls"] == 4  # the 60-day-old row is outside the range
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["openai"]["cost_usd"] == 3_750_000 / 1e9
    assert rows["anthropic"]["cost_usd"] == 3_000_001 / 1e9
    assert rows["openai"]["calls"] == 3 and rows["anthropic"]["calls"] == 1
    assert [r["cost_usd"] for r in data["rows"]] == [r["cost_usd"] for r in expected]
    # One bar per calendar day, today last; each series sums to its group's total.
    assert len(data["days"]) == 31 and data["days"][-1] == _today()
    for series in data["series"]:
        assert sum(series["values"]) == pytest.approx(rows[series["name"]]["cost_usd"])
    openai = next(s for s in data["series"] if s["name"] == "openai")
    assert openai["values"][-1] in (0.0015, 0.0)  # today's (0 only just after midnight)


async def test_spend_by_user_names_calls_without_one(http: httpx.AsyncClient) -> None:
    data = await _get(http, "spend", by="user", since="90d")
    labels = {r["label"]: r["cost_usd"] for r in data["rows"]}
    assert labels == {
        "carol": 0.009, "alice": 4_500_001 / 1e9, "bob": 0.00225, "(none)": None,
    }  # fmt: skip
    assert data["total"]["cost_usd"] == 15_750_001 / 1e9
    team = await _get(http, "spend", by="team", since="90d")
    assert {r["label"] for r in team["rows"]} == {"ml", "research", "(none)"}
    keys = await _get(http, "spend", by="key", since="90d")
    assert [r["label"] for r in keys["rows"]] == ["(none)"]  # no access keys in these rows
    assert keys["total"] == team["total"]


async def test_bad_parameters_are_400_naming_the_field(http: httpx.AsyncClient) -> None:
    for params, field in (({"by": "colour"}, "by"), ({"since": "last tuesday"}, "since")):
        response = await http.get("/dashboard/api/spend", params=params, headers=ADMIN)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_parameter"
        assert field in response.json()["error"]["message"]
    response = await http.get("/dashboard/api/nothing", headers=ADMIN)
    assert response.status_code == 404


async def test_overview_and_budgets(http: httpx.AsyncClient, ledger: Ledger) -> None:
    month = ledger.cost(month_start_ms())
    data = await _get(http, "overview")
    assert data["today"]["cost_usd"] == (ledger.cost(day_start_ms()) / 1e9 or None)
    assert data["month"]["cost_usd"] == (month / 1e9 or None)
    assert data["breakers_open"] == 0
    (budget,) = (await _get(http, "budgets"))["budgets"]
    assert (budget["scope"], budget["period"], budget["action"]) == ("global", "month", "alert")
    assert budget["spent_usd"] == month / 1e9 and budget["limit_usd"] == 0.01
    assert budget["alert_at"] == [0.5, 0.8, 1.0]
    assert budget["used"] == month / 10_000_000
    assert budget["crossed"] == [a for a in (0.5, 0.8, 1.0) if month >= a * 10_000_000]
    assert data["budgets_alerting"] == (1 if budget["crossed"] else 0)


async def test_budget_alerts_raised_here_are_listed(tmp_path: Path, ledger: Ledger) -> None:
    limit = ledger.cost(month_start_ms()) + 100_000  # a few calls cross 100%
    client = make_client(tmp_path, ledger.url, limit_usd=limit / 1e9)
    try:
        async with gateway_client(make_app(client)) as http:
            assert (await _get(http, "budgets"))["alerts"] == []
            for _ in range(40):
                await client.chat(MODEL, MESSAGES, max_tokens=100, cache=False)
                (budget,) = (await _get(http, "budgets"))["budgets"]
                if budget["used"] >= 1:
                    break
            budgets = await _get(http, "budgets")
    finally:
        await client.aclose()
    (budget,) = budgets["budgets"]
    assert budget["crossed"] == [0.5, 0.8, 1.0]
    full = [a for a in budgets["alerts"] if a["threshold"] == 1.0]
    assert len(full) == 1, budgets["alerts"]
    (alert,) = full
    assert (alert["scope"], alert["period"], alert["limit_usd"]) == ("global", "month", limit / 1e9)
    assert alert["spent_usd"] >= alert["limit_usd"] and alert["at"].endswith("Z")


async def test_status_shows_breakers_and_the_cache_hit_ratio(
    http: httpx.AsyncClient, client: AsyncClient
) -> None:
    for _ in range(2):  # a miss, then a hit
        await client.chat(MODEL, MESSAGES, max_tokens=10, temperature=0, cache=True)
    status = await _get(http, "status")
    assert status["breakers"]["openai/gpt-4o-mini"]["state"] == "closed"
    assert (status["cache"]["hits"], status["cache"]["misses"]) == (1, 1)
    assert status["cache"]["hit_ratio"] == 0.5
    assert (await _get(http, "overview"))["cache"] == {"hit_ratio": 0.5}


async def test_live_counts_the_gateways_requests(http: httpx.AsyncClient) -> None:
    before = await _get(http, "live")
    for _ in range(5):
        assert (await http.get("/dashboard/static/app.js")).status_code == 200
    live = await _get(http, "live")
    # The 5 files and the first /live call (observed after it answered).
    assert live["requests_total"] == before["requests_total"] + 6
    assert live["requests"] >= 6 and live["rps"] > 0
    assert live["p50_ms"] is not None and live["p95_ms"] >= live["p50_ms"]
    assert len(live["series"]) == 60
    assert sum(p["rps"] for p in live["series"]) * 5 >= 6


async def test_experiments_with_their_arms(
    http: httpx.AsyncClient, client: AsyncClient, ledger: Ledger
) -> None:
    from llmswitch.storage.sql import open_database
    from tests.support.ledger_rows import insert_rows, row

    assert (await _get(http, "experiments")) == {"experiments": []}
    store = client.prompts
    store.add("greet", "Hello {{ name }}")
    store.add("greet", "Hi there, {{ name }}!")
    store.experiments.start("greet", [{"name": "a", "version": 1}, {"name": "b", "version": 2}],
                            id="tone")  # fmt: skip
    db = open_database(ledger.url)
    try:
        insert_rows(db, *[
            row(prompt_name="greet", prompt_version=1 + (i % 2), latency_ms=100 + i,
                prompt_variant=f"tone:{'ab'[i % 2]}", cost_nano=1000)
            for i in range(6)
        ])  # fmt: skip
    finally:
        db.close()
    (found,) = (await _get(http, "experiments"))["experiments"]
    assert (found["id"], found["prompt"], found["status"]) == ("tone", "greet", "running")
    arms = {a["label"]: a for a in found["arms"]}
    assert (arms["a"]["calls"], arms["b"]["calls"]) == (3, 3)
    assert arms["a"]["cost_per_call_usd"] == 1e-6


# ---- the session


async def test_every_data_endpoint_needs_a_session_or_the_admin_key(
    http: httpx.AsyncClient,
) -> None:
    for name in ENDPOINTS:
        url = f"/dashboard/api/{name}"
        assert (await http.get(url)).status_code == 401
        wrong = await http.get(url, headers={"authorization": "Bearer adm-wrong"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "dashboard_login_required"
        assert (await http.get(url, headers={"x-api-key": ADMIN_KEY})).status_code == 200
    login = await _login(http)
    token = read_cookie(login.headers["set-cookie"])
    for name in ENDPOINTS:
        got = await http.get(f"/dashboard/api/{name}", headers={"cookie": f"{COOKIE}={token}"})
        assert got.status_code == 200, name
        assert got.headers["cache-control"] == "no-store"
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")  # type: ignore[index]
        bad = await http.get(f"/dashboard/api/{name}", headers={"cookie": f"{COOKIE}={tampered}"})
        assert bad.status_code == 401


async def test_login_sets_a_strict_httponly_cookie_never_holding_the_key(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/dashboard")
    assert page.status_code == 200 and 'action="/dashboard/login"' in page.text
    assert "app.js" not in page.text  # the login form, not the dashboard
    login = await _login(http)
    assert login.status_code == 303 and login.headers["location"] == "/dashboard"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain http here
    assert ADMIN_KEY not in cookie and ADMIN_KEY[4:20] not in cookie
    token = read_cookie(cookie)
    dashboard = await http.get("/dashboard", headers={"cookie": f"{COOKIE}={token}"})
    assert '<script type="module" src="/dashboard/static/app.js">' in dashboard.text
    behind_tls = await _login(http, **{"x-forwarded-proto": "https"})
    assert behind_tls.headers["set-cookie"].endswith("; Secure")
    # Logout: the cookie is deleted and the token refused from now on.
    out = await http.post("/dashboard/logout", headers={"cookie": f"{COOKIE}={token}"})
    assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
    after = await http.get("/dashboard/api/overview", headers={"cookie": f"{COOKIE}={token}"})
    assert after.status_code == 401
    assert (
        'action="/dashboard/login"'
        in (await http.get("/dashboard", headers={"cookie": f"{COOKIE}={token}"})).text
    )


async def test_a_wrong_key_shows_the_form_again_and_is_rate_limited(client: AsyncClient) -> None:
    clock = FakeClock(1000.0)
    dashboard = Dashboard(limiter=LoginLimiter(per_client=3, window=60.0, clock=clock))
    async with gateway_client(make_app(client, dashboard=dashboard)) as http:
        for _ in range(3):
            wrong = await _login(http, "adm-guess")
            assert wrong.status_code == 401 and "That is not the admin key." in wrong.text
            assert "set-cookie" not in wrong.headers
            assert "adm-guess" not in wrong.text
        limited = await _login(http)  # even the right key waits: no more guesses
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) == 60
        assert "Too many wrong keys" in limited.text
        clock.now += 61
        assert (await _login(http)).status_code == 303


async def test_cross_site_posts_are_refused(http: httpx.AsyncClient) -> None:
    evil = await _login(http, origin="https://evil.example")
    assert evil.status_code == 403 and "set-cookie" not in evil.headers
    same = await _login(http, origin="http://gateway.test")
    assert same.status_code == 303
    out = await http.post("/dashboard/logout", headers={"origin": "https://evil.example"})
    assert out.status_code == 403


async def test_without_an_admin_key_the_dashboard_is_off(client: AsyncClient) -> None:
    async with gateway_client(make_app(client, admin_key=None)) as http:
        page = await http.get("/dashboard")
        assert page.status_code == 503 and "LLMSWITCH_ADMIN_KEY" in page.text
        assert (await _login(http, "anything")).status_code == 503
        assert (await http.get("/dashboard/api/spend")).status_code == 503


def test_tokens_expire_and_are_bound_to_the_admin_key() -> None:
    clock = FakeClock(1_000_000.0)
    sessions = Sessions("adm-one", ttl=60, clock=clock)
    token = sessions.issue()
    assert sessions.valid(token)
    assert not Sessions("adm-two", clock=clock).valid(token)  # another key's sessions
    assert not sessions.valid(token.replace("v1.", "v2.", 1))
    expiry = int(token.split(".")[1])
    forged = token.replace(f".{expiry}.", f".{expiry + 3600}.", 1)  # a longer life, unsigned
    assert not sessions.valid(forged)
    clock.now += 61
    assert not sessions.valid(token)
    assert "adm-one" not in repr(sessions)


# ---- the files


async def test_static_files_types_cache_headers_and_csp(http: httpx.AsyncClient) -> None:
    types = {"app.js": "text/javascript", "charts.js": "text/javascript", "style.css": "text/css"}
    for name, kind in types.items():
        got = await http.get(f"/dashboard/static/{name}")
        assert got.status_code == 200 and got.headers["content-type"].startswith(kind)
        assert got.headers["cache-control"] == "no-cache" and got.headers["etag"]
        assert got.headers["x-content-type-options"] == "nosniff"
        again = await http.get(f"/dashboard/static/{name}",
                               headers={"if-none-match": got.headers["etag"]})  # fmt: skip
        assert again.status_code == 304 and again.content == b""
    for missing in ("index.html", "login.html", "../_session.py", "nope.js"):
        assert (await http.get(f"/dashboard/static/{missing}")).status_code == 404
    page = await http.get("/dashboard")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["content-type"] == "text/html; charset=utf-8"


def test_the_pages_carry_no_inline_script_or_style() -> None:
    static = Path(__file__).parents[1] / "src/llmswitch/gateway/dashboard/static"
    for name in ("index.html", "login.html"):
        text = (static / name).read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, tag
        assert not re.search(r"<script\b[^>]*>(?!</script>)", text)  # no inline body
        assert not re.search(r"\son[a-z]+=", text) and " style=" not in text
        assert "http://" not in text and "https://" not in text  # no CDN
    for name in ("app.js", "charts.js"):
        code = (static / name).read_text()
        assert "innerHTML" not in code and "eval(" not in code
        assert "https://" not in code


def _today() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).date().isoformat()


def test_live_history_buckets_the_metrics_window_without_missing_or_repeating() -> None:
    from llmswitch.gateway._metrics import GatewayMetrics
    from llmswitch.gateway.dashboard._live import LiveHistory

    clock = FakeClock(10_000.0)
    metrics = GatewayMetrics(clock=clock)
    history = LiveHistory(span=60.0, bucket=5.0)
    for i in range(10):  # 10 requests of 100..190 ms in one 5-second slot
        metrics.observe("/v1/chat/completions", 200, 0.1 + i * 0.01)
    metrics.observe("/v1/chat/completions", 502, 1.0)
    clock.now += 5
    first = history.series(metrics)
    assert len(first) == 12
    slot = first[-2]
    assert (slot["rps"], slot["errors"]) == (11 / 5, 1)
    assert slot["p50_ms"] == pytest.approx(150.0)
    assert first[-1]["rps"] == 0 and first[-1]["p50_ms"] is None
    # The next poll adds only what is new; the old slot is unchanged.
    metrics.observe("/healthz", 200, 0.002)
    again = history.series(metrics)
    assert again[-2]["rps"] == slot["rps"] and again[-1]["rps"] == 1 / 5
    # Past the span the slots are gone, though the metrics' minute is over too.
    clock.now += 120
    assert all(p["rps"] == 0 for p in history.series(metrics))


def test_the_login_limiter_caps_everyone_together() -> None:
    clock = FakeClock(0.0)
    limiter = LoginLimiter(per_client=5, overall=8, window=60.0, clock=clock)
    for i in range(8):
        assert limiter.check(f"10.0.0.{i}") is None
        limiter.failed(f"10.0.0.{i}")
    refused = limiter.check("10.0.0.99")  # a new address: the overall cap holds
    assert refused is not None and refused.retry_after == 60.0
    clock.now += 30
    assert limiter.check("10.0.0.99") is not None
    clock.now += 31
    assert limiter.check("10.0.0.99") is None


def test_the_exported_routes() -> None:
    from llmswitch.gateway.dashboard import ROUTES

    assert {(r.method, r.path, r.auth) for r in ROUTES} == {
        ("GET", "/dashboard", "none"),
        ("GET", "/dashboard/static/*", "none"),
        ("POST", "/dashboard/login", "none"),
        ("POST", "/dashboard/logout", "none"),
        ("GET", "/dashboard/api/*", "none"),
    }
