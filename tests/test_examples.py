"""Every script in examples/ runs as a user would run it: a separate Python process whose
provider comes from environment variables, here pointed at loopback servers replaying
exact provider bytes. Each test asserts what the script prints and what the provider
received; with_server.py is driven by a real HTTP client that reads its SSE stream and
disconnects early.

The scripts run under ``block_network`` (a bootstrap enters it, then runs the file as
``__main__``), so a script that reached past the loopback would fail, not go online.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fixtures import fixture
from tests.support.loopback import Loopback, Recorded, Reply, sse_reply

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Runs the script as __main__ with the network guard on; its exit code passes through.
BOOTSTRAP = (
    "import runpy, sys\n"
    "from llmswitch.testing import block_network\n"
    "path = sys.argv[1]\n"
    "sys.argv = sys.argv[1:]\n"
    "with block_network():\n"
    "    runpy.run_path(path, run_name='__main__')\n"
)

OPENAI_KEY = "sk-example-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-example-0123456789"
OPENAI_429 = Reply(
    status=429,
    headers={"retry-after-ms": "100"},
    body=b'{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}',
)
OPENAI_503 = Reply(
    status=503,
    body=b'{"error":{"message":"The server is overloaded or not ready yet.","type":"server_error","param":null,"code":null}}',
)
ANTHROPIC_529 = Reply(
    status=529, body=b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
)
OPENAI_TEXT = 'Hello! 👋 你好，世界. Café "quoted"\nnext line'  # noqa: RUF001 (chat_text.json, stream_text.sse)


def sse_events(data: bytes) -> list[bytes]:
    """An SSE body cut into its events, one network write each."""
    return [event + b"\n\n" for event in data.split(b"\n\n") if event.strip()]


def openai_env(lb: Loopback) -> dict[str, str]:
    return {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": lb.url + "/v1"}


def anthropic_env(lb: Loopback) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": lb.url}


def by_stream_flag(stream: Reply, chat: Reply) -> Callable[[Recorded], Reply]:
    """A handler answering streamed requests with ``stream`` and the others with ``chat``."""

    def handle(request: Recorded) -> Reply:
        body = request.json()
        return stream if isinstance(body, dict) and body.get("stream") else chat

    return handle


@pytest.fixture
def example_env(tmp_path: Path) -> dict[str, str]:
    """What every script gets besides its provider settings: no keys, no config file
    (the working directory is empty), a private llmswitch home."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LLMSWITCH_HOME": str(tmp_path / "llmswitch"),
        "PYTHONIOENCODING": "utf-8",
    }
    if os.environ.get("PYTHONPATH"):  # the llmswitch under test, when not the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


