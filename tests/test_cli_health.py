"""``llmswitch health [PROVIDER]`` and the EMBED column of ``llmswitch models``."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

import llmswitch
from llmswitch.messages import ModelInfo
from llmswitch.providers import registry
from llmswitch.providers.base import Endpoint
from llmswitch.providers.http import HttpProvider
from llmswitch.providers.openai import OpenAIAdapter
from llmswitch.testing import FakeProvider
from llmswitch.wire import HttpRequest, HttpResponse
from tests.support.cli import run
from tests.support.loopback import Loopback, Recorded, Reply
from tests.support.openai import fixture

OPENAI_KEY = "hunter2-openai-battery-staple"  # no known key shape: only exact redaction hides it
ANTHROPIC_KEY = "hunter2-anthropic-battery-staple"
LATENCY = r"\d+(\.\d)? ms"


@pytest.fixture
def openai_env(loopback: Loopback, monkeypatch: pytest.MonkeyPatch) -> Loopback:
    monkeypatch.setenv("OPENAI_BASE_URL", loopback.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    return loopback


# --------------------------------------------------------------------------- health


def test_one_provider_ok(openai_env: Loopback, capsys: pytest.CaptureFixture[str]) -> None:
    openai_env.route("GET", "/v1/models", fixture("models_openai.json"))
    code, out, err = run(capsys, "health", "openai")
    assert (code, err) == (0, "")
    header, line = out.splitlines()
    assert header.split() == ["PROVIDER", "STATUS", "LATENCY", "DETAIL"]
    assert re.fullmatch(rf"openai\s+ok\s+{LATENCY}", line)
    assert openai_env.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_every_configured_provider(
    loopback: Loopback,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # The built-ins this test sets up or expects to be skipped; the other kinds have
    # their own tests.
    monkeypatch.setattr(registry, "builtin_ids", lambda: ("openai", "azure", "anthropic", "ollama"))
    monkeypatch.setenv("OPENAI_BASE_URL", loopback.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", loopback.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)

    def models(recorded: Recorded) -> Reply:  # both list models at /v1/models
        if "x-api-key" in recorded.headers:
            return Reply(
                status=401,
                body=b'{"type":"error","error":{"type":"authentication_error",'
                b'"message":"invalid x-api-key"},"request_id":"req_1"}',
            )
        return Reply(body=fixture("models_openai.json"))

    loopback.route("GET", "/v1/models", handler=models)
    config = tmp_path / "llmswitch.toml"
    # A declared server that is down: a failed line, the others are still probed.
    config.write_text(
        '[providers.down]\nkind = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    code, out, err = run(capsys, "health", "--config", str(config))
    assert code == 1  # something failed
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["PROVIDER", "STATUS"], ["down", "failed"], ["openai", "ok"], ["anthropic", "failed"],
    ]  # fmt: skip
    assert re.fullmatch(rf"down\s+failed\s+{LATENCY}\s+.*[Cc]annot connect.*", lines[1])
    assert re.fullmatch(rf"openai\s+ok\s+{LATENCY}", lines[2])
    assert re.fullmatch(
        rf"anthropic\s+failed\s+{LATENCY}\s+invalid x-api-key \(status 401, .*\)", lines[3]
    )
    [note] = [n for n in err.splitlines() if not n.startswith("llmswitch: error:")]
    assert note.startswith("llmswitch: not configured: ") and "azure (AZURE_OPENAI" in note
    assert note.endswith(", ollama (OLLAMA_HOST)")
    assert OPENAI_KEY not in out + err and ANTHROPIC_KEY not in out + err


def test_json(openai_env: Loopback, capsys: pytest.CaptureFixture[str]) -> None:
    openai_env.route("GET", "/v1/models", fixture("models_openai.json"))
    code, out, _ = run(capsys, "health", "openai", "--json")
    assert code == 0
    [status] = json.loads(out)
    assert status["provider"] == "openai" and status["ok"] is True
    assert isinstance(status["latency_ms"], float) and status["latency_ms"] >= 0
    assert status["version"] is None and status["error"] is None


def test_rejected_key_fails_without_printing_it(
    openai_env: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_env.route(
        "GET",
        "/v1/models",
        Reply(status=401, body=b'{"error":{"message":"Incorrect API key provided: '
              + OPENAI_KEY.encode() + b'.","type":"invalid_request_error","code":"invalid_api_key"}}'),
    )  # fmt: skip
    code, out, err = run(capsys, "health", "openai", "--json")
    assert code == 1 and err == ""
    [status] = json.loads(out)
    assert status["ok"] is False and "status 401" in status["error"]
    assert OPENAI_KEY not in out


def test_version_is_shown_when_the_server_reports_one(
    loopback: Loopback, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class VersionProbe(OpenAIAdapter):
        """A server with a version endpoint (as Ollama's /api/version or vLLM's /version)."""

        def health_request(self, endpoint: Endpoint) -> HttpRequest:
            return HttpRequest(method="GET", url=endpoint.url("/version"), headers={})

        def parse_health(self, response: HttpResponse) -> str | None:
            return str(json.loads(response.body)["version"])

    loopback.route("GET", "/version", b'{"version":"0.11.2"}')
    provider = HttpProvider(
        "vllm", VersionProbe("compatible"), Endpoint(provider="vllm", base_url=loopback.url)
    )
    real = llmswitch.Client
    monkeypatch.setattr(llmswitch, "Client", lambda **kw: real(providers=[provider], **kw))
    code, out, _ = run(capsys, "health", "vllm")
    assert code == 0
    assert re.fullmatch(rf"vllm\s+ok\s+{LATENCY}\s+version 0\.11\.2", out.splitlines()[1])


def test_timeout(openai_env: Loopback, capsys: pytest.CaptureFixture[str]) -> None:
    openai_env.route("GET", "/v1/models", Reply(body=b'{"data":[]}', delay=5))
    started = time.monotonic()
    code, out, _ = run(capsys, "health", "openai", "--timeout", "0.3")
    assert time.monotonic() - started < 4
    assert code == 1
    assert re.fullmatch(rf"openai\s+failed\s+{LATENCY}\s+.*timeout.*", out.splitlines()[1])


def test_unconfigured_provider_names_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "health", "anthropic")
    assert code == 1 and out == ""
    assert err.startswith("llmswitch: error: ") and "ANTHROPIC_API_KEY" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["health", "--timeout", "0"], "must be > 0"),
        (["health", "--timeout", "soon"], "expected a number"),
        (["health", "openai", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and fragment in err


def test_help_documents_health(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "health" in out
    code, out, _ = run(capsys, "health", "--help")
    assert code == 0 and "--timeout" in out and "version" in out


# --------------------------------------------------------------------------- models


def test_models_table_has_an_embed_column(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = FakeProvider()
    provider.models[:] = [
        ModelInfo(id="chat", provider="fake", context_window=8192, max_output_tokens=1024,
                  supports_tools=True, supports_vision=True, supports_reasoning=False,
                  supports_embeddings=False),
        ModelInfo(id="embed", provider="fake", context_window=8192, supports_embeddings=True),
    ]  # fmt: skip
    real = llmswitch.Client
    monkeypatch.setattr(llmswitch, "Client", lambda **kw: real(providers=[provider], **kw))
    code, out, _ = run(capsys, "models", "fake")
    assert code == 0
    assert out.splitlines() == [
        "MODEL       CONTEXT  MAX OUTPUT  TOOLS  VISION  REASONING  EMBED",
        "fake/chat      8192        1024  yes    yes     no         no",
        "fake/embed     8192           -  -      -       -          yes",
    ]


def test_openai_models_show_which_embed(
    openai_env: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_env.route("GET", "/v1/models", fixture("models_openai.json"))
    code, out, _ = run(capsys, "models", "openai")
    assert code == 0
    embed = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:]}
    assert embed == {
        "openai/gpt-4o-mini": "no",
        "openai/gpt-4o-mini-2024-07-18": "no",
        "openai/text-embedding-3-small": "yes",
    }
