"""The load generators of bench/gateway.py: wrk (the real one) and a Python fallback.

Both POST the same body to one URL over ``conns`` keep-alive connections for ``seconds``
and return the same figures: requests, duration_us, bytes, p50/p90/p99/mean/max latency
in microseconds and wrk's error counters. wrk runs as its own process (C, one thread,
pinned off the server's CPU); the Python one (aiohttp in this process) exists so the
harness runs where wrk is not installed, e.g. the CI smoke test: its numbers are
labelled FALLBACK and are not comparable with wrk's.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

BENCH = Path(__file__).resolve().parent


def _pinned(cpus: set[int] | None) -> Any:
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


def wrk_run(wrk: str, url: str, auth: str | None, body_file: Path, conns: int, seconds: int,
            cpus: set[int] | None) -> dict[str, Any]:  # fmt: skip
    env = {**os.environ, "WRK_BODY_FILE": str(body_file), "WRK_AUTH": auth or ""}
    cmd = [wrk, "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s",
           "-s", str(BENCH / "wrk_post.lua"), url]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60,
                          preexec_fn=_pinned(cpus))  # fmt: skip
    m = re.search(r"^WRKJSON (\{.*\})$", proc.stdout, re.M)
    if proc.returncode != 0 or m is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {(proc.stdout + proc.stderr)[-400:]}")
    res: dict[str, Any] = json.loads(m.group(1))
    return res


def python_run(url: str, auth: str | None, body_file: Path, conns: int, seconds: int,
               cpus: set[int] | None) -> dict[str, Any]:  # fmt: skip
    body = body_file.read_bytes()
    headers = {"content-type": "application/json", **({"authorization": auth} if auth else {})}
    lat: list[int] = []
    errors = dict.fromkeys(("connect", "read", "write", "status", "timeout"), 0)
    got = 0

    async def go() -> float:
        nonlocal got
        conn = aiohttp.TCPConnector(limit=conns)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
            end = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal got
                while time.perf_counter() < end:
                    t = time.perf_counter_ns()
                    try:
                        async with session.post(url, data=body, headers=headers) as resp:
                            got += len(await resp.read())
                            if resp.status >= 400:  # wrk counts non-2xx/3xx as status errors
                                errors["status"] += 1
                    except TimeoutError:
                        errors["timeout"] += 1
                    except aiohttp.ClientError:
                        errors["read"] += 1
                    lat.append((time.perf_counter_ns() - t) // 1000)

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(conns)))
            return time.perf_counter() - t0

    old = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        elapsed = asyncio.run(go())
    finally:
        os.sched_setaffinity(0, old)
    lat.sort()
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99
    return {"requests": len(lat), "duration_us": int(elapsed * 1e6), "bytes": got,
            "p50_us": int(q[49]), "p90_us": int(q[89]), "p99_us": int(q[98]),
            "mean_us": round(statistics.fmean(lat), 1) if lat else 0.0,
            "max_us": lat[-1] if lat else 0, "errors": errors}  # fmt: skip