@pytest.fixture
def run_example(
    example_env: dict[str, str], tmp_path: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(name: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", BOOTSTRAP, str(EXAMPLES / name)],
            env={**example_env, **env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
        )

    return run


@pytest.fixture
def loopback2() -> Iterator[Loopback]:
    server = Loopback()
    try:
        yield server
    finally:
        server.close()


def test_every_example_has_a_test_here() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    untested = [p.name for p in EXAMPLES.glob("*.py") if f'"{p.name}"' not in source]
    assert untested == []


# --------------------------------------------------------------------------- basic.py


def test_basic_chats_and_sends_the_answer_back_in_the_history(run_example, loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", fixture("openai", "chat_text.json"))
    done = run_example("basic.py", **openai_env(loopback))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(OPENAI_TEXT) == 2
    assert "  model: openai/gpt-5-mini-2025-08-07, finish reason: stop" in done.stdout
    assert "  tokens: 1180 in (1024 cached), 84 out" in done.stdout
    assert re.search(r"  cost: \$0\.\d{6}\n", done.stdout)

    first, second = (r.json() for r in loopback.requests)
    assert loopback.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert first["model"] == "gpt-4o-mini"
    assert first["messages"] == [
        {"role": "system", "content": "Answer in one line."},
        {"role": "user", "content": "Name three prime numbers."},
    ]
    assert second["messages"][2] == {"role": "assistant", "content": OPENAI_TEXT}
    assert second["messages"][3] == {"role": "user", "content": "And their sum?"}


def test_basic_switches_provider_by_environment_variable(run_example, loopback) -> None:
    loopback.route("POST", "/v1/messages", fixture("anthropic", "text.json"))
    done = run_example(
        "basic.py", LLMSWITCH_MODEL="anthropic/claude-haiku-4-5", **anthropic_env(loopback)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Grüße 👋") == 2
    assert "finish reason: stop" in done.stdout  # Anthropic's end_turn
    assert "tokens: 10 in (0 cached), 6 out" in done.stdout
    request = loopback.requests[0]
    assert request.headers["x-api-key"] == ANTHROPIC_KEY
    assert request.json()["system"] == "Answer in one line."
    assert request.json()["model"] == "claude-haiku-4-5"


def test_basic_without_a_key_says_what_to_set(run_example) -> None:
    done = run_example("basic.py")
    assert done.returncode == 2
    assert "OPENAI_API_KEY" in done.stderr
    assert "LLMSWITCH_MODEL=fake/echo" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "name", ["basic.py", "streaming.py", "with_middleware.py", "code_completion.py"]
)
def test_examples_run_without_a_key_on_the_echo_provider(run_example, name) -> None:
    done = run_example(name, LLMSWITCH_MODEL="fake/echo")
    assert done.returncode == 0, done.stderr
    assert "You said:" in done.stdout or "File:" in done.stdout  # echo / echoed FIM prompt


# --------------------------------------------------------------------------- streaming.py


def test_streaming_sync_async_and_stopping_early(run_example, loopback) -> None:
    data = fixture("openai", "stream_text.sse")
    # The third stream sends four events, then nothing: the script stops reading after
    # eight characters and must not wait for the rest.
    silent = Reply(content_type="text/event-stream", chunks=sse_events(data), hang_after=4)
    loopback.route("POST", "/v1/chat/completions", sse_reply(data), sse_reply(data), silent)
    done = run_example("streaming.py", **openai_env(loopback))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:3] == [*OPENAI_TEXT.splitlines(), "[sync: finish_reason=stop, 84 tokens out]"]
    assert lines[3:6] == [*OPENAI_TEXT.splitlines(), f"[async: {len(OPENAI_TEXT)} characters]"]
    assert lines[6] == "[stopped early after 'Hello! 👋']"
    assert [r.json()["stream"] for r in loopback.requests] == [True, True, True]


# --------------------------------------------------------------------------- multi_provider.py


def test_multi_provider_falls_back_to_the_second_provider(run_example, loopback, loopback2) -> None:
    loopback.route("POST", "/v1/chat/completions", OPENAI_503)
    stream = sse_reply(fixture("anthropic", "text_pings.sse"))
    chat = Reply(body=fixture("anthropic", "text.json"))
    loopback2.route("POST", "/v1/messages", handler=by_stream_flag(stream, chat))
    done = run_example("multi_provider.py", **openai_env(loopback), **anthropic_env(loopback2))
    assert done.returncode == 0, done.stderr
    assert re.search(r"^chat   -> anthropic/\S+: Grüße 👋$", done.stdout, re.M)
    assert re.search(r"^stream -> anthropic/\S+: Grüße aus Zürich 👋 — naïve café 日本語\.$", done.stdout, re.M)  # fmt: skip
    # max_retries=1: two tries on OpenAI per call, then Anthropic, the group's second.
    assert len(loopback.requests) == 4
    assert [r.json()["model"] for r in loopback2.requests] == ["claude-haiku-4-5"] * 2
    assert [r.json().get("stream", False) for r in loopback2.requests] == [False, True]


def test_multi_provider_reports_each_failed_deployment(run_example, loopback, loopback2) -> None:
    loopback.route("POST", "/v1/chat/completions", OPENAI_503)
    loopback2.route("POST", "/v1/messages", ANTHROPIC_529)
    done = run_example("multi_provider.py", **openai_env(loopback), **anthropic_env(loopback2))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "every deployment failed:",
        "  openai/gpt-4o-mini: ProviderUnavailableError",
        "  anthropic/claude-haiku-4-5: ProviderUnavailableError",
    ]
    assert OPENAI_KEY not in done.stderr and ANTHROPIC_KEY not in done.stderr


# --------------------------------------------------------------------------- with_middleware.py


def test_with_middleware_retries_limits_and_times(run_example, loopback) -> None:
    text = Reply(body=fixture("openai", "chat_text.json"))
    stream = sse_reply(fixture("openai", "stream_text.sse"))
    # 429 then the answer (one call, retried), the stream, bob's call, carol's async call.
    loopback.route("POST", "/v1/chat/completions", OPENAI_429, text, stream, text)
    done = run_example("with_middleware.py", **openai_env(loopback))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[log] llmswitch.retry: retry.scheduled provider=openai model=gpt-4o-mini attempt=1 delay=0.100" in out  # fmt: skip
    assert re.search(r"^\[timer\] chat openai/gpt-4o-mini: \d+ ms$", out, re.M)
    assert re.search(r"^\[timer\] stream openai/gpt-4o-mini: first event after \d+ ms, done after \d+ ms$", out, re.M)  # fmt: skip
    assert re.search(r"^\[timer\] async chat openai/gpt-4o-mini: \d+ ms$", out, re.M)
    assert "[log] llmswitch.ratelimit: ratelimit.rejected scope=user" in out
    assert "rate limited: RateLimitExceeded, retry after 60 s" in out
    assert "breaker openai/gpt-4o-mini: closed, 0 of 3 calls failed" in out  # a 429 is no failure
    assert out.count(OPENAI_TEXT) == 4
    # alice's refused third call never reached the provider; bob and carol each did once.
    users = [r.json().get("user") for r in loopback.requests]
    assert users == ["alice", "alice", "alice", "bob", "carol"]


def test_middleware_example_runs_and_redacts(run_example) -> None:
    done = run_example("middleware_redaction.py")
    assert done.returncode == 0, done.stderr
    assert "the provider saw: My card is [card], can you keep it?" in done.stdout
    assert "Streaming works through the same layers." in done.stdout
    assert "audit: ['fake/demo:" in done.stdout


# --------------------------------------------------------------------------- code_completion.py

COMPLETED_FILE = 'def add(a: int, b: int) -> int:\n    """The sum of a and b."""\n    return a + b\n\n\nprint(add(1, 2))\n'  # fmt: skip


def test_code_completion_native_on_codestral(run_example, loopback) -> None:
    loopback.route(
        "POST",
        "/v1/fim/completions",
        Reply(body=fixture("mistral", "fim.json")),
        sse_reply(fixture("mistral", "fim.sse")),
    )
    done = run_example(
        "code_completion.py", MISTRAL_API_KEY="m-key", MISTRAL_BASE_URL=loopback.url + "/v1"
    )
    assert done.returncode == 0, done.stderr
    assert "completion: 'a + b'\n  method: native, finish reason: stop\n" in done.stdout
    assert "  tokens: 16 in, 4 out\n" in done.stdout
    assert "the file with it:\n" + COMPLETED_FILE in done.stdout
    assert "streamed: 'a + b' (stop)" in done.stdout
    plain, streamed = (r.json() for r in loopback.requests)
    assert plain["prompt"].endswith("    return ") and plain["suffix"] == "\n\n\nprint(add(1, 2))\n"
    assert streamed["stop"] == ["\n\n"] and streamed["stream"] is True


def openai_chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-fim1", "object": "chat.completion.chunk", "created": 1757000000,
        "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_0f", "usage": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }  # fmt: skip
    return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"


