"""Instructions of llmswitch's own work for one chat, without the network or an event
loop: deterministic to the instruction, for sizing a change to the chat path.

    uv run python bench/chat_instructions.py                    # openai and anthropic
    uv run python bench/chat_instructions.py anthropic --stage parse
    PYTHONPATH=/other/tree/src uv run python bench/chat_instructions.py

``AsyncClient.chat`` runs over a transport whose ``send`` returns the canned response at
once, the coroutine driven by ``send(None)`` (it never suspends), inside a fresh
``valgrind --tool=callgrind`` child whose collection is toggled on ``functools.reduce``
around the measured calls, as bench/instructions.py does. With nothing timing-dependent
left (no sockets, no loop wake-ups, one hash seed) two runs of a tree give the same count,
where the loopback case moves by ~2k. Stages: ``chat`` (the whole call), ``request``
(``_Core.request``: validation and the ChatRequest), ``build`` (the adapter's HTTP
request), ``parse`` (the response, ``orjson.loads`` included) and ``loads`` (that
decode alone, to subtract).
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FORMATS = ("openai", "anthropic")
STAGES = ("chat", "request", "build", "parse", "loads")


def child(fmt: str, stage: str, n: int) -> None:
    """In the valgrind child: ``n`` runs of ``stage`` inside functools.reduce."""
    sys.path.insert(0, str(HERE))
    import canned as canned_mod
    import cases as C
    import orjson
    from multidict import CIMultiDict, CIMultiDictProxy

    import llmswitch
    from llmswitch.wire import HttpResponse

    canned = canned_mod.build()
    body: bytes = getattr(canned, f"{fmt}_json")
    headers = CIMultiDictProxy(
        CIMultiDict({"Content-Type": "application/json", "Content-Length": str(len(body))})
    )

    class Answering:
        async def send(self, request: Any, timeout: Any) -> HttpResponse:
            return HttpResponse(200, headers, body)

    g = C.Group("x", "x", fmt, False, "http://127.0.0.1:9", "-", canned.text(fmt))
    with C.provider_env(g):
        client = llmswitch.AsyncClient()
        client._core.transport = Answering()  # before the first call builds a context
        model = C._model(g)

        def chat() -> Any:
            co = client.chat(model, messages=C.MESSAGES, max_tokens=C.MAX_TOKENS)
            try:
                co.send(None)
            except StopIteration as done:
                return done.value
            raise RuntimeError("the chat suspended: the transport is not answering at once")

        if chat().text != canned.text(fmt):
            raise SystemExit(f"{fmt}: the parsed text differs from the canned answer")
        core = client._core
        provider, request, _ = core.request(model, C.MESSAGES, max_tokens=C.MAX_TOKENS)
        response = HttpResponse(200, headers, body)
        build, parse = provider.adapter.chat_functions()  # type: ignore[attr-defined]
        endpoint = provider.endpoint  # type: ignore[attr-defined]
        run = {
            "chat": chat,
            "request": lambda: core.request(model, C.MESSAGES, max_tokens=C.MAX_TOKENS),
            "build": lambda: build(request, endpoint, stream=False),
            "parse": lambda: parse(request, response),
            "loads": lambda: orjson.loads(body),
        }[stage]
        for _ in range(50):  # warm: caches filled, the interpreter's specializations made
            run()

        def measured(_a: Any, _b: Any) -> None:
            for _ in range(n):
                run()

        functools.reduce(measured, [0], 0)


def measure(fmt: str, stage: str, n: int) -> int:
    from instructions import per_op  # bench/ is this script's directory, on sys.path

    return per_op([__file__, "--child", fmt, stage, str(n)], n, f"{fmt} {stage}")


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("formats", nargs="*", help=f"of {', '.join(FORMATS)} (default: both)")
    p.add_argument("--stage", action="append", choices=STAGES, help="default: chat (repeatable)")
    p.add_argument("-n", type=int, default=500, help="calls counted (default 500)")
    args = p.parse_args()
    unknown = [f for f in args.formats if f not in FORMATS]
    if unknown:
        p.error(f"unknown format {unknown[0]!r} (choose from {', '.join(FORMATS)})")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found (apt-get install valgrind)")
    for fmt in args.formats or FORMATS:
        for stage in args.stage or ["chat"]:
            print(f"{fmt:<10} {stage:<8} {measure(fmt, stage, args.n):>9,} instructions/call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
