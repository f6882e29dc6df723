"""Runnable example: llmswitch inside a Starlette app, streaming answers to a browser.

    OPENAI_API_KEY=sk-... uv run python examples/with_server.py      # then open http://127.0.0.1:8000
    LLMSWITCH_MODEL=fake/echo uv run python examples/with_server.py   # no key needed

``GET /`` is a page that asks ``GET /chat?q=...`` with ``EventSource`` and shows the
answer as it streams (Server-Sent Events: one ``data:`` frame per text piece, then a
``done`` event with the usage, or a ``failed`` event with the error). Its Stop button
closes the connection, and so does closing the tab: the server notices at once, even
while the model has not sent anything new, and leaves ``async with client.stream(...)``,
which closes the connection to the provider -- an answer nobody reads is not generated
(or paid for) to the end.

``HOST`` and ``PORT`` choose the address (default 127.0.0.1:8000; ``PORT=0`` picks a free
port, printed at startup). The same code works in FastAPI: return ``EventStream(...)``
from a path operation. Starlette and uvicorn are not llmswitch dependencies:
``pip install starlette uvicorn``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncGenerator, AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from llmswitch import AsyncClient, LLMError

MODEL = os.environ.get("LLMSWITCH_MODEL", "openai/gpt-4o-mini")


def sse(data: object, event: str | None = None) -> str:
    """One Server-Sent Event: JSON on a single ``data:`` line."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def answer(client: AsyncClient, question: str) -> AsyncGenerator[str, None]:
    """The SSE frames of one streamed answer."""
    finished = False
    try:
        async with client.stream(MODEL, messages=[{"role": "user", "content": question}]) as stream:
            async for piece in stream.text_stream:
                yield sse({"text": piece})
        final = stream.response
        usage = final.usage
        yield sse(
            {
                "finish_reason": final.finish_reason,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cost_usd": final.cost,
            },
            event="done",
        )
        finished = True
    except LLMError as exc:  # typed, and never carries the API key
        # Not "error": EventSource uses that name for its own connection errors.
        yield sse({"error": type(exc).__name__, "message": str(exc)}, event="failed")
        finished = True
    finally:
        if not finished:
            # The browser went away (EventStream cancelled or closed us): leaving the
            # ``async with`` above has closed the provider connection already.
            print("client disconnected: upstream stream closed", flush=True)


class EventStream(StreamingResponse):
    """A ``text/event-stream`` response that stops the moment the client disconnects.

    The body is sent by one task while another waits for the server's
    ``http.disconnect``; whichever finishes first cancels the other. Without this, some
    ASGI servers report a disconnect only when the next write fails -- and while the
    model is thinking there is nothing to write."""

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncGenerator[str, None]) -> None:
        # no-cache: proxies must not buffer or keep the stream; X-Accel-Buffering: nginx.
        super().__init__(frames, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.frames = frames

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = asyncio.ensure_future(self.stream_response(send))
        gone = asyncio.ensure_future(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait({body, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            body.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await body  # a failure of the body (not a cancellation) propagates
            finally:
                await self.frames.aclose()  # stopped between two frames: close it now


async def chat(request: Request) -> EventStream:
    question = request.query_params.get("q") or "Write a haiku about TCP."
    client: AsyncClient = request.app.state.llm
    return EventStream(answer(client, question))


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # One client for the whole app: it pools connections to the providers.
    async with AsyncClient() as client:
        app.state.llm = client
        yield


app = Starlette(routes=[Route("/", page), Route("/chat", chat)], lifespan=lifespan)

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>llmswitch streaming</title>
<form id="ask">
  <input id="question" size="60" value="Write a haiku about TCP.">
  <button>Ask</button> <button type="button" id="stop">Stop</button>
</form>
<pre id="answer" style="white-space: pre-wrap"></pre>
<p id="status"></p>
<script>
let source = null;
const $ = (id) => document.getElementById(id);
function finish(text) {
  if (source) source.close();  // closing the connection cancels the model's answer
  source = null;
  $("status").textContent = text;
}
$("ask").onsubmit = (event) => {
  event.preventDefault();
  finish("");
  $("answer").textContent = "";
  source = new EventSource("/chat?q=" + encodeURIComponent($("question").value));
  source.onmessage = (m) => { $("answer").textContent += JSON.parse(m.data).text; };
  source.addEventListener("done", (m) => {
    const d = JSON.parse(m.data);
    finish(`${d.finish_reason}: ${d.input_tokens} tokens in, ${d.output_tokens} out`);
  });
  source.addEventListener("failed", (m) => finish("failed: " + JSON.parse(m.data).message));
  source.onerror = () => finish("connection lost");  // no automatic reconnect: no second answer
};
$("stop").onclick = () => finish("stopped");
</script>
"""


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    uvicorn.run(app, host=host, port=int(os.environ.get("PORT", "8000")))


if __name__ == "__main__":
    main()