def test_code_completion_chat_fallback_strips_the_fences(run_example, loopback) -> None:
    answer = {
        "id": "chatcmpl-fim0", "object": "chat.completion", "created": 1757000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "```python\na + b\n```", "refusal": None, "annotations": []}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 118, "completion_tokens": 9, "total_tokens": 127},
    }  # fmt: skip
    pieces = ["```", "python\n", "a +", " b\n", "```"]
    stream = b"".join(
        [openai_chunk({"role": "assistant", "content": ""})]
        + [openai_chunk({"content": p}) for p in pieces]
        + [openai_chunk({}, "stop"), b"data: [DONE]\n\n"]
    )
    loopback.route("POST", "/v1/chat/completions", json.dumps(answer).encode(), sse_reply(stream))
    done = run_example(
        "code_completion.py", LLMSWITCH_MODEL="openai/gpt-4o-mini", **openai_env(loopback)
    )
    assert done.returncode == 0, done.stderr
    assert "completion: 'a + b'\n  method: chat, finish reason: stop\n" in done.stdout
    assert "the file with it:\n" + COMPLETED_FILE in done.stdout
    assert "streamed: 'a + b' (stop)" in done.stdout
    messages = loopback.requests[0].json()["messages"]
    assert messages[0]["role"] == "system" and "<|fill|>" in messages[1]["content"]


