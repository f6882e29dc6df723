"""The dashboard in a real headless Chromium (the system's /usr/bin/chromium, driven by
Playwright): a wrong key is refused, the right one shows the charts with the ledger's
totals, the live panel moves when requests arrive, logout ends the session. Screenshots
go to the test's tmp dir; LLMSWITCH_DASHBOARD_SCREENSHOT=PATH also copies the
dashboard's there (how docs/gateway/dashboard.png is made)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmswitch.gateway import Request, Response, Route, json_response
from tests.support.dashboard import (
    ADMIN_KEY,
    DAY_MS,
    MESSAGES,
    MODEL,
    day_start_ms,
    make_app,
    make_client,
    seed_ledger,
)
from tests.support.gateway import served

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does)",
)


def _wait(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the page did not get there in time")
        time.sleep(0.2)


def test_the_dashboard_in_a_real_browser(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    ledger = seed_ledger(tmp_path, experiment=True)
    client = make_client(tmp_path, ledger.url)

    async def chat(request: Request) -> Response:
        # A call through the gateway's client (in its loop): breaker and cache state.
        await request.gateway.client.chat(MODEL, MESSAGES, max_tokens=10, temperature=0,
                                          cache=True)  # fmt: skip
        return json_response({"ok": True})

    app = make_app(client, extra=[Route("POST", "/test/chat", chat, auth="none")])
    problems: list[str] = []
    with served(app) as base, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))

            # A wrong key: the form again, with the error, and no session.
            page.goto(f"{base}/dashboard")
            page.fill("#key", "adm-not-the-key")
            with page.expect_response(f"{base}/dashboard/login") as answer:
                page.click("#login")
            assert answer.value.status == 401
            assert page.locator(".error").inner_text() == "That is not the admin key."
            assert page.context.cookies() == []
            page.screenshot(path=str(tmp_path / "login-refused.png"))

            # The right key: the dashboard, with the ledger's totals.
            page.fill("#key", ADMIN_KEY)
            page.click("#login")
            page.wait_for_selector("#spend-chart rect.bar")
            since = day_start_ms() - 30 * DAY_MS
            expected = ledger.cost(since) / 1e9
            _wait(lambda: page.locator("#spend-total").inner_text() != "")
            assert float(page.locator("#spend-total").get_attribute("data-usd") or 0) == expected
            assert page.locator("#spend-total").inner_text() == f"${expected:.6f}"
            assert page.locator("#spend-calls").inner_text() == str(ledger.calls(since))
            rows = page.locator("#spend-table tbody tr")
            assert rows.count() == 2
            openai = ledger.cost(since, provider="openai") / 1e9
            assert "openai" in rows.nth(0).inner_text()
            assert f"${openai:.6f}" in rows.nth(0).inner_text()
            # Three priced days in range: one provider on each but the experiment's day.
            assert page.locator("#spend-chart rect.bar").count() == 4
            _wait(lambda: page.locator("#experiment-list table tbody tr").count() == 2)
            _wait(lambda: page.locator("#budget-table tbody tr").count() == 1)
            cookie = page.context.cookies()[0]
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert ADMIN_KEY not in cookie["value"]

            # Switch the grouping: the chart follows.
            page.select_option("#spend-by", "team")
            _wait(lambda: page.locator("#spend-group").inner_text() == "team")
            _wait(lambda: page.locator("#spend-table tbody tr").count() == 3)

            # Live: requests made now show up within a few polls.
            before = int(page.locator("#live-total").inner_text().replace(",", ""))
            with httpx.Client(base_url=base, headers={"authorization": f"Bearer {ADMIN_KEY}"}) as h:
                for _ in range(2):  # a cache miss, then a hit
                    assert h.post("/test/chat").status_code == 200
                for _ in range(18):
                    assert h.get("/dashboard/api/status").status_code == 200
            _wait(lambda: int(page.locator("#live-total").inner_text().replace(",", ""))
                  >= before + 20)  # fmt: skip
            assert int(page.locator("#live-requests").inner_text()) >= 20
            assert page.locator("#rate-chart path.line").count() == 1
            _wait(lambda: page.locator("#cache-ratio").inner_text() == "50.0%")
            assert "closed" in page.locator("#breaker-table").inner_text()
            page.select_option("#spend-by", "provider")
            _wait(lambda: page.locator("#spend-table tbody tr").count() == 2)
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            target = os.environ.get("LLMSWITCH_DASHBOARD_SCREENSHOT")
            if target:
                shutil.copyfile(shot, target)

            # Logout: back to the form; the data endpoints refuse the browser now.
            page.click("#logout")
            page.wait_for_selector("#key")
            status = page.evaluate("fetch('/dashboard/api/overview').then(r => r.status)")
            assert status == 401
            page.screenshot(path=str(tmp_path / "logged-out.png"))
        finally:
            browser.close()
    # No script error, no CSP violation (the refused login and the fetch after logout
    # are 401s by design; the console notes each).
    assert [p for p in problems if "401 (Unauthorized)" not in p] == []
