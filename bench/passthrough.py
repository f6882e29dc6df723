"""The bare Python passthrough: the gateway budget's reference (DESIGN.md section 4).

A raw ASGI app under uvicorn (uvloop + httptools, one worker, no access log): it forwards
the request body to ``UPSTREAM + path`` over one shared aiohttp session and answers with
the orjson-parsed and re-encoded JSON body; an SSE answer is relayed chunk by chunk. No
auth, limits or usage: what a gateway costs with nothing but the proxying.

    python bench/passthrough.py --port 8000 --upstream http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import orjson
import uvicorn

UPSTREAM = ""
HEADERS = {"content-type": "application/json", "authorization": "Bearer bench"}
_session: list[aiohttp.ClientSession] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (msg := await receive())["type"] != "lifespan.shutdown":
            _session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
            await send({"type": "lifespan.startup.complete"})
        await _session[0].close()
        return await send({"type": "lifespan.shutdown.complete"})
    body, more = b"", True
    while more:
        msg = await receive()
        body, more = body + msg.get("body", b""), msg.get("more_body", False)
    async with _session[0].post(UPSTREAM + scope["path"], data=body, headers=HEADERS) as resp:
        ctype = resp.headers.get("content-type", "application/json").encode()
        start = {"type": "http.response.start", "status": resp.status}
        if ctype.startswith(b"text/event-stream"):
            await send({**start, "headers": [(b"content-type", ctype)]})
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            return await send({"type": "http.response.body", "body": b""})
        out = orjson.dumps(orjson.loads(await resp.read()))
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(out))]
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": out})


def main() -> None:
    global UPSTREAM
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT (no trailing /)")
    args = p.parse_args()
    UPSTREAM = args.upstream
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                workers=1, access_log=False, log_level="warning")  # fmt: skip


if __name__ == "__main__":
    main()