# --------------------------------------------------------------------------- structured_output.py

PARIS = {"name": "Paris", "population": 2102650, "country": {"name": "France", "code": "FR"}, "nickname": "City of Light"}  # fmt: skip
ATLANTIS = {"name": "Atlantis", "population": 0, "country": {"name": "Atlantis", "code": "AT"}, "nickname": None}  # fmt: skip


def openai_answer(content: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-so1", "object": "chat.completion", "created": 1757000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 96, "completion_tokens": 28, "total_tokens": 124},
    }).encode()  # fmt: skip


def test_structured_output_parses_rejects_and_streams(run_example, loopback) -> None:
    def answer(request: Recorded) -> Reply:
        body = request.json()
        assert isinstance(body, dict)
        city = PARIS if "Paris" in body["messages"][-1]["content"] else ATLANTIS
        text = json.dumps(city, ensure_ascii=False)
        if not body.get("stream"):
            return Reply(body=openai_answer(text))
        pieces = [text[i : i + 9] for i in range(0, len(text), 9)]
        return sse_reply(b"".join(
            [openai_chunk({"role": "assistant", "content": ""})]
            + [openai_chunk({"content": p}) for p in pieces]
            + [openai_chunk({}, "stop"), b"data: [DONE]\n\n"]
        ))  # fmt: skip

    loopback.route("POST", "/v1/chat/completions", handler=answer)
    done = run_example("structured_output.py", **openai_env(loopback))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Paris, France (FR): 2,102,650 people"
    assert lines[1].startswith("Atlantis: the answer does not fit: population (1 errors)")
    assert lines[2] == "  as received: " + json.dumps(ATLANTIS)
    assert lines[3].startswith(f"streamed {len(json.dumps(PARIS))} characters: City(name='Paris', population=2102650")  # fmt: skip
    sent = loopback.requests[0].json()["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "City"
    assert sent["json_schema"]["strict"] is True


def test_structured_output_runs_on_the_echo_provider(run_example) -> None:
    done = run_example("structured_output.py", LLMSWITCH_MODEL="fake/echo")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Paris, France (FR): 2,102,650 people"
    assert lines[1] == "Atlantis: the answer does not fit: population (1 errors)"
    assert lines[3].startswith("streamed ") and "City(name='Paris'" in lines[3]
    assert "scripted JSON answers" in done.stderr


def test_structured_output_says_when_the_answer_is_not_json(run_example, loopback) -> None:
    loopback.route("POST", "/v1/chat/completions", openai_answer("Paris is lovely."))
    done = run_example("structured_output.py", **openai_env(loopback))
    lines = done.stdout.splitlines()
    assert lines[0] == "Paris: the answer does not fit: the answer is not JSON (1 errors)"
    assert "None" not in done.stdout


# --------------------------------------------------------------------------- with_server.py


class Server:
    """examples/with_server.py in its own process, on a port it picks (PORT=0)."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", BOOTSTRAP, str(EXAMPLES / "with_server.py")],
            env={**env, "PORT": "0"},
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        self.lines: list[str] = []
        self._port: list[int] = []
        self._started = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._started.wait(60) or not self._port:
            self.stop()
            raise AssertionError("with_server.py did not start:\n" + "".join(self.lines))
        self.url = f"http://127.0.0.1:{self._port[0]}"

    def _read(self) -> None:  # drains the pipe, so the server never blocks on a full one
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
            if found:
                self._port.append(int(found.group(1)))
                self._started.set()
        self._started.set()  # exited before starting

    def wait_for_line(self, text: str, timeout: float = 20) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(20)
        self._reader.join(5)


@pytest.fixture
def server_upstream(loopback: Loopback, example_env, tmp_path) -> Iterator[tuple[Server, Loopback]]:
    server = Server({**example_env, **openai_env(loopback)}, tmp_path)
    try:
        yield server, loopback
    finally:
        server.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def read_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, object]]]:
    """``(event name, data)`` per Server-Sent Event, as a browser's EventSource parses them."""
    name, data = "message", ""
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif line == "" and data:
            yield name, json.loads(data)
            name, data = "message", ""


def test_with_server_page_and_a_whole_answer(server_upstream) -> None:
    server, upstream = server_upstream
    upstream.route("POST", "/v1/chat/completions", sse_reply(fixture("openai", "stream_text.sse")))
    page = httpx.get(server.url + "/", timeout=30)
    assert page.status_code == 200 and 'new EventSource("/chat?q="' in page.text

    with httpx.stream("GET", server.url + "/chat", params={"q": "Hi there"}, timeout=30) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["cache-control"] == "no-cache"
        events = list(read_events(resp.iter_lines()))
    assert "".join(str(d["text"]) for name, d in events if name == "message") == OPENAI_TEXT
    assert events[-1] == (
        "done",
        {"finish_reason": "stop", "input_tokens": 1180, "output_tokens": 84, "cost_usd": events[-1][1]["cost_usd"]},
    )  # fmt: skip
    assert isinstance(events[-1][1]["cost_usd"], float)
    assert upstream.requests[0].json()["messages"] == [{"role": "user", "content": "Hi there"}]
    assert not any("client disconnected" in line for line in server.lines)


def test_with_server_reports_a_provider_error_as_an_event(server_upstream) -> None:
    server, upstream = server_upstream
    upstream.route("POST", "/v1/chat/completions", OPENAI_503)  # retried twice, then reported
    with httpx.stream("GET", server.url + "/chat", timeout=60) as resp:
        events = list(read_events(resp.iter_lines()))
    assert events[0][0] == "failed"
    assert events[0][1]["error"] == "ProviderUnavailableError"
    assert OPENAI_KEY not in json.dumps(events)


def test_with_server_client_disconnect_mid_answer_closes_the_upstream(server_upstream) -> None:
    server, upstream = server_upstream
    # Three events (the role, "Hello", "!"), then the provider goes quiet, as a model
    # thinking would: the server has nothing to write when the browser leaves.
    events = sse_events(fixture("openai", "stream_text.sse"))
    upstream.route(
        "POST", "/v1/chat/completions",
        Reply(content_type="text/event-stream", chunks=events, hang_after=3),
    )  # fmt: skip
    with httpx.stream("GET", server.url + "/chat", timeout=30) as resp:
        got = read_events(resp.iter_lines())
        assert [next(got), next(got)] == [
            ("message", {"text": "Hello"}),
            ("message", {"text": "!"}),
        ]
        assert upstream.open_connections == 1  # the provider's stream is still open ...
    # ... until the browser goes: the server cancels it and the connection closes.
    assert wait_until(lambda: upstream.open_connections == 0), "upstream stream left open"
    assert server.wait_for_line("client disconnected: upstream stream closed")


def test_with_server_client_disconnect_before_the_first_token(server_upstream) -> None:
    server, upstream = server_upstream
    thinking = Reply(content_type="text/event-stream", chunks=[b": thinking\n\n"], hang_after=1)
    upstream.route("POST", "/v1/chat/completions", thinking)
    with httpx.stream("GET", server.url + "/chat", timeout=30) as resp:
        assert resp.status_code == 200
        assert wait_until(lambda: upstream.open_connections == 1)
    assert wait_until(lambda: upstream.open_connections == 0), "upstream stream left open"
    assert server.wait_for_line("client disconnected: upstream stream closed")
    assert len(upstream.requests) == 1  # cancelled, not retried


# --------------------------------------------------------------------------- docs/migrating.md

GUIDE = ROOT / "docs" / "migrating.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


def guide_blocks() -> list[tuple[int, str, str]]:
    """``(line, lang, code)`` of every fenced block in the migration guide."""
    text = GUIDE.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m[1], m[2]) for m in _FENCE.finditer(text)]


