"""Import cost: fresh interpreters, wall time and peak RSS per child.

Each sample spawns ``python -c "import X"`` and times it from spawn to exit; the child
reports its own peak RSS (VmHWM) and the time of the import statement alone. The bare
interpreter (``python -c "pass"``, same wrapper) is measured the same way and subtracted
from the wall time. Modules are interleaved round by round so drift hits all of them alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# The child also times the import itself (no interpreter start-up or teardown) and
# reports its peak RSS. VmHWM belongs to the exec'd image; ru_maxrss from wait4 would
# not do on Linux: it keeps the high-water mark of the forked copy of this (large)
# parent from before exec.
_CHILD = (
    "import time as _t\n"
    "_s = _t.perf_counter()\n"
    "{stmt}\n"
    "_e = _t.perf_counter() - _s\n"
    "try:\n"
    "    with open('/proc/self/status') as _f:\n"
    "        _kb = next(int(l.split()[1]) for l in _f if l.startswith('VmHWM:'))\n"
    "except (OSError, StopIteration):\n"
    "    import resource as _r\n"
    "    _kb = _r.getrusage(_r.RUSAGE_SELF).ru_maxrss\n"
    "print(_e, _kb)\n"
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
    proc.wait()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["(no stderr)"]
        raise RuntimeError(f"exit {proc.returncode}: {tail[0][:200]}")
    inproc, kib = out.decode().split()
    return wall * 1e3, float(inproc) * 1e3, int(kib) / 1024.0


def measure(
    modules: list[str], samples: int, progress: Callable[[str], None]
) -> tuple[ImportResult, list[ImportResult]]:
    """Returns (bare interpreter, one result per module)."""
    env = dict(os.environ)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # else LiteLLM tries to download prices
    env["LITELLM_LOG"] = "ERROR"
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    # An installed package imports from its .pyc files; with this set (some machines
    # and containers export it) the warm-up below could not write them and every
    # sample would time compiling the sources instead (~1.7x the import here).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
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
