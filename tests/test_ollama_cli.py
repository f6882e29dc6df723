"""``llmswitch models pull ollama/MODEL``: progress on stderr, one line on success, one
error line and a non-zero exit on failure; ``llmswitch models [PROVIDER]`` unchanged."""

from __future__ import annotations

import io

import pytest

from llmswitch.cli._pull import ProgressPrinter, format_size
from llmswitch.providers.ollama import PullProgress
from tests.support.cli import run
from tests.support.fixtures import Fixtures
from tests.support.loopback import Loopback, Reply
from tests.support.streams import split_awkward

fixture = Fixtures("ollama")
DIGEST = "sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff"


@pytest.fixture
def ollama_env(loopback: Loopback, monkeypatch: pytest.MonkeyPatch) -> Loopback:
    monkeypatch.setenv("OLLAMA_HOST", loopback.url)
    return loopback


def pull_reply(name: str) -> Reply:
    data = fixture(name)
    return Reply(content_type="application/x-ndjson", chunks=split_awkward(data))


def test_pull_prints_one_line_per_status_and_succeeds(
    ollama_env: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    ollama_env.route("POST", "/api/pull", pull_reply("pull.ndjson"))
    code, out, err = run(capsys, "models", "pull", "ollama/llama3.2")
    assert code == 0
    assert out == "pulled ollama/llama3.2\n"
    assert err.splitlines() == [  # not a terminal: no \r redraws, one line per status
        "pulling manifest",
        "pulling dde5aa3fc5ff: 2.0 GB",
        "pulling 966de95ca8a6: 1.4 KB",
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    assert ollama_env.requests[0].json() == {"model": "llama3.2", "stream": True}


def test_pull_error_line_exits_1_with_one_line(
    ollama_env: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    ollama_env.route("POST", "/api/pull", pull_reply("pull_error.ndjson"))
    code, out, err = run(capsys, "models", "pull", "ollama/no-such-model")
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == "pulling manifest"
    assert len(lines) == 2 and lines[1].startswith("llmswitch: error: ")
    assert "pull model manifest: file does not exist" in lines[1]


def test_pull_http_error_exits_1(ollama_env: Loopback, capsys: pytest.CaptureFixture[str]) -> None:
    ollama_env.route("POST", "/api/pull", Reply(status=400, body=b'{"error":"invalid model name"}'))
    code, out, err = run(capsys, "models", "pull", "ollama/Bad Name")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "invalid model name" in err


def test_pull_from_a_provider_that_is_not_ollama(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "models", "pull", "fake/echo")
    assert code == 1 and "only Ollama providers can pull" in err


def test_pull_without_a_model_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "models", "pull")
    assert code == 2 and "missing PROVIDER/MODEL" in err


def test_models_with_a_stray_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "models", "ollama", "llama3.2")
    assert code == 2 and "models pull" in err


def test_models_listing_still_works(
    ollama_env: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    ollama_env.route("GET", "/api/tags", fixture("tags.json"))
    ollama_env.route(
        "POST",
        "/api/show",
        *(fixture(f) for f in ("show_qwen3.json", "show_llava.json", "show_nomic.json")),
    )
    code, out, _ = run(capsys, "models", "ollama")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("ollama/qwen3:8b"))
    assert "40960" in row


# --------------------------------------------------------------------------- the terminal bar


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def layer(completed: int | None, total: int = 2_000_000_000) -> PullProgress:
    return PullProgress(
        status="pulling dde5aa3fc5ff", digest=DIGEST, total=total, completed=completed
    )


def test_terminal_redraws_in_place_with_rate() -> None:
    out, clock = io.StringIO(), Clock()
    printer = ProgressPrinter(out, tty=True, clock=clock)
    printer(PullProgress(status="pulling manifest"))
    printer(layer(None))
    clock.now += 2.0
    printer(layer(500_000_000))
    clock.now += 0.01
    printer(layer(500_100_000))  # too soon after the last redraw: skipped
    clock.now += 2.0
    printer(layer(2_000_000_000))
    printer(PullProgress(status="success"))
    printer.close()
    text = out.getvalue()
    assert text.endswith("\rsuccess\x1b[K\n")
    frames = [f.rstrip("\n").removesuffix("\x1b[K") for f in text.split("\r") if f]
    assert frames == [
        "pulling manifest",
        "pulling dde5aa3fc5ff:   0% [------------------------] 0 B/2.0 GB",
        "pulling dde5aa3fc5ff:  25% [######------------------] 500.0 MB/2.0 GB 250.0 MB/s",
        "pulling dde5aa3fc5ff: 100% [########################] 2.0 GB/2.0 GB 498.8 MB/s",
        "success",
    ]
    # each status starts on its own line: a newline ends the previous one
    assert text.count("\n") == 3


def test_close_ends_a_half_drawn_line() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out, tty=True, clock=Clock())
    printer(layer(10))
    printer.close()
    printer.close()
    assert out.getvalue().endswith("\x1b[K\n") and out.getvalue().count("\n") == 1


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (999, "999 B"), (1429, "1.4 KB"), (2_019_377_376, "2.0 GB"), (3e15, "3000.0 TB")],
)
def test_format_size(n: float, text: str) -> None:
    assert format_size(n) == text
