"""User-space instructions per op of one loopback case, under valgrind (callgrind): a
figure that does not move with the machine's load, for before/after of a code change.

    uv run python bench/instructions.py chat-openai floor llmswitch   # ~40 s a child
    uv run python bench/instructions.py stream-bedrock floor llmswitch -n 60
    PYTHONPATH=/other/tree/src uv run python bench/instructions.py ...  # another tree

Each case runs in a fresh ``valgrind --tool=callgrind`` child that starts nginx (not
traced), builds the case as bench/run.py does, checks its answer, warms up, and then
runs ``-n`` ops inside ``functools.reduce``: collection is toggled on for that C
function only (``--toggle-collect=functools_reduce``), so imports, set-up and warm-up
are not counted. Prints instructions per op (the median of ``-r`` children, default 3) and, when the
floor is among the cases, each case's ratio to it. Kernel time (the sockets) is not counted, so the ratios are a
little above the loopback's wall-time ones, which share the kernel's work.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GROUPS = [f"chat-{f}" for f in ("openai", "anthropic")] + [
    f"stream-{f}" for f in ("openai", "anthropic", "gemini", "bedrock", "ollama")
]
CASES = ("floor", "floor-stdlib", "llmswitch")


def child(what: str, case_id: str, n: int) -> None:
    """In the valgrind child: one case, ``n`` ops inside functools.reduce."""
    sys.path.insert(0, str(HERE))
    import canned as canned_mod
    import cases as C
    import upstream as up

    kind, fmt = what.split("-")
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    tmp = Path(tempfile.mkdtemp(prefix="llmswitch-instr-"))
    os.chdir(tmp)
    canned = canned_mod.build()
    nginx = up.find_nginx()
    srv = up.start_nginx(nginx, canned, tmp) if nginx else up.start_python(canned, tmp, "whole")
    g = C.Group(what, what, fmt, kind == "stream", srv.url, srv.label, canned.text(fmt))
    loop = asyncio.new_event_loop()
    try:
        with C.provider_env(g):
            build = {
                "floor": lambda: C.floor_async(g, use_orjson=True),
                "floor-stdlib": lambda: C.floor_async(g),
                "llmswitch": lambda: C.llmswitch_async(g),
            }[case_id]
            case = loop.run_until_complete(build())
            loop.run_until_complete(case.check())

            async def run(k: int) -> None:
                for _ in range(k):
                    await case.op()

            loop.run_until_complete(run(30))
            functools.reduce(lambda _a, _b: loop.run_until_complete(run(n)), [0], 0)
            close = case.close() if case.close else None
            if asyncio.iscoroutine(close):
                loop.run_until_complete(close)
    finally:
        srv.close()
        loop.close()


def measure(what: str, case_id: str, n: int) -> int:
    """Instructions per op of one case, from a fresh valgrind child."""
    return per_op([__file__, "--child", what, case_id, str(n)], n, f"{what} {case_id}")


def per_op(script: list[str], n: int, label: str) -> int:
    """User-space instructions per op of ``python *script``, which runs ``n`` ops inside
    ``functools.reduce`` (collection is toggled on for that C function only)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no",
            "--toggle-collect=functools_reduce", f"--callgrind-out-file={out}",
            sys.executable, *script,
        ]  # fmt: skip
        # One hash seed for every child: string hashes decide dict probing, which
        # otherwise moves a count by ~0.3% between children.
        env = {**os.environ, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0 or not out.exists():
            raise SystemExit(f"{label}: valgrind failed\n{done.stderr[-2000:]}")
        for line in out.read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1]) // n
    raise SystemExit(f"{label}: no summary line in the callgrind output")


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=GROUPS)
    p.add_argument("cases", nargs="+", choices=CASES)
    p.add_argument("-n", type=int, default=0, help="ops counted (default 300 chat / 60 stream)")
    p.add_argument(
        "-r", "--runs", type=int, default=3,
        help="children per case, the median reported (default 3): how many times the event\n"
        "loop wakes for one response depends on timing, which moves a run by ~0.5%%",
    )  # fmt: skip
    args = p.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found (apt-get install valgrind)")
    n = args.n or (60 if args.what.startswith("stream") else 300)
    runs = max(1, args.runs)
    counts: dict[str, int] = {}
    spread: dict[str, tuple[int, int]] = {}
    for c in args.cases:
        got = sorted(measure(args.what, c, n) for _ in range(runs))
        counts[c] = got[len(got) // 2]
        spread[c] = (got[0], got[-1])
    floor = counts.get("floor")
    for c, ir in counts.items():
        ratio = f"  {ir / floor:.3f}x the orjson floor" if floor else ""
        lo, hi = spread[c]
        runs_note = f"  (median of {runs}: {lo:,}-{hi:,})" if runs > 1 else ""
        print(f"{args.what:<16} {c:<13} {ir:>10,} instructions/op{ratio}{runs_note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