def library_of(code: str) -> str:
    """Which side of the guide a python block shows."""
    if re.search(r"^\s*(import|from) litellm", code, re.M):
        return "litellm"
    if re.search(r"^\s*(import|from) openai", code, re.M):
        return "openai"
    return "llmswitch"


def _guide_upstream(request: Recorded) -> Reply:
    """The OpenAI and Anthropic routes every guide snippet calls, with real provider bytes."""
    body = request.json() if request.body else {}
    assert isinstance(body, dict)
    if "json_schema" in json.dumps(body.get("response_format")):  # the structured output blocks
        answer = json.loads(fixture("openai", "chat_text.json"))
        answer["choices"][0]["message"]["content"] = '{"planet": "Mars", "moons": 2}'
        return Reply(body=json.dumps(answer).encode())
    if request.path == "/v1/messages":
        if body.get("stream"):
            return sse_reply(fixture("anthropic", "text_pings.sse"))
        return Reply(body=fixture("anthropic", "text.json"))
    if request.path == "/v1/embeddings":
        name = "embed_openai_base64.json" if body.get("encoding_format") == "base64" else "embed_openai_float.json"  # fmt: skip
        answer = json.loads(fixture("openai", name))
        answer["data"] = answer["data"][: len(body["input"])]  # one vector per input
        return Reply(body=json.dumps(answer).encode())
    if request.path == "/v1/chat/completions":
        if body.get("stream"):
            return sse_reply(fixture("openai", "stream_text.sse"))
        if body.get("tools") and body["messages"][-1]["role"] != "tool":
            answer = json.loads(fixture("openai", "chat_tools.json"))
            calls = answer["choices"][0]["message"]["tool_calls"]
            answer["choices"][0]["message"]["tool_calls"] = calls[:1]  # get_weather(Paris)
            return Reply(body=json.dumps(answer).encode())
        return Reply(body=fixture("openai", "chat_text.json"))
    return Reply(status=404, body=b'{"error":{"message":"no route","type":"not_found"}}')


