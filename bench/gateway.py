"""Gateway benchmark: llmswitch serve vs the LiteLLM proxy vs a bare Python passthrough.

    uv run --group bench python bench/gateway.py                 # all servers, ~2 minutes
    uv run --group bench python bench/gateway.py --json out.json
    uv run --group bench python bench/gateway.py --quick --servers passthrough

nginx serves the canned OpenAI chat completion on loopback (bench/upstream.py); each
server (one worker) is started alone in front of it and loaded with wrk (POST of the chat
body, with the server's Authorization header): a warm-up, then concurrency 1 (p50/p99
latency) and concurrency 32 (RPS). nginx hit directly is the reference for the latency a
server adds. The budget (DESIGN.md section 4): llmswitch >= 20x the LiteLLM proxy's RPS,
>= 0.5x the bare passthrough's, p50 added < 0.5 ms at concurrency 1. See bench/README.md.
Nothing is installed: a missing tool is named with how to install it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import canned as canned_mod
import gateway_llmswitch
import gateway_load as gl
import gateway_servers as gs
import upstream as up

SERVERS = ("passthrough", "litellm", "llmswitch")
WRK_HINT = "apt-get install wrk"
BUDGET_VS_LITELLM = 20.0
BUDGET_VS_BARE = 0.5
BUDGET_ADDED_P50_US = 500.0
PIN_MAX_LOAD = 1.0


def say(line: str = "") -> None:
    print(line, flush=True)


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def run_load(
    args: argparse.Namespace, srv: gs.Server, conns: int, seconds: int, body_file: Path,
    cpus: set[int] | None,
) -> dict[str, Any]:  # fmt: skip
    """One load run; its figures plus the server's CPU time and the load average."""
    load, cpu0 = load1(), srv.cpu_seconds()
    if args.wrk:
        res = gl.wrk_run(args.wrk, srv.url, srv.auth, body_file, conns, seconds, cpus)
    else:
        res = gl.python_run(srv.url, srv.auth, body_file, conns, seconds, cpus)
    cpu = srv.cpu_seconds() - cpu0
    res["connections"] = conns
    res["rps"] = round(res["requests"] / (res["duration_us"] / 1e6), 1)
    res["loadavg_1m"] = load
    res["server_cpu_us_per_req"] = (
        round(cpu * 1e6 / res["requests"], 1) if srv.proc is not None and res["requests"] else None
    )
    return res


def body_file(srv: gs.Server, tmp: Path) -> Path:
    path = tmp / f"body-{srv.id}.json"
    path.write_bytes(gs.chat_body(srv.model))
    return path


def one_round(srv: gs.Server, args: argparse.Namespace, tmp: Path, cpus: set[int] | None
              ) -> dict[str, Any]:  # fmt: skip
    body = body_file(srv, tmp)
    return {"c1": run_load(args, srv, 1, args.duration, body, cpus),
            "cN": run_load(args, srv, args.connections, args.duration, body, cpus)}  # fmt: skip


