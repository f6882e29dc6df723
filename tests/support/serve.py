"""``llmswitch serve`` as a real OS process for tests: free ports, start, wait for
/healthz, signals, and its stdout (access log) and stderr kept in files."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

# Spawning workers imports the package in each: seconds on a busy 2-core machine.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0

# Variables of the developer's shell that would change what the gateway does.
_DROP = ("LLMSWITCH_ADMIN_KEY", "LLMSWITCH_CONFIG", "LLMSWITCH_ENV", "LLMSWITCH_DATABASE_URL")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Serve:
    """One ``llmswitch serve`` process (its own session, so its workers go with it)."""

    def __init__(
        self,
        folder: Path,
        *,
        config: Path,
        env: Mapping[str, str],
        workers: int = 1,
        name: str = "serve",
        host: str = "127.0.0.1",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = folder / f"{name}.out"
        self.stderr_path = folder / f"{name}.err"
        full = {
            k: v for k, v in os.environ.items() if k not in _DROP and not k.startswith("OPENAI")
        }
        full.update(env)
        full.setdefault("LLMSWITCH_HOME", str(folder / "home"))
        argv = [
            sys.executable, "-m", "llmswitch.cli", "serve", "--host", host,
            "--port", str(self.port), "--workers", str(workers), "--config", str(config),
        ]  # fmt: skip
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=folder, env=full,
                start_new_session=True,
            )  # fmt: skip

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"serve exited with {self.process.returncode}: {self.stderr[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"serve did not answer /healthz in {timeout} s: {self.stderr[-2000:]}")

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        return self.process.wait(timeout)

    def stop(self) -> int:
        """SIGTERM, and the exit code (SIGKILL for the whole group after the timeout)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # this test's own session only
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


@contextlib.contextmanager
def serving(folder: Path, **kw: object) -> Iterator[Serve]:
    """A started, ready ``serve`` that is stopped (or killed) when the block ends."""
    proc = Serve(folder, **kw)  # type: ignore[arg-type]
    try:
        proc.wait_ready()
        yield proc
    finally:
        if proc.process.poll() is None:
            proc.stop()
        with contextlib.suppress(ProcessLookupError):  # a worker left behind
            os.killpg(proc.process.pid, signal.SIGKILL)


def wait_for(predicate: object, timeout: float = 60.0, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(every)
    return False
