"""Profile llmswitch's hot paths against the loopback upstream (cProfile).

    uv run python bench/profile_llmswitch.py chat-openai        # or chat-anthropic,
    uv run python bench/profile_llmswitch.py stream-anthropic   # stream-openai, ...
    uv run python bench/profile_llmswitch.py chat-openai --sync -n 3000 --top 40
    uv run python bench/profile_llmswitch.py stream-bedrock --sigv4   # stream-gemini, ...

Prints the functions with the most own time (tottime) and the most cumulative time,
restricted to the profiled loop (client creation and warm-up excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
from pathlib import Path

import canned as canned_mod
import cases as C
import upstream as up


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "what",
        choices=[f"{k}-{f}" for k in ("chat", "stream") for f in ("openai", "anthropic")]
        + [f"stream-{f}" for f in ("gemini", "bedrock", "ollama")],
    )
    p.add_argument(
        "-n", type=int, default=0, help="ops to profile (default 2000 chat / 300 stream)"
    )
    p.add_argument("--sync", action="store_true", help="profile the sync Client instead")
    p.add_argument("--sigv4", action="store_true", help="stream-bedrock: SigV4, not an API key")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--out", type=Path, help="also dump raw stats here (for snakeviz etc.)")
    args = p.parse_args()
    kind, fmt = args.what.split("-")
    if args.sigv4 and fmt != "bedrock":
        p.error("--sigv4 applies to stream-bedrock only")
    stream = kind == "stream"
    n = args.n or (300 if stream else 2000)

    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    tmp = Path(tempfile.mkdtemp(prefix="llmswitch-prof-"))
    os.chdir(tmp)
    canned = canned_mod.build()
    nginx = up.find_nginx()
    srv = up.start_nginx(nginx, canned, tmp) if nginx else up.start_python(canned, tmp, "whole")
    g = C.Group(args.what, args.what, fmt, stream, srv.url, srv.label, canned.text(fmt))
    loop = asyncio.new_event_loop()
    try:
        with C.provider_env(g):
            factory = C.llmswitch_sync if args.sync else C.llmswitch_async
            case = loop.run_until_complete(factory(g, sigv4=args.sigv4))

            async def arun(k: int) -> None:
                for _ in range(k):
                    await case.op()

            def run(k: int) -> None:
                if case.is_async:
                    loop.run_until_complete(arun(k))
                else:
                    for _ in range(k):
                        case.op()

            run(max(10, n // 10))  # warm-up
            prof = cProfile.Profile()
            prof.enable()
            run(n)
            prof.disable()
            close = case.close() if case.close else None
            if asyncio.iscoroutine(close):
                loop.run_until_complete(close)
    finally:
        srv.close()
        loop.close()
    if args.out:
        prof.dump_stats(str(args.out))
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key)
        st.print_stats(args.top)
        flags = (" (sync)" if args.sync else "") + (" (SigV4)" if args.sigv4 else "")
        print(f"===== {args.what}{flags}: {n} ops, sorted by {key}")
        print("\n".join(buf.getvalue().splitlines()[4:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
