"""The servers bench/gateway.py measures, each started as its own subprocess.

Each ``start_*`` returns a :class:`Server` that answers ``POST /v1/chat/completions``
with the canned OpenAI completion from the nginx upstream, after checking once that the
answer's text is the canned one (a server that answers fast but wrong is never timed).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from upstream import free_port

BENCH = Path(__file__).resolve().parent
MESSAGES = [{"role": "user", "content": "Summarise how a request is routed, in one paragraph."}]
MAX_TOKENS = 1024
LITELLM_HINT = "uv tool install 'litellm[proxy]'  (puts `litellm` in ~/.local/bin)"


class Unavailable(Exception):
    """The server cannot be measured here; the message says why."""


def chat_body(model: str, *, stream: bool = False) -> bytes:
    body: dict[str, object] = {"model": model, "messages": MESSAGES, "max_tokens": MAX_TOKENS}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` putting the child (and all it forks) on ``cpus``."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


# The process tree, CPU time and RSS straight from /proc (Linux, like nginx and wrk here):
# a few lines instead of a dependency.
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that are still alive."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants."""
    total = 0.0
    for p in tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return total


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/statm") as f:
            total += int(f.read().split()[1]) * _PAGE
    return total


def pin_tree(pid: int, cpus: set[int] | None) -> None:
    """Pin a running process and its children (nginx's worker) to ``cpus``."""
    for p in tree(pid) if cpus else ():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(p, cpus)


@dataclass
class Server:
    id: str
    label: str
    url: str  # the chat completions URL
    model: str  # what the body's "model" says
    auth: str | None  # the Authorization header value, never printed
    proc: subprocess.Popen[bytes] | None
    log: Path | None
    settings: dict[str, object] = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid) if self.proc else 0.0

    def rss_bytes(self) -> int:
        return rss_bytes(self.proc.pid) if self.proc else 0

    def close(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def post_chat(srv: Server, *, timeout: float = 10.0) -> tuple[int, bytes]:
    headers = {"content-type": "application/json"}
    if srv.auth:
        headers["authorization"] = srv.auth
    req = urllib.request.Request(srv.url, data=chat_body(srv.model), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return log.read_text(errors="replace")[-600:].replace("\n", " | ")


def wait_ready(srv: Server, expected_text: str, timeout: float) -> None:
    """Poll until the server answers 200 with the canned text; Unavailable otherwise."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if srv.proc is not None and srv.proc.poll() is not None:
            raise Unavailable(f"exited with code {srv.proc.returncode}: {_tail(srv.log)}")
        try:
            status, body = post_chat(srv, timeout=5.0)
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.25)
            continue
        if status != 200:
            raise Unavailable(f"answered {status}: {body[:300]!r}")
        text = json.loads(body)["choices"][0]["message"]["content"]
        if text != expected_text:
            raise Unavailable(f"answered text differs from the canned one: {text[:60]!r}...")
        return
    srv.close()
    raise Unavailable(f"not ready within {timeout:.0f}s ({last}): {_tail(srv.log)}")


def _spawn(
    cmd: list[str], tmp: Path, name: str, cpus: set[int] | None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp / f"{name}.log"
    proc = subprocess.Popen(
        cmd,
        cwd=tmp,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=pinned(cpus),
    )
    return proc, log


def start_nginx_direct(upstream_url: str) -> Server:
    """The upstream itself: the reference for 'added latency'."""
    return Server("nginx", "nginx, direct (the upstream)", f"{upstream_url}/v1/chat/completions",
                  "gpt-4o-mini", None, None, None)  # fmt: skip


def start_passthrough(upstream_url: str, tmp: Path, cpus: set[int] | None) -> Server:
    port = free_port()
    cmd = [sys.executable, str(BENCH / "passthrough.py"), "--port", str(port),
           "--upstream", upstream_url]  # fmt: skip
    proc, log = _spawn(cmd, tmp, "passthrough", cpus)
    label = "bare passthrough (uvicorn+uvloop+httptools, aiohttp, orjson)"
    return Server("passthrough", label, f"http://127.0.0.1:{port}/v1/chat/completions",
                  "gpt-4o-mini", None, proc, log)  # fmt: skip


def find_litellm(explicit: str | None = None) -> str | None:
    # The `uv tool install` one first: it has the whole [proxy] extra (the project's
    # environment has plain litellm, whose script lacks some of the proxy's packages).
    tool_bin = os.environ.get("UV_TOOL_BIN_DIR") or str(Path.home() / ".local/bin")
    for cand in (explicit, str(Path(tool_bin) / "litellm"), shutil.which("litellm")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


LITELLM_CONFIG = """\
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {upstream}/v1
      api_key: bench
litellm_settings:
  telemetry: false
"""


def start_litellm(upstream_url: str, tmp: Path, cpus: set[int] | None, exe: str | None) -> Server:
    path = find_litellm(exe)
    if path is None:
        raise Unavailable(f"the LiteLLM proxy is not installed: {LITELLM_HINT}")
    conf = tmp / "litellm.yaml"
    conf.write_text(LITELLM_CONFIG.format(upstream=upstream_url))
    port = free_port()
    # No database: the master key is the only key (the proxy refuses to start without one).
    key = "sk-" + secrets.token_hex(24)
    env = {"LITELLM_MASTER_KEY": key, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LITELLM_LOG": "ERROR", "NO_PROXY": "127.0.0.1,localhost"}  # fmt: skip
    for var in ("DATABASE_URL", "LITELLM_CONFIG"):
        os.environ.pop(var, None)
    cmd = [path, "--config", str(conf), "--host", "127.0.0.1", "--port", str(port),
           "--num_workers", "1"]  # fmt: skip
    proc, log = _spawn(cmd, tmp, "litellm", cpus, env)
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=120)
    label = (
        f"LiteLLM proxy {version.stdout.strip().rpartition('= ')[2]} (1 worker, master key, no DB)"
    )
    return Server("litellm", label, f"http://127.0.0.1:{port}/v1/chat/completions",
                  "gpt-4o-mini", f"Bearer {key}", proc, log)  # fmt: skip