def _median(values: list[Any]) -> Any:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def combine(srv: gs.Server, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """A server's result: every round, and per run the median of each figure over rounds."""
    out: dict[str, Any] = {"id": srv.id, "label": srv.label, "status": "ok", "reason": None,
                           "settings": srv.settings, "rounds": rounds,
                           "rss_mb": round(srv.rss_bytes() / 2**20, 1) if srv.proc else None}  # fmt: skip
    errors: dict[str, int] = {}
    for run in ("c1", "cN"):
        runs = [r[run] for r in rounds]
        out[run] = {k: _median([r[k] for r in runs]) for k in MEDIAN_KEYS}
        out[run]["connections"] = runs[0]["connections"]
        out[run]["errors"] = {k: sum(r["errors"][k] for r in runs) for k in runs[0]["errors"]}
        errors.update({k: v for k, v in out[run]["errors"].items() if v})
    if errors:
        out["status"], out["reason"] = "errors", f"the load generator counted errors: {errors}"
    return out


MEDIAN_KEYS = ("requests", "duration_us", "bytes", "rps", "p50_us", "p90_us", "p99_us",
               "mean_us", "max_us", "server_cpu_us_per_req", "loadavg_1m")  # fmt: skip


def _paired(a: dict[str, Any] | None, b: dict[str, Any] | None, fn: Any) -> Any:
    """Median over rounds of fn(round of a, round of b): drift hits both alike."""
    if a is None or b is None:
        return None
    vals = [fn(ra, rb) for ra, rb in zip(a["rounds"], b["rounds"], strict=False)]
    return _median([v for v in vals if v is not None])


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def summarise(results: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    def ok(sid: str) -> dict[str, Any] | None:
        r = results.get(sid)
        return r if r and r["status"] == "ok" else None

    def added(ra: dict[str, Any], rb: dict[str, Any]) -> int:
        return int(ra["c1"]["p50_us"] - rb["c1"]["p50_us"])

    def rps(ra: dict[str, Any], rb: dict[str, Any]) -> float | None:
        return _ratio(ra["cN"]["rps"], rb["cN"]["rps"])

    def cpu(ra: dict[str, Any], rb: dict[str, Any]) -> float | None:  # capacity: b's CPU / a's
        return _ratio(rb["cN"]["server_cpu_us_per_req"], ra["cN"]["server_cpu_us_per_req"])

    base = ok("nginx")
    for r in results.values():
        if r["status"] == "ok" and r["id"] != "nginx":
            r["added_p50_us"] = _paired(r, base, added)
    ls, ll, bare = ok("llmswitch"), ok("litellm"), ok("passthrough")
    ratios = {
        "llmswitch_vs_litellm_rps": _paired(ls, ll, rps),
        "llmswitch_vs_bare_rps": _paired(ls, bare, rps),
        "bare_vs_litellm_rps": _paired(bare, ll, rps),
        "llmswitch_added_p50_us": ls.get("added_p50_us") if ls else None,
        # By server CPU time per request (c=32 run): capacity if each server had its CPU
        # to itself, much steadier than RPS when other work shares the machine.
        "llmswitch_vs_litellm_cpu": _paired(ls, ll, cpu),
        "llmswitch_vs_bare_cpu": _paired(ls, bare, cpu),
    }
    rows = (
        ("llmswitch RPS / LiteLLM proxy RPS", "llmswitch_vs_litellm_rps", f">= {BUDGET_VS_LITELLM}x",
         lambda v: v >= BUDGET_VS_LITELLM),
        ("llmswitch RPS / bare passthrough RPS", "llmswitch_vs_bare_rps", f">= {BUDGET_VS_BARE}x",
         lambda v: v >= BUDGET_VS_BARE),
        ("llmswitch p50 added over nginx, c=1", "llmswitch_added_p50_us",
         f"< {BUDGET_ADDED_P50_US:.0f} us", lambda v: v < BUDGET_ADDED_P50_US),
    )  # fmt: skip
    verdicts = []
    for name, key, limit, passes in rows:
        v = ratios[key]
        verdict = "N/A" if v is None else ("PASS" if passes(v) else "FAIL")
        verdicts.append({"budget": name, "key": key, "limit": limit, "value": v,
                         "verdict": verdict})  # fmt: skip
    return ratios, verdicts


def print_table(results: dict[str, dict[str, Any]], conns: int) -> None:
    say()
    head = (f"{'server':<13}{'RPS c=' + str(conns):>12}{'p50 c=1':>10}{'p99 c=1':>10}"
            f"{'added p50':>11}{'p50 c=' + str(conns):>11}{'CPU/req':>10}{'CPU c=1':>9}{'RSS':>8}  load")  # fmt: skip
    say(head)
    say("-" * len(head))
    for r in results.values():
        if r["status"] == "unavailable":
            say(f"{r['id']:<13}unavailable: {r['reason']}")
            continue
        c1, cn = r["c1"], r["cN"]
        added = r.get("added_p50_us")
        cpu, cpu1 = cn["server_cpu_us_per_req"], c1["server_cpu_us_per_req"]
        rss = r["rss_mb"]
        say(f"{r['id']:<13}{cn['rps']:>12,.0f}{c1['p50_us']:>8.0f}us{c1['p99_us']:>8.0f}us"
            f"{'' if added is None else f'{added:.0f}us':>11}{cn['p50_us']:>9.0f}us"
            f"{'' if cpu is None else f'{cpu:.0f}us':>10}"
            f"{'' if cpu1 is None else f'{cpu1:.0f}us':>9}"
            f"{'' if rss is None else f'{rss:.0f}MB':>8}"
            f"  {c1['loadavg_1m']:.2f}/{cn['loadavg_1m']:.2f}")  # fmt: skip
        if r["status"] != "ok":
            say(f"{'':<13}{r['reason']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of "
                   f"{','.join(SERVERS)} (nginx direct is always measured)")  # fmt: skip
    p.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    p.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per server")
    p.add_argument("--connections", type=int, default=32, help="concurrency of the RPS run")
    p.add_argument("--rounds", type=int, help="rounds of c=1 then c=N per server (default 3)")
    p.add_argument("--quick", action="store_true", help="1 s runs, no warm-up: a smoke run, noisy")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    p.add_argument("--litellm", metavar="PATH", help="the litellm executable (default: PATH, "
                   "~/.local/bin)")  # fmt: skip
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                   help="auto: wrk if installed, else the Python FALLBACK")  # fmt: skip
    p.add_argument("--pin", choices=("auto", "on", "off"), default="auto",
                   help="server on CPU 0, wrk + nginx on the others; auto: only when the "
                   f"load average is below {PIN_MAX_LOAD} (pinned on a busy machine, the "
                   "server cannot move off a CPU that other work is using)")  # fmt: skip
    p.add_argument(
        "--ready-timeout",
        type=float,
        default=120.0,
        help="seconds a server may take to answer its first request",
    )
    args = p.parse_args(argv)
    args.server_list = [s.strip() for s in args.servers.split(",") if s.strip()]
    bad = set(args.server_list) - set(SERVERS)
    if bad:
        p.error(f"--servers: unknown {', '.join(sorted(bad))}; choose from {','.join(SERVERS)}")
    if args.quick:
        args.duration, args.warmup = 1, 0
    args.rounds = args.rounds or (1 if args.quick else 3)
    return args


def start(sid: str, upstream_url: str, tmp: Path, cpus: set[int] | None,
          args: argparse.Namespace) -> gs.Server:  # fmt: skip
    if sid == "passthrough":
        return gs.start_passthrough(upstream_url, tmp, cpus)
    if sid == "litellm":
        return gs.start_litellm(upstream_url, tmp, cpus, args.litellm)
    return gateway_llmswitch.start(upstream_url, tmp, cpus)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    doc = run(args)
    if doc is None:
        return 2
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
        say(f"\nwrote {args.json}")
    return 0


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """Measure, print the table and verdicts; the JSON document (None: a tool is missing)."""
    nginx = up.find_nginx()
    args.wrk = shutil.which("wrk") if args.loadgen in ("auto", "wrk") else None
    missing = [f"nginx ({up.NGINX_INSTALL_HINT})"] * (nginx is None)
    if args.loadgen == "wrk" and args.wrk is None:
        missing.append(f"wrk ({WRK_HINT})")
    if missing:
        say(f"missing: {'; '.join(missing)}")
        return None
    assert nginx is not None
    if args.wrk is None and args.loadgen == "auto":
        say(f"wrk not found ({WRK_HINT}): FALLBACK to the Python load generator, whose "
            "figures are not comparable with wrk's")  # fmt: skip
    ncpu = len(os.sched_getaffinity(0))
    busy = load1() >= PIN_MAX_LOAD
    pin = ncpu >= 2 and (args.pin == "on" or (args.pin == "auto" and not busy))
    server_cpus = {min(os.sched_getaffinity(0))} if pin else None
    load_cpus = (os.sched_getaffinity(0) - server_cpus) if server_cpus else None
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    tmp = Path(tempfile.mkdtemp(prefix="llmswitch-gwbench-"))
    canned = canned_mod.build()
    expected = canned.text("openai")
    meta: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0], "platform": platform.platform(), "cpus": ncpu,
        "loadavg_1m_at_start": load1(), "duration_s": args.duration, "warmup_s": args.warmup,
        "connections": args.connections, "quick": args.quick,
        "pinning": {"server": sorted(server_cpus), "wrk_nginx": sorted(load_cpus)}
        if server_cpus and load_cpus else None,
        "loadgen": "wrk " + subprocess.run([args.wrk, "-v"], capture_output=True, text=True)
        .stdout.split()[1] if args.wrk else "python (aiohttp) FALLBACK",
    }  # fmt: skip
    say(f"gateway bench: {ncpu} CPUs, load {meta['loadavg_1m_at_start']:.2f}, "
        f"{args.duration:g}s per run, c=1 and c={args.connections}, "
        f"{'server on CPU ' + str(sorted(server_cpus)) if server_cpus else 'no pinning'}"
        f"{' (machine busy: --pin on forces it)' if busy and not pin and ncpu >= 2 else ''}")  # fmt: skip
    if meta["loadavg_1m_at_start"] > 0.5:
        say("WARNING: other work is running (load average above): expect noise")
    head = up.start_nginx(nginx, canned, tmp / "nginx")
    gs.pin_tree(head.proc.pid, load_cpus)
    meta["upstream"] = head.label
    say(f"upstream: {head.label} at {head.url}")
    results: dict[str, dict[str, Any]] = {}
    live: list[gs.Server] = []
    try:
        # Started one after another and kept up; measured one at a time, round by round,
        # so that a burst of outside load lands on every server alike.
        for sid in ["nginx", *args.server_list]:
            srv: gs.Server | None = None
            try:
                srv = gs.start_nginx_direct(head.url) if sid == "nginx" else start(
                    sid, head.url, tmp, server_cpus, args)  # fmt: skip
                gs.wait_ready(srv, expected, args.ready_timeout)
                live.append(srv)
            except gs.Unavailable as exc:
                results[sid] = {"id": sid, "status": "unavailable", "reason": str(exc)}
                if srv is not None:
                    srv.close()
        for srv in live:
            if args.warmup > 0:
                say(f"warming up {srv.label} ...")
                run_load(args, srv, args.connections, args.warmup, body_file(srv, tmp), load_cpus)
        rounds: dict[str, list[dict[str, Any]]] = {srv.id: [] for srv in live}
        for i in range(args.rounds):
            say(f"round {i + 1}/{args.rounds}: " + ", ".join(srv.id for srv in live))
            for srv in live:
                rounds[srv.id].append(one_round(srv, args, tmp, load_cpus))
        for srv in live:
            results[srv.id] = combine(srv, rounds[srv.id])
    finally:
        for srv in live:
            srv.close()
        head.close()
    results = {sid: results[sid] for sid in ["nginx", *args.server_list] if sid in results}
    ratios, verdicts = summarise(results)
    print_table(results, args.connections)
    say(f"\n(median of {args.rounds} round(s); load generator: {meta['loadgen']}; RPS, CPU/req (the server's CPU time per "
        "request): the c=32 run, 'CPU c=1' the same at c=1; 'added p50' = p50 at c=1 minus nginx "
        "direct; load = 1-minute "
        "load average at the c=1/c=32 runs)")  # fmt: skip
    say()
    for v in verdicts:
        value = "n/a" if v["value"] is None else f"{v['value']:g}"
        say(f"{v['verdict']:<5} {v['budget']}: {value} (budget {v['limit']})")
    notes = (("bare passthrough RPS / LiteLLM proxy RPS", "bare_vs_litellm_rps"),
             ("by CPU per request: llmswitch vs LiteLLM proxy", "llmswitch_vs_litellm_cpu"),
             ("by CPU per request: llmswitch vs bare passthrough", "llmswitch_vs_bare_cpu"))  # fmt: skip
    for what, key in notes:
        if ratios[key]:
            say(f"      ({what}: {ratios[key]:g}x)")
    return {"meta": meta, "servers": list(results.values()), "ratios": ratios,
            "verdicts": verdicts}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
