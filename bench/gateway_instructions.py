"""Instructions per request of a real gateway process, under valgrind (callgrind): a
figure that does not move with the machine's load, for before/after of a change.

    uv run python bench/gateway_instructions.py                  # llmswitch and passthrough
    uv run python bench/gateway_instructions.py llmswitch -c 8 -d 20

Each server runs as bench/gateway.py starts it (``llmswitch serve`` with an access
key, a per-user rate limit and the SQLite ledger; the bare passthrough), but inside
``valgrind --tool=callgrind --separate-threads=yes``, about 50 times slower. wrk warms
it up, callgrind dumps (``callgrind_control -d``), wrk loads it for ``-d`` seconds at
``-c`` connections, callgrind dumps again: the second dump holds only the measured
requests. Prints user-space instructions per request, per thread (the event loop, the
ledger writer, the access log) and in all, and the ratio of the two servers. Kernel work
(sockets, the journal's write) is not counted. The rate under valgrind is low, so work
done per batch (the ledger's commit) weighs more per request than at full speed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import canned as canned_mod
import gateway_llmswitch
import gateway_servers as gs
import upstream as up

BENCH = Path(__file__).resolve().parent


def _totals(files: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for path in files:
        for line in Path(path).read_text(errors="replace").splitlines():
            if line.startswith("summary:"):
                out[path] = int(line.split()[1])
    return out


def _wrk(url: str, env: dict[str, str], conns: int, seconds: int) -> dict[str, int]:
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "60s",
           "-s", str(BENCH / "wrk_post.lua"), url]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
    if "WRKJSON " not in out.stdout:
        raise RuntimeError(f"wrk failed: {(out.stdout + out.stderr)[-400:]}")
    result: dict[str, int] = json.loads(out.stdout.split("WRKJSON ", 1)[1])
    return result


def measure(which: str, conns: int, seconds: int, tmp: Path, upstream_url: str) -> int:
    port = up.free_port()
    dumps = tmp / f"cg-{which}"
    dumps.mkdir()
    vg = ["valgrind", "--tool=callgrind", "--trace-children=yes", "--separate-threads=yes",
          f"--callgrind-out-file={dumps}/cg.%p"]  # fmt: skip
    if which == "llmswitch":
        home, env, key = gateway_llmswitch.prepare(upstream_url, tmp / which)
        cmd = [sys.executable, "-m", "llmswitch.cli", "serve", "--port", str(port),
               "--workers", "1"]  # fmt: skip
        auth, model, cwd = f"Bearer {key}", "openai/gpt-4o-mini", home
    else:
        env, cwd = dict(os.environ), tmp
        cmd = [sys.executable, str(BENCH / "passthrough.py"), "--port", str(port),
               "--upstream", upstream_url]  # fmt: skip
        auth, model = "", "gpt-4o-mini"
    log = (tmp / f"{which}.log").open("wb")
    proc = subprocess.Popen(vg + cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    body = tmp / f"body-{which}.json"
    body.write_bytes(gs.chat_body(model))
    wenv = {**os.environ, "WRK_BODY_FILE": str(body), "WRK_AUTH": auth}
    try:
        deadline = time.monotonic() + 300  # start-up under valgrind takes a while
        while True:
            try:
                _wrk(url, wenv, 1, 2)
                break
            except RuntimeError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    log_path = tmp / f"{which}.log"
                    raise RuntimeError(f"{which} did not start; see {log_path}") from None
                time.sleep(2)
        _wrk(url, wenv, conns, 5)  # warm-up
        subprocess.run(["callgrind_control", "-d"], capture_output=True, check=False)
        time.sleep(3)
        before = set(glob.glob(f"{dumps}/cg.*"))
        result = _wrk(url, wenv, conns, seconds)
        subprocess.run(["callgrind_control", "-d"], capture_output=True, check=False)
        time.sleep(3)
        totals = _totals(sorted(set(glob.glob(f"{dumps}/cg.*")) - before))
    finally:
        proc.terminate()
        proc.wait(120)
    n = max(int(result["requests"]), 1)
    total = sum(totals.values())
    threads = ", ".join(
        f"{v / n:,.0f}" for v in sorted(totals.values(), reverse=True) if v / n > 500
    )
    print(f"{which:12s} {total / n:>12,.0f} instr/request  ({result['requests']} requests "
          f"at c={conns}; by thread: {threads})", flush=True)  # fmt: skip
    return total // n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("servers", nargs="*", metavar="SERVER",
                   help="llmswitch and/or passthrough (default: both)")  # fmt: skip
    p.add_argument("-c", "--connections", type=int, default=8)
    p.add_argument("-d", "--duration", type=int, default=20, help="seconds of measured load")
    args = p.parse_args(argv)
    args.servers = args.servers or ["llmswitch", "passthrough"]
    unknown = set(args.servers) - {"llmswitch", "passthrough"}
    if unknown:
        p.error(f"unknown server(s): {', '.join(sorted(unknown))} (llmswitch, passthrough)")
    for tool, hint in (("valgrind", "apt-get install valgrind"), ("wrk", "apt-get install wrk")):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed: {hint}", file=sys.stderr)
            return 2
    nginx = up.find_nginx()
    if nginx is None:
        print("nginx is not installed: apt-get install nginx-light", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="llmswitch-gwinstr-"))
    upstream = up.start_nginx(nginx, canned_mod.build(), tmp)
    try:
        found = {s: measure(s, args.connections, args.duration, tmp, upstream.url)
                 for s in args.servers}  # fmt: skip
    finally:
        upstream.close()
    if "llmswitch" in found and "passthrough" in found:
        print(f"llmswitch / passthrough: {found['llmswitch'] / found['passthrough']:.2f}x "
              "the instructions (the RPS budget wants CPU time <= 2x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
