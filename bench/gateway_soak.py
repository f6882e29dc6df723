"""Streaming soak: does ``llmswitch serve`` hold its memory under streams and aborts?

    uv run --group bench python bench/gateway_soak.py                  # 10 minutes
    uv run --group bench python bench/gateway_soak.py --minutes 1 --json soak.json
    uv run --group bench python bench/gateway_soak.py --server passthrough --minutes 0.2

nginx serves the canned 200-chunk OpenAI SSE stream (bench/canned.py), paced at
``--pace`` bytes/s so that it lasts a while and an abort lands mid-stream; ``llmswitch
serve`` (one worker, access key, limits and the SQLite usage ledger, as in
bench/gateway.py) streams it to ``--concurrency`` clients that post stream requests
back to back for ``--minutes``. Every tenth request (10 %) is aborted by the client
mid-stream: it closes the connection after a random number of chunks. After a warm-up,
the server's RSS (its process tree, from /proc) is sampled every ``--interval``
seconds; growth = median of the last 3 samples over the median of the first 3. Budget
(issue 14): < 5 %. ``--server passthrough`` soaks the bare passthrough instead (to
check the harness). The run is bounded by ``--minutes`` and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import canned as canned_mod
import gateway_llmswitch
import gateway_servers as gs
import upstream as up

BUDGET_GROWTH_PCT = 5.0
ABORT_EVERY = 10  # every tenth request is aborted: 10 %


@dataclass
class Counts:
    completed: int = 0
    aborted: int = 0
    errors: int = 0
    bytes: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)


async def one_stream(
    session: aiohttp.ClientSession, srv: gs.Server, body: bytes, abort_after: int | None,  # bytes
    counts: Counts,
) -> None:  # fmt: skip
    headers = {"content-type": "application/json"}
    if srv.auth:
        headers["authorization"] = srv.auth
    try:
        async with session.post(srv.url, data=body, headers=headers) as resp:
            if resp.status != 200:
                counts.error(f"status {resp.status}: {(await resp.read())[:200]!r}")
                return
            seen, tail = 0, b""
            async for chunk in resp.content.iter_any():
                seen += len(chunk)
                counts.bytes += len(chunk)
                tail = (tail + chunk)[-64:]
                if abort_after is not None and seen >= abort_after and b"[DONE]" not in tail:
                    resp.close()  # drop the connection mid-stream, as a client that gives up
                    counts.aborted += 1
                    return
            if b"data: [DONE]" not in tail:
                counts.error(f"stream ended without [DONE]: {tail!r}")
                return
            counts.completed += 1
    except (TimeoutError, aiohttp.ClientError) as exc:
        counts.error(f"{type(exc).__name__}: {exc}")


async def drive(
    srv: gs.Server, args: argparse.Namespace, deadline: float, counts: Counts, size: int
) -> None:
    body = gs.chat_body(srv.model, stream=True)
    rng = random.Random(14)
    n = 0
    timeout = aiohttp.ClientTimeout(total=60)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal n
        while time.monotonic() < deadline:
            n += 1
            # Somewhere between the first events and the last tenth of the stream.
            abort = rng.randint(500, size * 9 // 10) if n % ABORT_EVERY == 0 else None
            await one_stream(session, srv, body, abort, counts)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(args.concurrency)))


async def sample(srv: gs.Server, args: argparse.Namespace, deadline: float,
                 warm_end: float, out: list[dict[str, float]]) -> None:  # fmt: skip
    await asyncio.sleep(max(0.0, warm_end - time.monotonic()))
    start = time.monotonic()
    while time.monotonic() < deadline:
        out.append({"t_s": round(time.monotonic() - start, 1),
                    "rss_mb": round(srv.rss_bytes() / 2**20, 2),
                    "loadavg_1m": round(os.getloadavg()[0], 2)})  # fmt: skip
        await asyncio.sleep(args.interval)


def growth(samples: list[dict[str, float]]) -> dict[str, Any]:
    if len(samples) < 6:
        return {"growth_pct": None, "reason": f"only {len(samples)} samples (need 6)"}
    rss = [s["rss_mb"] for s in samples]
    first, last = statistics.median(rss[:3]), statistics.median(rss[-3:])
    return {"first_mb": first, "last_mb": last, "max_mb": max(rss),
            "growth_pct": round((last - first) / first * 100, 2),
            "max_growth_pct": round((max(rss) - first) / first * 100, 2)}  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    p.add_argument("--warmup", type=float, help="seconds before the first sample "
                   "(default: 10 %% of the run, 5-60 s)")  # fmt: skip
    p.add_argument("--interval", type=float, default=5.0, help="seconds between RSS samples")
    p.add_argument("--concurrency", type=int, default=32, help="streams in flight")
    p.add_argument("--pace", default="128k", help="upstream bytes/s per stream (nginx "
                   "limit_rate; the 67 KB stream then takes ~0.3-0.5 s)")  # fmt: skip
    p.add_argument("--server", choices=("llmswitch", "passthrough"), default="llmswitch")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    args = p.parse_args(argv)
    if args.warmup is None:
        args.warmup = min(60.0, max(5.0, args.minutes * 6))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nginx = up.find_nginx()
    if nginx is None:
        print(f"missing: nginx ({up.NGINX_INSTALL_HINT})", flush=True)
        return 2
    cpus = os.sched_getaffinity(0)
    server_cpus = {min(cpus)} if len(cpus) >= 2 else None
    load_cpus = cpus - server_cpus if server_cpus else None
    if load_cpus:
        os.sched_setaffinity(0, load_cpus)  # this process is the client: off the server's CPU
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    tmp = Path(tempfile.mkdtemp(prefix="llmswitch-soak-"))
    canned = canned_mod.build()
    head = up.start_nginx(nginx, canned, tmp / "nginx", pace=args.pace)
    srv: gs.Server | None = None
    ledger: dict[str, Any] | None = None
    try:
        if args.server == "llmswitch":
            home, env, key = gateway_llmswitch.prepare(head.url, tmp, "/paced/v1")
            proc, log, port = gateway_llmswitch.spawn(home, env, server_cpus)
            srv = gs.Server("llmswitch", "llmswitch serve (1 worker, auth + limits + usage)",
                            f"http://127.0.0.1:{port}/v1/chat/completions",
                            "openai/gpt-4o-mini", f"Bearer {key}", proc, log)  # fmt: skip
        else:
            srv = gs.start_passthrough(f"{head.url}/paced", tmp, server_cpus)
        ready_streams = wait_stream_ready(srv)
        print(f"soak: {srv.label}, {args.minutes:g} min, {args.concurrency} streams in flight at {args.pace}B/s, "
              f"1 in {ABORT_EVERY} aborted; warm-up {args.warmup:g}s, RSS every "
              f"{args.interval:g}s", flush=True)  # fmt: skip
        counts, samples = Counts(), []
        t0 = time.monotonic()
        deadline = t0 + args.minutes * 60

        async def run() -> None:
            await asyncio.gather(drive(srv, args, deadline, counts, len(canned.openai_sse)),
                                 sample(srv, args, deadline, t0 + args.warmup, samples))  # fmt: skip

        asyncio.run(run())
        elapsed = time.monotonic() - t0
        if srv.proc is not None and srv.proc.poll() is not None:
            counts.error(f"server exited with code {srv.proc.returncode}")
    finally:
        if srv is not None:
            srv.close()
        head.close()
    if args.server == "llmswitch":
        # Every stream, the aborted ones too, is a call in the ledger (the readiness check's
        # and the ones cut off by the deadline included): a lost row would show here.
        sent = counts.completed + counts.aborted + counts.errors + ready_streams
        ledger = {"calls": gateway_llmswitch.ledger_calls(home, env), "streams_sent": sent}
    g = growth(samples)
    done = counts.completed + counts.aborted
    verdict = "N/A" if g["growth_pct"] is None or counts.errors else (
        "PASS" if g["growth_pct"] < BUDGET_GROWTH_PCT else "FAIL")  # fmt: skip
    print(f"streams: {counts.completed} completed, {counts.aborted} aborted, {counts.errors} "
          f"errors, {done / elapsed:.1f}/s; {counts.bytes / 2**20:.0f} MB read", flush=True)  # fmt: skip
    for s in counts.error_samples:
        print(f"  error: {s}")
    if g["growth_pct"] is not None:
        loads = [s["loadavg_1m"] for s in samples]
        print(f"RSS: {g['first_mb']:.1f} MB -> {g['last_mb']:.1f} MB (max {g['max_mb']:.1f}), "
              f"{len(samples)} samples, load {min(loads):.2f}-{max(loads):.2f}")  # fmt: skip
    if ledger is not None:
        print(f"usage ledger: {ledger['calls']} calls recorded for {ledger['streams_sent']} "
              "streams sent (aborted ones included)")  # fmt: skip
    value = "n/a" if g["growth_pct"] is None else f"{g['growth_pct']:+.2f} %"
    print(f"{verdict:<5} RSS growth over the soak: {value} (budget < {BUDGET_GROWTH_PCT:g} %)")
    if args.json:
        doc = {"server": srv.label if srv else args.server, "args": {k: str(v) for k, v in
               vars(args).items()}, "elapsed_s": round(elapsed, 1), "counts": asdict(counts),
               "samples": samples, "growth": g, "verdict": verdict, "ledger": ledger}  # fmt: skip
        args.json.write_text(json.dumps(doc, indent=2))
        print(f"wrote {args.json}")
    return 0


def wait_stream_ready(srv: gs.Server, timeout: float = 60.0) -> int:
    """Until one whole stream comes back (how many the server answered); Unavailable when
    the server never serves one."""

    async def once() -> Counts:
        counts = Counts()
        async with aiohttp.ClientSession() as session:
            await one_stream(session, srv, gs.chat_body(srv.model, stream=True), None, counts)
        return counts

    deadline = time.monotonic() + timeout
    last, tried = Counts(), 0
    while time.monotonic() < deadline:
        if srv.proc is not None and srv.proc.poll() is not None:
            raise gs.Unavailable(f"the server exited with code {srv.proc.returncode}")
        last = asyncio.run(once())
        # the ones the server answered (it records those), not refused connections
        tried += last.completed + any(e.startswith("status") for e in last.error_samples)
        if last.completed:
            return tried
        time.sleep(0.25)
    raise gs.Unavailable(f"no stream completed within {timeout:g}s: {last.error_samples[-1:]}")


if __name__ == "__main__":
    sys.exit(main())
