"""Import cost: fresh interpreters, wall time and peak RSS per child.

Each sample spawns ``python -c "import X"`` and waits for it with ``os.wait4``, which
returns that child's own rusage (``ru_maxrss`` = its peak RSS). The bare interpreter
(``python -c "pass"``, same wrapper) is measured the same way and subtracted from the
wall time. Modules are interleaved round by round so drift hits all of them alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# The child also times the import itself (no interpreter start-up or teardown).
_CHILD = (
    "import time as _t\n"
    "_s = _t.perf_counter()\n"
    "{stmt}\n"
    "print(_t.perf_counter() - _s)\n"
)


@dataclass
class ImportResult:
    module: str
    wall_ms: list[float] = field(default_factory=list)
    inproc_ms: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.wall_ms)


def _sample(stmt: str, env: dict[str, str]) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(stmt=stmt)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["(no stderr)"]
        raise RuntimeError(f"exit {proc.returncode}: {tail[0][:200]}")
    return wall * 1e3, float(out.decode().strip()) * 1e3, usage.ru_maxrss / 1024.0  # KiB -> MiB


def measure(
    modules: list[str], samples: int, progress: Callable[[str], None]
) -> tuple[ImportResult, list[ImportResult]]:
    """Returns (bare interpreter, one result per module)."""
    env = dict(os.environ)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # else LiteLLM tries to download prices
    env["LITELLM_LOG"] = "ERROR"
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    bare = ImportResult("(bare interpreter)")
    results = [ImportResult(m) for m in modules]
    everyone = [(bare, "pass"), *((r, f"import {r.module}") for r in results)]
    for target, stmt in everyone:  # warm the .pyc caches and the page cache; discarded
        try:
            _sample(stmt, env)
        except RuntimeError as exc:
            target.error = str(exc)
    for i in range(samples):
        for target, stmt in everyone:
            if target.error:
                continue
            try:
                wall, inproc, rss = _sample(stmt, env)
            except RuntimeError as exc:
                target.error = str(exc)
                continue
            target.wall_ms.append(wall)
            target.inproc_ms.append(inproc)
            target.rss_mb.append(rss)
        progress(f"[import] sample {i + 1}/{samples} done")
    return bare, results


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")