def run_guide_blocks(library: str) -> None:
    """Run every python block of ``library`` in the guide, each in a fresh namespace, in
    this process (a subprocess of the test), with the providers on a loopback; print one
    JSON line per block: its line, and the error or the number of requests it made."""
    import contextlib
    import io
    import traceback

    from llmswitch.testing import block_network

    upstream = Loopback()
    upstream.route("POST", "/v1/chat/completions", handler=_guide_upstream)
    upstream.route("POST", "/v1/messages", handler=_guide_upstream)
    upstream.route("POST", "/v1/embeddings", handler=_guide_upstream)
    os.environ.update(
        OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=upstream.url + "/v1",
        ANTHROPIC_API_KEY=ANTHROPIC_KEY, ANTHROPIC_BASE_URL=upstream.url,
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # litellm: no price download at import
    )  # fmt: skip
    blocks = guide_blocks()
    tomls = [code for _, lang, code in blocks if lang == "toml"]
    Path("llmswitch.toml").write_text("\n".join(tomls), encoding="utf-8")
    with block_network():
        for line, lang, code in blocks:
            if lang != "python" or library_of(code) != library:
                continue
            before, error = len(upstream.requests), None
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(code, f"docs/migrating.md:{line}", "exec"), {"__name__": "__main__"})  # fmt: skip
            except BaseException:
                error = traceback.format_exc(limit=-3)
            sent = len(upstream.requests) - before
            print(json.dumps({"line": line, "error": error, "requests": sent}), flush=True)
    upstream.close()


def test_the_guide_compares_every_topic_three_ways() -> None:
    libraries = [library_of(code) for _, lang, code in guide_blocks() if lang == "python"]
    assert libraries.count("openai") >= 7 and libraries.count("litellm") >= 6
    assert libraries.count("llmswitch") >= libraries.count("openai") + libraries.count("litellm")
    assert "migrating.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "examples/README.md" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("library", ["llmswitch", "openai", "litellm"])
def test_the_guide_snippets_run(library, example_env, tmp_path) -> None:
    if importlib.util.find_spec(library) is None:  # litellm is in the bench group, not dev
        pytest.skip(f"{library} is not installed")
    runner = f"from tests.test_examples import run_guide_blocks; run_guide_blocks({library!r})"
    pythonpath = example_env.get("PYTHONPATH")
    done = subprocess.run(
        [sys.executable, "-c", runner],
        env={**example_env, "PYTHONPATH": os.pathsep.join(filter(None, [pythonpath, str(ROOT)]))},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert results, done.stderr
    failed = {r["line"]: r["error"] for r in results if r["error"]}
    assert failed == {}
    # Every block that sends something (all but client creation) reached the provider.
    sends = {line for line, _, code in guide_blocks() if "messages=" in code or "input=" in code}
    assert [r["line"] for r in results if r["requests"] == 0 and r["line"] in sends] == []
