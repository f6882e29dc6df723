"""llmswitch benchmark suite: llmswitch vs a bare aiohttp floor vs peer libraries.

    uv run --group bench python bench/run.py                 # everything (a few minutes)
    uv run --group bench python bench/run.py --quick         # smoke run, noisy numbers
    uv run python bench/run.py --only chat,stream            # floor + llmswitch only
    uv run --group bench python bench/run.py --json out.json

Sections for ``--only`` (comma-separated): chat, stream (OpenAI + Anthropic), stream-gemini,
stream-bedrock, stream-ollama, trickle, import, peers. ``peers`` adds the official SDKs
(openai, anthropic, google-genai, ollama, boto3) and LiteLLM to whichever sections run; a
list naming no section (e.g. ``--only peers``) means all sections. ``--gateway`` also runs
bench/gateway.py (the gateway against the LiteLLM proxy and a bare passthrough). See
bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import inspect
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import canned as canned_mod
import cases as C
import importcost
import upstream as up

SECTIONS = ("chat", "stream", "stream-gemini", "stream-bedrock", "stream-ollama", "trickle",
            "import")  # fmt: skip
# The formats of the sections that hold one stream group each (section key = group key).
NEW_STREAM_FORMATS = {"gemini": "Gemini", "bedrock": "Bedrock", "ollama": "Ollama"}
TOKENS = (*SECTIONS, "peers")


@dataclass(frozen=True)
class Settings:
    rounds: int
    max_iters_chat: int
    max_iters_stream: int
    min_iters: int
    warm_chat: int
    warm_stream: int
    round_seconds: float  # slow cases get fewer iterations so a round takes about this long
    import_samples: int
    slices: int  # each round is cut into this many turns per case


FULL = Settings(5, 2000, 300, 10, 200, 30, 1.5, 15, 10)
QUICK = Settings(3, 60, 10, 3, 20, 4, 0.1, 3, 2)

# (group key, case id, max ratio, what the budget is called in docs/architecture.md). Budgets are
# ratios to the orjson floor (floor-orjson): the JSON library llmswitch itself uses, so
# the margin is what the rest of the path costs. The stdlib-json floor is reported too.
BUDGET_FLOOR = "floor-orjson"
BUDGETS = (
    ("chat-openai", "llmswitch-async", 1.15, "AsyncClient.chat per call, OpenAI format"),
    ("chat-anthropic", "llmswitch-async", 1.15, "AsyncClient.chat per call, Anthropic format"),
    ("stream-openai", "llmswitch-async", 1.5, "200-chunk stream to events, OpenAI format"),
    ("stream-anthropic", "llmswitch-async", 1.5, "200-chunk stream to events, Anthropic format"),
    ("stream-gemini", "llmswitch-async", 1.5, "200-chunk stream to events, Gemini format"),
    ("stream-bedrock", "llmswitch-async", 1.5, "200-chunk stream to events, Bedrock format"),
    ("stream-ollama", "llmswitch-async", 1.5, "200-chunk stream to events, Ollama format"),
)
IMPORT_MS_BUDGET = 150.0
IMPORT_MB_BUDGET = 40.0


def say(line: str = "") -> None:
    print(line, flush=True)


@dataclass
class CaseResult:
    id: str
    name: str
    lib: str
    ref: str
    status: str = "ok"  # ok | unavailable
    reason: str | None = None
    iterations: int = 0
    rounds_us: list[float] = field(default_factory=list)
    median_us: float | None = None
    ratio: float | None = None  # median over rounds of (this round / same round of `ref`)
    ratio_rounds: list[float] = field(default_factory=list)
    ratio_orjson: float | None = None  # median / median of the orjson floor (async cases)
    reads_per_stream: float | None = None


@dataclass
class GroupResult:
    key: str
    title: str
    fmt: str
    stream: bool
    upstream: str
    cases: list[CaseResult]

    def get(self, cid: str) -> CaseResult | None:
        return next((c for c in self.cases if c.id == cid), None)


def _fmt_err(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= 160 else text[:157] + "..."


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _timed(loop: asyncio.AbstractEventLoop, case: C.Case, n: int) -> int:
    """Nanoseconds for ``n`` sequential ops."""
    op = case.op
    if case.is_async:

        async def run() -> int:
            t0 = time.perf_counter_ns()
            for _ in range(n):
                await op()
            return time.perf_counter_ns() - t0

        return loop.run_until_complete(run())
    t0 = time.perf_counter_ns()
    for _ in range(n):
        op()
    return time.perf_counter_ns() - t0


def run_group(
    loop: asyncio.AbstractEventLoop, g: C.Group, factories: list[C.Factory], s: Settings
) -> GroupResult:
    say(f"\n== {g.title}  [{g.key}]  upstream: {g.upstream_label}")
    results: list[CaseResult] = []
    live: list[tuple[C.Case, CaseResult, int]] = []
    for f in factories:
        try:
            case = loop.run_until_complete(f.build(g))
        except Exception as exc:
            results.append(CaseResult(f.id, f.label, f.lib, "floor", "unavailable", _fmt_err(exc)))
            say(f"   {f.label}: unavailable: {_fmt_err(exc)}")
            continue
        if case is None:
            continue
        res = CaseResult(case.id, case.name, case.lib, case.ref)
        results.append(res)
        try:
            warm = s.warm_stream if g.stream else s.warm_chat
            _timed(loop, case, max(1, warm // 2))
            k = max(1, warm - warm // 2)
            per_op = _timed(loop, case, k) / k / 1e3
            loop.run_until_complete(_maybe_await(case.check()))
        except Exception as exc:
            res.status, res.reason = "unavailable", _fmt_err(exc)
            say(f"   {case.name}: unavailable: {res.reason}")
            _close(loop, case)
            continue
        cap = s.max_iters_stream if g.stream else s.max_iters_chat
        n = max(s.min_iters, min(cap, int(s.round_seconds * 1e6 / max(per_op, 1e-3))))
        res.iterations = n
        live.append((case, res, n))
        say(f"   ready  {case.name:<58} warm {per_op:9.1f} us/op, check ok, {n} ops/round")

    # Rounds are cut into slices and the cases take turns slice by slice, so a burst
    # of outside load hits every case alike; ratios pair each round with the floor's.
    for r in range(s.rounds):
        gc.collect()
        spent = {id(case): 0 for case, _res, _n in live}
        for case, _res, _n in live:
            if case.reads is not None:
                case.reads[:] = [0, 0]
        for _ in range(s.slices):
            for case, res, n in live:
                if res.status != "ok":
                    continue
                try:
                    spent[id(case)] += _timed(loop, case, max(1, n // s.slices))
                except Exception as exc:
                    res.status = "unavailable"
                    res.reason = f"failed in round {r + 1}: {_fmt_err(exc)}"
                    say(f"   {case.name}: {res.reason}")
        parts = []
        for case, res, n in live:
            if res.status != "ok":
                continue
            us = spent[id(case)] / (max(1, n // s.slices) * s.slices) / 1e3
            res.rounds_us.append(us)
            if case.reads is not None and case.reads[1]:
                res.reads_per_stream = case.reads[0] / case.reads[1]
            parts.append(f"{res.id} {us:.1f}")
        say(f"   round {r + 1}/{s.rounds} (us/op): " + " | ".join(parts))

    for case, _res, _n in live:
        _close(loop, case)

    by_id = {}
    for res in results:
        if res.status == "ok" and res.rounds_us:
            res.median_us = statistics.median(res.rounds_us)
            by_id[res.id] = res
    for res in by_id.values():
        ref = by_id.get(res.ref)
        if ref is not None:
            res.ratio_rounds = _paired(res, ref)
            res.ratio = statistics.median(res.ratio_rounds)
        orj = by_id.get("floor-orjson")
        if orj is not None and res.ref == "floor":
            res.ratio_orjson = statistics.median(_paired(res, orj))
    gr = GroupResult(g.key, g.title, g.fmt, g.stream, g.upstream_label, results)
    print_group(gr)
    return gr


def _paired(res: CaseResult, ref: CaseResult) -> list[float]:
    """Per-round ratios: each round of ``res`` against the same round of ``ref``."""
    return [a / b for a, b in zip(res.rounds_us, ref.rounds_us, strict=True)]


def _close(loop: asyncio.AbstractEventLoop, case: C.Case) -> None:
    if case.close is None:
        return
    try:
        loop.run_until_complete(_maybe_await(case.close()))
    except Exception as exc:  # closing is best-effort; the numbers are already taken
        say(f"   (closing {case.name} failed: {_fmt_err(exc)})")


def print_group(gr: GroupResult) -> None:
    say(f"\n   {gr.title}")
    say(f"   {'case':<60} {'us/op':>9} {'rounds min-max':>17} {'x stdlib':>9} {'x orjson':>9}")
    for c in gr.cases:
        if c.status != "ok" or c.median_us is None:
            say(f"   {c.name:<60} unavailable: {c.reason}")
            continue
        lo, hi = min(c.rounds_us), max(c.rounds_us)
        ratio = f"{c.ratio:.2f}" if c.ratio is not None else "-"
        if c.ref == "floor-sync" and c.ratio is not None:
            ratio += "s"
        orj = f"{c.ratio_orjson:.2f}" if c.ratio_orjson is not None else "-"
        say(f"   {c.name:<60} {c.median_us:9.1f} {lo:8.1f}-{hi:<8.1f} {ratio:>9} {orj:>9}")
    reads = next((c.reads_per_stream for c in gr.cases if c.reads_per_stream), None)
    if reads:
        say(f"   (the floor needed {reads:.1f} network reads per stream on this upstream)")
    if any(c.ref == "floor-sync" for c in gr.cases):
        say("   ('s' = ratio to the sync urllib3 floor; all other ratios are to the aiohttp floor)")


# ------------------------------------------------------------------------------ imports


def run_imports(modules: list[str], s: Settings) -> dict[str, Any]:
    say(f"\n== import cost: {s.import_samples} fresh interpreters per module ({sys.executable})")
    bare, results = importcost.measure(modules, s.import_samples, say)
    med = importcost.med
    out: dict[str, Any] = {
        "samples": s.import_samples,
        "bare": {"wall_ms": med(bare.wall_ms), "rss_mb": med(bare.rss_mb), "error": bare.error},
        "modules": {},
    }
    say(
        f"\n   {'module':<14} {'wall ms':>9} {'- bare':>9} {'in-process ms':>14}"
        f" {'peak RSS MB':>12} {'+ over bare':>12}"
    )
    say(f"   {'(bare)':<14} {med(bare.wall_ms):9.1f} {'':>9} {'':>14} {med(bare.rss_mb):12.1f}")
    for r in results:
        if not r.ok:
            out["modules"][r.module] = {"status": "unavailable", "reason": r.error}
            say(f"   {r.module:<14} unavailable: {r.error}")
            continue
        wall, inproc, rss = med(r.wall_ms), med(r.inproc_ms), med(r.rss_mb)
        row = {
            "status": "ok",
            "wall_ms": wall,
            "import_ms": wall - med(bare.wall_ms),
            "inprocess_ms": inproc,
            "rss_mb": rss,
            "rss_over_bare_mb": rss - med(bare.rss_mb),
            "wall_ms_samples": r.wall_ms,
            "rss_mb_samples": r.rss_mb,
        }
        out["modules"][r.module] = row
        say(
            f"   {r.module:<14} {wall:9.1f} {row['import_ms']:9.1f} {inproc:14.1f}"
            f" {rss:12.1f} {row['rss_over_bare_mb']:12.1f}"
        )
    return out


# ----------------------------------------------------------------------------- verdicts


def verdicts(
    groups: dict[str, GroupResult], imports: dict[str, Any] | None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, cid, limit, what in BUDGETS:
        v: dict[str, Any] = {"budget": what, "limit": f"<= {limit}x orjson floor", "group": key}
        gr = groups.get(key)
        c = gr.get(cid) if gr else None
        if gr is None:
            v.update(verdict="SKIPPED", detail="section not selected")
        elif c is None or c.ratio_orjson is None:
            reason = c.reason if c else "llmswitch case missing"
            for fid in ("floor", BUDGET_FLOOR):
                floor = gr.get(fid)
                if floor is not None and floor.status != "ok":
                    reason = f"{fid} unavailable: {floor.reason}"
            v.update(verdict="N/A", detail=f"unavailable: {reason}")
        else:
            floor = gr.get(BUDGET_FLOOR)
            floor_us = floor.median_us if floor is not None else None
            stdlib = f"; {c.ratio:.2f}x the stdlib-json floor" if c.ratio is not None else ""
            v.update(
                verdict="PASS" if c.ratio_orjson <= limit else "FAIL",
                value=c.ratio_orjson,
                value_stdlib=c.ratio,
                detail=f"{c.ratio_orjson:.2f}x ({c.median_us:.1f} us vs orjson floor "
                f"{floor_us:.1f} us{stdlib})",
            )
        out.append(v)
    lls = (imports or {}).get("modules", {}).get("llmswitch")
    for what, unit, limit, fld in (
        ("import llmswitch, time", "ms", IMPORT_MS_BUDGET, "import_ms"),
        ("import llmswitch, peak RSS", "MB", IMPORT_MB_BUDGET, "rss_mb"),
    ):
        v = {"budget": what, "limit": f"< {limit:g} {unit}", "group": "import"}
        if imports is None:
            v.update(verdict="SKIPPED", detail="section not selected")
        elif not lls or lls.get("status") != "ok":
            v.update(verdict="N/A", detail=f"unavailable: {(lls or {}).get('reason')}")
        else:
            val = lls[fld]
            extra = (
                f" (wall {lls['wall_ms']:.1f} - bare interpreter)"
                if fld == "import_ms"
                else f" (whole process; {lls['rss_over_bare_mb']:.1f} MB over a bare interpreter)"
            )
            v.update(
                verdict="PASS" if val < limit else "FAIL",
                value=val,
                detail=f"{val:.1f} {unit}{extra}",
            )
        out.append(v)
    return out


def print_summary(groups: dict[str, GroupResult], vs: list[dict[str, Any]], quick: bool) -> None:
    if groups:
        keys = list(groups)
        ids = dict.fromkeys(c.id for gr in groups.values() for c in gr.cases)
        for title, attr in (
            ("ratios to the orjson floor, the budgets' reference (median of paired rounds)",
             "ratio_orjson"),
            ("ratios to the stdlib-json floor ('s' = to the sync urllib3 floor)", "ratio"),
        ):  # fmt: skip
            say(f"\n== {title}")
            say(f"   {'case':<22}" + "".join(f"{k:>20}" for k in keys))
            for cid in ids:
                cells = []
                for k in keys:
                    cell = groups[k].get(cid)
                    value = getattr(cell, attr) if cell is not None else None
                    if cell is None or (attr == "ratio_orjson" and cell.ref != "floor"):
                        cells.append("")
                    elif value is None:
                        cells.append("unavailable")
                    else:
                        cells.append(f"{value:.2f}" + ("s" if cell.ref == "floor-sync" else ""))
                if any(cells):
                    say(f"   {cid:<22}" + "".join(f"{x:>20}" for x in cells))
    say(
        '\n== budgets (docs/architecture.md, "Performance budgets")'
        + ("  [--quick: few iterations, noisy]" if quick else "")
    )
    for v in vs:
        say(f"   {v['verdict']:<8} {v['budget']:<48} {v['limit']:<24} {v.get('detail', '')}")


# --------------------------------------------------------------------------------- main


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in ("llmswitch", "aiohttp", "orjson", "urllib3", "openai", "anthropic", "litellm",
                 "httpx", "google-genai", "ollama", "boto3", "botocore"):  # fmt: skip
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few iterations: a smoke run")
    p.add_argument("--only", default="", help=f"comma-separated subset of {','.join(TOKENS)}")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    p.add_argument(
        "--upstream",
        choices=("auto", "nginx", "python"),
        default="auto",
        help="auto = nginx if installed, else the python server (labelled FALLBACK)",
    )
    p.add_argument(
        "--gateway",
        action="store_true",
        help="also run bench/gateway.py (llmswitch serve vs the LiteLLM proxy vs a bare "
        "passthrough, under wrk); its results go under 'gateway' in --json",
    )
    p.add_argument("--rounds", type=int, help="override rounds per case")
    p.add_argument("--import-samples", type=int, help="override interpreters per module")
    args = p.parse_args(argv)
    tokens = {t.strip() for t in args.only.split(",") if t.strip()}
    bad = tokens - set(TOKENS)
    if bad:
        p.error(f"--only: unknown {', '.join(sorted(bad))}; choose from {','.join(TOKENS)}")
    sections = tokens & set(SECTIONS) or set(SECTIONS)
    args.sections = sections
    args.peers = not tokens or "peers" in tokens
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    s = QUICK if args.quick else FULL
    if args.rounds:
        s = Settings(**{**asdict(s), "rounds": args.rounds})
    if args.import_samples:
        s = Settings(**{**asdict(s), "import_samples": args.import_samples})
    json_path = args.json.resolve() if args.json else None
    # e.g. the anthropic SDK warns on every call that a model name is deprecated
    warnings.simplefilter("ignore", DeprecationWarning)

    # Loopback only: no proxy may sit in the way of any library (llmswitch trusts env).
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    os.environ.pop("LLMSWITCH_CONFIG", None)
    tmp = Path(tempfile.mkdtemp(prefix="llmswitch-bench-"))
    os.chdir(tmp)  # no stray ./llmswitch.toml may configure llmswitch differently

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    meta: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "loadavg_1m_at_start": load,
        "versions": _versions(),
        "settings": asdict(s),
        "quick": args.quick,
        "sections": sorted(args.sections),
        "peers": args.peers,
        "floor_json": "budgets: ratio_orjson (floor-orjson); ratio: the stdlib-json floor",
    }
    say(f"llmswitch bench: python {meta['python']} on {meta['cpu']} ({meta['cpus']} CPUs)")
    say(f"versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items() if v)}")
    if load > 0.5:
        say(f"WARNING: 1-minute load average {load:.2f}: other work is running, expect noise")

    canned = canned_mod.build()
    upstreams: list[up.Upstream] = []
    groups: dict[str, GroupResult] = {}
    imports: dict[str, Any] | None = None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        # Imports first, while this process is small: every sample forks it.
        if "import" in args.sections:
            mods = ["llmswitch"] + (["openai", "anthropic", "litellm"] if args.peers else [])
            imports = run_imports(mods, s)
        if args.sections - {"trickle", "import"}:
            nginx = up.find_nginx() if args.upstream in ("auto", "nginx") else None
            if nginx:
                head = up.start_nginx(nginx, canned, tmp / "nginx")
            elif args.upstream == "nginx":
                say(f"nginx not found. Install it: {up.NGINX_INSTALL_HINT}")
                return 2
            else:
                if args.upstream == "auto":
                    say(f"nginx not found; for the headline figures: {up.NGINX_INSTALL_HINT}")
                head = up.start_python(canned, tmp / "py-whole", "whole")
            upstreams.append(head)
            meta["upstream"] = {"kind": head.kind, "label": head.label}
            say(f"upstream: {head.label} at {head.url}")
        if "trickle" in args.sections:
            trickle = up.start_python(canned, tmp / "py-trickle", "trickle")
            upstreams.append(trickle)
            meta["trickle_upstream"] = {"kind": trickle.kind, "label": trickle.label}

        factories = C.FLOORS + C.LLMSWITCH + (C.PEERS if args.peers else [])
        plan: list[C.Group] = []
        for section in SECTIONS:
            if section not in args.sections or section == "import":
                continue
            stream = section != "chat"
            srv = upstreams[-1] if section == "trickle" else upstreams[0]
            kind, _, one = section.partition("-")
            for fmt in (one,) if one else ("openai", "anthropic"):
                text = canned.text(fmt)
                nice = {"openai": "OpenAI", "anthropic": "Anthropic", **NEW_STREAM_FORMATS}[fmt]
                what = {
                    "chat": "chat call (non-stream)",
                    "stream": "200-chunk stream parsed to events",
                    "trickle": "200-chunk stream, one write per event",
                }[kind]
                plan.append(
                    C.Group(
                        f"{kind}-{fmt}",
                        f"{what}, {nice} format",
                        fmt,
                        stream,
                        srv.url,
                        srv.label,
                        text,
                    )
                )
        for g in plan:
            with C.provider_env(g):
                groups[g.key] = run_group(loop, g, factories, s)

    finally:
        for u in upstreams:
            u.close()
        loop.close()

    vs = verdicts(groups, imports)
    print_summary(groups, vs, args.quick)
    gateway_doc = None
    if args.gateway:
        import gateway  # its own nginx, servers and load generator

        say("\n== gateway (bench/gateway.py)")
        gateway_doc = gateway.run(gateway.parse_args(["--quick"] if args.quick else []))
    if json_path:
        doc = {
            "meta": meta,
            "groups": [asdict(g) for g in groups.values()],
            "imports": imports,
            "verdicts": vs,
            **({"gateway": gateway_doc} if args.gateway else {}),
        }
        json_path.write_text(json.dumps(doc, indent=2))
        say(f"\nwrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
