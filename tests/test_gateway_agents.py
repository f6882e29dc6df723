"""A real OpenAI-format agent CLI against the gateway, offline: ``llm`` (from PyPI)
running a tool round trip over chat completions. The upstream is a loopback OpenAI that
calls the tool first and then quotes the result, so the answer can only be right if the
tool call, the CLI's tool execution and the tool result all made it through the gateway
both ways. (Claude Code, the Anthropic-format agent: test_gateway_anthropic_claude_code.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmswitch import AsyncClient
from llmswitch.gateway import create_app
from tests.support.agents import ToolScript
from tests.support.gateway import served
from tests.support.loopback import Loopback

ACCESS_KEY = "lsk-agent-test-0123456789abcdefghijklmnop"
SECRET = "pineapple-7431"


@pytest.fixture
def upstream() -> Iterator[Loopback]:
    lb = Loopback()
    yield lb
    lb.close()


def gateway_env(lb: Loopback) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-upstream-secret", "OPENAI_BASE_URL": lb.url + "/v1"}


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TERM", "TMPDIR")}
    return {**keep, "HOME": str(home), **extra}


def test_llm_cli_runs_a_tool_round_trip_over_chat_completions(
    upstream: Loopback, tmp_path: Path
) -> None:
    llm = Path(sys.executable).with_name("llm")
    if not llm.exists():
        pytest.skip("the llm CLI is not installed (dev dependency)")
    script = ToolScript("read_secret", {}, "The secret is ")
    upstream.route("POST", "/v1/chat/completions", handler=script)
    app = create_app(AsyncClient(env=gateway_env(upstream), max_retries=0))
    user_dir = tmp_path / "llm"
    user_dir.mkdir()
    with served(app) as url:
        (user_dir / "extra-openai-models.yaml").write_text(
            "- model_id: gateway\n"
            "  model_name: openai/gpt-4o-mini\n"
            f"  api_base: {url}/v1\n"
            "  api_key_name: gateway\n"
            "  supports_tools: true\n"
        )
        (user_dir / "keys.json").write_text(json.dumps({"gateway": ACCESS_KEY}))
        functions = f"def read_secret() -> str:\n    'The secret.'\n    return {SECRET!r}\n"
        done = subprocess.run(
            [str(llm), "-m", "gateway", "--functions", functions, "--no-log",
             "What is the secret? Use the tool."],
            env=clean_env(tmp_path / "home", LLM_USER_PATH=str(user_dir)),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"The secret is {SECRET}" in done.stdout
    results = [m for body in script.requests for m in body["messages"] if m.get("role") == "tool"]
    assert results and results[-1]["tool_call_id"] == script.call_id
