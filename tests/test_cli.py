from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmswitch
from llmswitch.cli import main
from llmswitch.errors import AuthenticationError
from llmswitch.messages import ModelInfo
from llmswitch.testing import FakeProvider
from tests.support.cli import run
from tests.support.loopback import Loopback, Reply, sse_reply

PLAIN_KEY = "hunter2-correct-horse-battery"  # no known key shape: only exact redaction hides it


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """A FakeProvider inside every Client the CLI builds (config handling stays real)."""
    provider = FakeProvider()
    real = llmswitch.Client
    monkeypatch.setattr(llmswitch, "Client", lambda **kw: real(providers=[provider], **kw))
    return provider


def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


OPENAI_STREAM = (
    chunk({"role": "assistant", "content": "Hel"})
    + chunk({"content": "lo, wörld"})
    + chunk({}, "stop")
    + b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4o-mini",'
    b'"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}\n\n'
    b"data: [DONE]\n\n"
)
OPENAI_MODELS = (
    b'{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1,'
    b'"owned_by":"openai"},{"id":"my-finetune","object":"model","created":2,"owned_by":"me"}]}'
)


@pytest.fixture
def openai_env(loopback: Loopback, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loopback]:
    monkeypatch.setenv("OPENAI_BASE_URL", loopback.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", PLAIN_KEY)
    yield loopback


# --------------------------------------------------------------------------- chat


def test_chat_streams_text_and_ends_with_newline(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.reply("The answer is 42.")
    code, out, err = run(capsys, "chat", "fake/m", "What is it?")
    assert (code, out, err) == (0, "The answer is 42.\n", "")
    request = fake.requests[0]
    assert request.model == "m" and request.messages[0].text == "What is it?"


class _Recorder(io.StringIO):
    """stdout that records the order of writes and flushes."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    def write(self, s: str) -> int:
        self.log.append("w")
        return super().write(s)

    def flush(self) -> None:
        self.log.append("f")


def test_chat_flushes_every_piece_as_it_arrives(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.reply("one two three four five")
    out = _Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["chat", "fake/m", "count"]) == 0
    assert out.getvalue() == "one two three four five\n"
    # every write is flushed before the next one: the user sees words as they come
    assert out.log.count("w") >= 5
    assert "ww" not in "".join(out.log)


def test_chat_passes_options(fake: FakeProvider, capsys: pytest.CaptureFixture[str]) -> None:
    fake.reply("ok")
    code, _, _ = run(
        capsys, "chat", "fake/m", "hi", "--system", "Be brief.", "--max-tokens", "50",
        "--temperature", "0.3", "--reasoning", "high",
    )  # fmt: skip
    assert code == 0
    request = fake.requests[0]
    assert request.system == "Be brief."
    assert request.max_tokens == 50 and request.temperature == 0.3
    assert request.reasoning is not None and request.reasoning.effort == "high"


def test_chat_reasoning_budget_in_tokens(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.reply("ok")
    assert run(capsys, "chat", "fake/m", "hi", "--reasoning", "2048")[0] == 0
    reasoning = fake.requests[0].reasoning
    assert reasoning is not None and reasoning.budget_tokens == 2048


def test_chat_prompt_from_stdin(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("summarise this\nplease\n"))
    fake.reply("done")
    assert run(capsys, "chat", "fake/m") == (0, "done\n", "")
    assert fake.requests[0].messages[0].text == "summarise this\nplease"  # final newline dropped


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_chat_without_prompt_on_a_terminal_is_a_usage_error(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", _Tty())
    code, out, err = run(capsys, "chat", "fake/m")
    assert code == 2 and out == ""
    assert err == "llmswitch chat: error: no prompt: pass PROMPT or pipe it on stdin\n"
    assert fake.requests == []


def test_chat_empty_prompt_is_a_usage_error(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("  \n"))
    code, _, err = run(capsys, "chat", "fake/m")
    assert code == 2 and "empty" in err and fake.requests == []


def test_chat_no_stream(fake: FakeProvider, capsys: pytest.CaptureFixture[str]) -> None:
    fake.reply("whole answer")
    assert run(capsys, "chat", "fake/m", "hi", "--no-stream") == (0, "whole answer\n", "")


def test_chat_json_prints_the_full_response(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.reply(
        "Calling.",
        tool_calls=[{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        reasoning="They want weather.",
        usage={"input_tokens": 10, "output_tokens": 4, "total_tokens": 14},
    )
    code, out, err = run(capsys, "chat", "fake/m", "weather?", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert set(data) == {
        "id", "model", "provider", "text", "tool_calls", "reasoning", "finish_reason",
        "raw_finish_reason", "usage", "cost",
    }  # fmt: skip
    assert data["provider"] == "fake" and data["model"] == "m"
    assert data["text"] == "Calling."
    assert data["tool_calls"] == [
        {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert data["reasoning"] == "They want weather."
    assert data["finish_reason"] == "tool_calls"
    assert data["usage"]["input_tokens"] == 10 and data["usage"]["total_tokens"] == 14


def test_reasoning_hidden_unless_asked(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.reply("Paris.", reasoning="The capital of France is Paris.", times=2)
    code, out, err = run(capsys, "chat", "fake/m", "capital?")
    assert (code, out, err) == (0, "Paris.\n", "")

    code, out, err = run(capsys, "chat", "fake/m", "capital?", "--show-reasoning")
    assert code == 0 and out == "Paris.\n"
    assert err == "The capital of France is Paris.\n"  # not a TTY: no colour codes


@pytest.mark.parametrize(("no_color", "expected"), [("", "\x1b[2mhmm\x1b[0m\n"), ("1", "hmm\n")])
def test_reasoning_is_dimmed_on_a_terminal(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, no_color: str, expected: str
) -> None:
    monkeypatch.setenv("NO_COLOR", no_color)
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    fake.reply("yes", reasoning="hmm")
    assert main(["chat", "fake/m", "q", "--show-reasoning"]) == 0
    assert err.getvalue() == expected


def test_cut_off_answer_gets_a_note(fake: FakeProvider, capsys: pytest.CaptureFixture[str]) -> None:
    fake.reply("The beginning of", finish_reason="length")
    code, out, err = run(capsys, "chat", "fake/m", "story", "--max-tokens", "3")
    assert code == 0 and out == "The beginning of\n"
    assert err == (
        "llmswitch: note: the answer was cut off at the token limit (raise --max-tokens)\n"
    )


def test_alias_from_config(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "team.toml"
    config.write_text('[aliases]\nsmart = "fake/big-model"\n')
    fake.reply("hi")
    assert run(capsys, "chat", "smart", "hello", "--config", str(config))[0] == 0
    assert fake.requests[0].model == "big-model"


# --------------------------------------------------------------------------- errors


def test_provider_error_is_one_line_and_exit_1(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.reply(error=AuthenticationError("invalid x-api-key", provider="fake", status_code=401))
    code, out, err = run(capsys, "chat", "fake/m", "hi")
    assert code == 1 and out == ""
    assert err == "llmswitch: error: [fake/m] invalid x-api-key (status 401)\n"


def test_mid_stream_failure_keeps_text_and_ends_the_line(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.reply("partial answer that never ends", error_after=3)
    code, out, err = run(capsys, "chat", "fake/m", "hi")
    assert code == 1
    assert (
        out.endswith("\n")
        and out.strip()
        and "partial answer that never ends".startswith(out.strip())
    )
    assert err.startswith("llmswitch: error: ") and err.count("\n") == 1


def test_keyboard_interrupt_exits_130_quietly(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.reply("a long answer", error=KeyboardInterrupt, error_after=2)
    code, _, err = run(capsys, "chat", "fake/m", "hi")
    assert code == 130 and err == ""


def test_unexpected_exception_is_one_line_without_traceback(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.reply(error=RuntimeError(f"boom with {PLAIN_KEY}"))
    code, _, err = run(capsys, "chat", "fake/m", "hi")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("llmswitch: error: unexpected RuntimeError: boom")
    assert "Traceback" not in err


def test_closed_stdout_exits_quietly(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Closed(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError

    fake.reply("lots of text")
    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["chat", "fake/m", "hi"]) == 141
    assert capsys.readouterr().err == ""


def test_unconfigured_provider_names_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "chat", "anthropic/claude-sonnet-4-5", "hi")
    assert code == 1 and out == ""
    assert err.startswith("llmswitch: error: ") and "ANTHROPIC_API_KEY" in err
    assert err.count("\n") == 1


def test_bad_config_file_reports_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[providers.vllm]\nkind = "openai-compat"\n')
    code, _, err = run(capsys, "chat", "vllm/llama", "hi", "--config", str(config))
    assert code == 1
    assert err.startswith(f"llmswitch: error: {config}:2: providers.vllm.kind: unknown kind")
    assert err.count("\n") == 1


def test_rejected_key_never_printed(
    openai_env: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_env.route(
        "POST",
        "/v1/chat/completions",
        Reply(
            status=401,
            body=b'{"error":{"message":"Incorrect API key provided: '
            + PLAIN_KEY.encode()
            + b'","type":"invalid_request_error","code":"invalid_api_key"}}',
        ),
    )
    code, out, err = run(capsys, "chat", "openai/gpt-4o-mini", "hi")
    assert code == 1 and out == ""
    assert err.startswith("llmswitch: error: ") and err.count("\n") == 1
    assert PLAIN_KEY not in err


# --------------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["chat"], "the following arguments are required: MODEL"),
        (["chat", "fake/m", "hi", "--max-tokens", "0"], "must be > 0"),
        (["chat", "fake/m", "hi", "--temperature", "warm"], "invalid float value"),
        (["chat", "fake/m", "hi", "--stream-harder"], "unrecognized arguments: --stream-harder"),
        (["translate"], "invalid choice: 'translate'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and fragment in err and "--help" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert run(capsys, "--version") == (0, f"llmswitch {version('llmswitch')}\n", "")


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(c in out for c in ("chat", "models", "serve"))


# --------------------------------------------------------------------------- models


def test_models_for_one_provider_as_a_table(
    fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.models[:] = [
        ModelInfo(id="small", provider="fake", context_window=8192, max_output_tokens=1024,
                  supports_tools=True, supports_vision=False, supports_reasoning=None),
        ModelInfo(id="a-very-long-model-name", provider="fake", context_window=1000000),
    ]  # fmt: skip
    code, out, err = run(capsys, "models", "fake")
    assert code == 0 and err == ""
    assert out.splitlines() == [
        "MODEL                        CONTEXT  MAX OUTPUT  TOOLS  VISION  REASONING  EMBED",
        "fake/a-very-long-model-name  1000000           -  -      -       -          -",
        "fake/small                      8192        1024  yes    no      -          -",
    ]


def test_models_json(fake: FakeProvider, capsys: pytest.CaptureFixture[str]) -> None:
    fake.models[:] = [ModelInfo(id="small", provider="fake", context_window=8192)]
    code, out, _ = run(capsys, "models", "fake", "--json")
    assert code == 0
    [model] = json.loads(out)
    assert model["provider"] == "fake" and model["id"] == "small"
    assert model["context_window"] == 8192 and model["supports_tools"] is None


def test_models_of_unconfigured_provider_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models", "anthropic")
    assert code == 1 and out == "" and "ANTHROPIC_API_KEY" in err


def test_models_for_every_configured_provider(
    openai_env: Loopback, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    openai_env.route("GET", "/v1/models", OPENAI_MODELS)
    config = tmp_path / "llmswitch.toml"
    # A declared server that is down: reported, does not stop the others, exit code 1.
    config.write_text(
        '[providers.down]\nkind = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    code, out, err = run(capsys, "models", "--config", str(config))
    assert code == 1
    assert [line.split()[0] for line in out.splitlines()] == [
        "MODEL", "openai/gpt-4o-mini", "openai/my-finetune",
    ]  # fmt: skip
    lines = err.splitlines()
    assert sum(line.startswith("llmswitch: error: [down") for line in lines) == 1
    # built-ins nobody set up are skipped, named on one summary line, not failures
    [note] = [line for line in lines if not line.startswith("llmswitch: error:")]
    assert note.startswith("llmswitch: not configured: ")
    assert "anthropic (ANTHROPIC_API_KEY)" in note
    assert PLAIN_KEY not in err


def test_models_with_nothing_configured(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models")
    assert code == 1 and out == ""
    assert err.splitlines()[-1].startswith("llmswitch: error: no provider is configured")


# --------------------------------------------------------------------------- real processes


def _env(loopback: Loopback) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env.update(OPENAI_BASE_URL=loopback.url + "/v1", OPENAI_API_KEY=PLAIN_KEY)
    env.pop("LLMSWITCH_CONFIG", None)
    return env


def test_console_script_streams_from_a_real_server(loopback: Loopback, tmp_path: Path) -> None:
    loopback.route("POST", "/v1/chat/completions", sse_reply(OPENAI_STREAM))
    script = Path(sys.executable).parent / "llmswitch"
    done = subprocess.run(
        [str(script), "chat", "openai/gpt-4o-mini", "Say hello", "--system", "Be nice."],
        env=_env(loopback), cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "Hello, wörld\n", "")
    body = loopback.requests[0].json()
    assert isinstance(body, dict) and body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": "Say hello"},
    ]


def test_python_m_reads_stdin_and_reports_errors(loopback: Loopback, tmp_path: Path) -> None:
    loopback.route(
        "POST",
        "/v1/chat/completions",
        Reply(status=404, body=b'{"error":{"message":"The model `nope` does not exist",'
              b'"type":"invalid_request_error","code":"model_not_found"}}'),
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "llmswitch.cli", "chat", "openai/nope", "--no-stream"],
        input="hello from stdin", env=_env(loopback), cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("llmswitch: error: ") and done.stderr.count("\n") == 1
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr
    assert loopback.requests[0].json()["messages"][0]["content"] == "hello from stdin"  # type: ignore[index]


def test_help_does_not_load_the_network_stack() -> None:
    code = (
        "import sys\n"
        "from llmswitch.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('aiohttp', 'urllib3', 'llmswitch.cli._chat')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
