"""Runnable example: stream an answer as it is written, with Client and AsyncClient.

    OPENAI_API_KEY=sk-... uv run python examples/streaming.py
    LLMSWITCH_MODEL=gemini/gemini-2.5-flash GEMINI_API_KEY=... uv run python examples/streaming.py
    LLMSWITCH_MODEL=fake/echo uv run python examples/streaming.py     # no key needed

Three streams: the whole answer event by event (sync), then the text alone (async),
then one the caller stops early -- leaving the ``with`` block closes the connection, so
the provider stops generating.
"""

from __future__ import annotations

import asyncio
import os
import sys

from llmswitch import AsyncClient, Client, ConfigurationError, LLMError

MODEL = os.environ.get("LLMSWITCH_MODEL", "openai/gpt-4o-mini")
QUESTION = [{"role": "user", "content": "Count from one to five in words."}]


def stream_events(client: Client) -> None:
    # The request is sent when the block is entered: a 401 or 429 raises here.
    with client.stream(MODEL, messages=QUESTION) as stream:
        for event in stream:
            if event.kind == "text":
                print(event.text, end="", flush=True)
            elif event.kind == "tool_call_end":  # with tools=[...]: a complete call
                print(f"\n[tool call {event.tool_call.name}({event.tool_call.arguments})]")
    final = stream.response  # the ChatResponse chat() would have returned, usage included
    print(f"\n[sync: finish_reason={final.finish_reason}, {final.usage.output_tokens} tokens out]")


async def stream_text() -> None:
    async with AsyncClient() as client:
        async with client.stream(MODEL, messages=QUESTION) as stream:
            async for piece in stream.text_stream:
                print(piece, end="", flush=True)
        print(f"\n[async: {len(stream.response.text)} characters]")

        # Stop reading whenever you like: the rest of the answer is never sent.
        received = ""
        async with client.stream(MODEL, messages=QUESTION) as stream:
            async for piece in stream.text_stream:
                received += piece
                if len(received) >= 8:
                    break
        print(f"[stopped early after {received!r}]")


def main() -> int:
    try:
        with Client() as client:
            stream_events(client)
        asyncio.run(stream_text())
    except ConfigurationError as exc:
        print(f"not configured: {exc}", file=sys.stderr)
        print("(LLMSWITCH_MODEL=fake/echo runs this example without a key)", file=sys.stderr)
        return 2
    except LLMError as exc:
        # A stream cut off midway raises after the events that did arrive; the error's
        # ``partial`` is the ChatResponse of those.
        kept = exc.partial.text if exc.partial is not None else ""
        print(f"\n{type(exc).__name__}: {exc} (kept {len(kept)} characters)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
