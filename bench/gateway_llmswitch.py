"""``llmswitch serve`` as the gateway benchmarks run it: auth, limits and usage on.

One worker in front of the nginx upstream (``OPENAI_BASE_URL``), configured the
documented way in a private directory: an ``llmswitch.toml`` with a SQLite database
(so ``serve`` records every call in the usage ledger), a per-user requests-per-minute
limit far above what the benchmark sends (so the limiter admits and reconciles every
call, never refuses), and one access key issued with ``llmswitch users key`` (so every
request is authenticated). The key never reaches the output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gateway_servers as gs
from upstream import free_port

# High enough never to refuse a benchmark call: the limiter's cost, not its refusals.
RPM = 1_000_000_000

CONFIG = """\
[storage]
database_url = "sqlite:///{db}"

[[limits]]
scope = "user"
requests_per_minute = {rpm}
"""


def _env(home: Path, upstream_url: str, path: str = "/v1") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSWITCH_")}
    env.update(LLMSWITCH_HOME=str(home), OPENAI_BASE_URL=f"{upstream_url}{path}",
               OPENAI_API_KEY="bench", NO_PROXY="127.0.0.1,localhost")  # fmt: skip
    return env


def _python(script: str, home: Path, env: dict[str, str], what: str) -> str:
    proc = subprocess.run([sys.executable, "-c", script], cwd=home, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    if proc.returncode != 0:  # stderr only: stdout may hold a key
        raise gs.Unavailable(f"llmswitch {what}: {proc.stderr.strip()[-400:]}")
    return proc.stdout


def _cli(args: list[str], home: Path, env: dict[str, str]) -> str:
    script = f"from llmswitch.cli import main; raise SystemExit(main({args!r}))"
    return _python(script, home, env, " ".join(args[:2]))


def prepare(upstream_url: str, tmp: Path, path: str = "/v1") -> tuple[Path, dict[str, str], str]:
    """The configured home directory, the server's environment and the access key."""
    home = tmp / "llmswitch"
    home.mkdir(parents=True, exist_ok=True)
    (home / "llmswitch.toml").write_text(CONFIG.format(db=home / "llmswitch.db", rpm=RPM))
    env = _env(home, upstream_url, path)
    # `llmswitch users add bench` then `llmswitch users key bench`, in one interpreter
    # (the CLI's own main(), so the same code path) to halve the start-up time.
    script = ("import sys; from llmswitch.cli import main\n"
              "for argv in (['users', 'add', 'bench'], ['users', 'key', 'bench']):\n"
              "    code = main(argv)\n"
              "    if code: sys.exit(code)\n")  # fmt: skip
    lines = _python(script, home, env, "users add/key").strip().splitlines()
    key = lines[-1].strip() if lines else ""
    if not key.startswith("lsk-"):
        raise gs.Unavailable("llmswitch users key: the last line of stdout is not an access key")
    return home, env, key


def spawn(
    home: Path, env: dict[str, str], cpus: set[int] | None
) -> tuple[subprocess.Popen[bytes], Path, int]:
    port = free_port()
    log = home / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmswitch.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=home,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=gs.pinned(cpus),
    )
    return proc, log, port


def start(upstream_url: str, tmp: Path, cpus: set[int] | None) -> gs.Server:
    home, env, key = prepare(upstream_url, tmp)
    proc, log, port = spawn(home, env, cpus)
    settings = {"auth": "access key (Bearer lsk-...)", "limits": f"[[limits]] user {RPM} rpm",
                "usage": "SQLite ledger", "workers": 1}  # fmt: skip
    return gs.Server("llmswitch", "llmswitch serve (1 worker, auth + limits + usage)",
                     f"http://127.0.0.1:{port}/v1/chat/completions", "openai/gpt-4o-mini",
                     f"Bearer {key}", proc, log, settings)  # fmt: skip


def ledger_calls(home: Path, env: dict[str, str]) -> int:
    """Calls the usage ledger holds (``llmswitch usage --format json``), after the server
    has stopped and flushed it."""
    out = _cli(["usage", "--by", "user", "--format", "json"], home, env)
    return sum(int(row["calls"]) for row in json.loads(out))
