"""Health checks that the 200 is the provider's answer: a web server at a wrong base URL
(HTML, ``{}``, an empty body) is ``ok=False`` with a one-line reason, for every
provider, sync and async, and in ``llmswitch health`` (non-zero exit)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.cli import main
from llmswitch.messages import HealthStatus
from tests.support.loopback import Loopback, Reply

KEY = "plain-health-key-0123456789"  # no known key shape: only exact redaction hides it
HTML = b"<!doctype html>\n<html><head><title>Welcome to nginx!</title></head><body></body></html>"


@dataclass(frozen=True)
class Case:
    pid: str
    env: Callable[[str], dict[str, str]]
    path: str
    what: str  # how the error names the expected answer
    good: bytes  # the smallest real answer


def _bedrock_env(url: str) -> dict[str, str]:
    return {
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLEHEALTH",
        "AWS_SECRET_ACCESS_KEY": KEY,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": url,
        "AWS_ENDPOINT_URL_BEDROCK": url,
    }


CASES = [
    Case("openai", lambda u: {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": u + "/v1"},
         "/v1/models", "an OpenAI models list", b'{"object":"list","data":[]}'),
    Case("anthropic", lambda u: {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": u},
         "/v1/models", "an Anthropic models list", b'{"data":[],"has_more":false}'),
    Case("gemini", lambda u: {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": u},
         "/v1beta/models", "a Gemini models list", b'{"models":[]}'),
    Case("bedrock", _bedrock_env, "/foundation-models", "a Bedrock foundation-models list",
         b'{"modelSummaries":[]}'),
    Case("ollama", lambda u: {"OLLAMA_HOST": u}, "/api/version",
         "an Ollama /api/version answer", b'{"version":"0.12.6"}'),
]  # fmt: skip
IDS = [c.pid for c in CASES]

# body, content type -> what the error says it got
FOREIGN = [
    (HTML, "text/html", "got text/html: '<!doctype html> <html><head><title>Welco...'"),
    (b"{}", "application/json", "got application/json: '{}'"),
    (b"", "text/plain", "got an empty text/plain body"),
    (b'{"data": "nope", "models": 1, "version": 2}', "application/json", "got application/json"),
    (b"[]", "application/json", "got application/json: '[]'"),
]
FOREIGN_IDS = ["html", "empty-object", "empty", "wrong-types", "array"]


def probe(pid: str, env: dict[str, str]) -> HealthStatus:
    with Client(env=env) as client:
        return client.health(pid)


async def aprobe(pid: str, env: dict[str, str]) -> HealthStatus:
    async with AsyncClient(env=env) as client:
        return await client.health(pid)


@pytest.mark.parametrize(("body", "ctype", "got"), FOREIGN, ids=FOREIGN_IDS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_200_that_is_not_the_providers_answer_is_not_ok(
    loopback: Loopback, case: Case, body: bytes, ctype: str, got: str
) -> None:
    loopback.route("GET", case.path, Reply(body=body, content_type=ctype))
    env = case.env(loopback.url)
    for status in (probe(case.pid, env), await aprobe(case.pid, env)):
        assert status.ok is False and status.provider == case.pid
        assert status.error is not None and "\n" not in status.error
        assert f"answer is not {case.what} ({got}" in status.error
        assert status.version is None and status.latency_ms is not None
        assert KEY not in status.error


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_the_real_answer_is_ok(loopback: Loopback, case: Case) -> None:
    loopback.route("GET", case.path, Reply(body=case.good))
    env = case.env(loopback.url)
    for status in (probe(case.pid, env), await aprobe(case.pid, env)):
        assert status.ok is True and status.error is None, status.error
    if case.pid == "ollama":
        assert status.version == "0.12.6"


def test_a_long_html_page_is_cut_in_the_message(loopback: Loopback) -> None:
    page = b"<!doctype html><html>" + b"<p>lorem ipsum</p>" * 500 + b"</html>"
    loopback.route("GET", "/v1/models", Reply(body=page, content_type="text/html; charset=utf-8"))
    status = probe("openai", CASES[0].env(loopback.url))
    assert status.error is not None and len(status.error) < 400
    assert "got text/html: '<!doctype html><html><p>lorem ipsum</p><...'" in status.error


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("case", [CASES[0], CASES[4]], ids=["openai", "ollama"])
def test_cli_health_fails_on_a_foreign_200(
    loopback: Loopback,
    case: Case,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in case.env(loopback.url).items():
        monkeypatch.setenv(name, value)
    loopback.route("GET", case.path, Reply(body=HTML, content_type="text/html"))
    code = main(["health", case.pid])
    out, err = capsys.readouterr()
    assert code != 0
    _header, line = out.splitlines()
    assert re.match(rf"{case.pid}\s+failed\s+", line), line
    assert f"answer is not {case.what} (got text/html:" in line
    assert KEY not in out + err


def test_cli_health_still_ok_for_the_real_answer(
    loopback: Loopback, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", loopback.url)
    loopback.route("GET", "/api/version", Reply(body=b'{"version":"0.12.6"}'))
    code = main(["health", "ollama"])
    out, _ = capsys.readouterr()
    assert code == 0 and re.search(r"ollama\s+ok\s+.*version 0\.12\.6", out)
