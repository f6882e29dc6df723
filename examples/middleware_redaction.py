"""Runnable example: your own middleware around every call, streaming included.

    uv run python examples/middleware_redaction.py

A redaction layer masks card numbers before the prompt leaves the process, an audit
layer records each call, and the built-in Retry layer absorbs a rate limit. The
scripted FakeProvider stands in for a real one; swap "fake/demo" for
"openai/gpt-4o-mini" (with OPENAI_API_KEY set) and nothing else changes.
"""

from __future__ import annotations

import dataclasses
import re

from llmswitch import ChatResponse, Client, RateLimitError
from llmswitch.middleware import Call, Hooks, Retry, RetryPolicy
from llmswitch.testing import FakeProvider

CARD = re.compile(r"\b(?:\d{4}[ -]?){3}\d{4}\b")


class Redact(Hooks):
    """Mask card numbers in every outgoing message."""

    def on_request(self, call: Call) -> Call:
        messages = tuple(
            dataclasses.replace(m, content=CARD.sub("[card]", m.content))
            if isinstance(m.content, str)
            else m
            for m in call.request.messages
        )
        return call.replace(request=dataclasses.replace(call.request, messages=messages))


class Audit(Hooks):
    """Keep one line per completed call: which model, how many tokens."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def on_response(self, call: Call, response: ChatResponse) -> ChatResponse:
        self.lines.append(f"{call.model}: {response.usage.total_tokens} tokens")
        return response


def main() -> None:
    fake = FakeProvider()
    fake.reply(error=RateLimitError("slow down", retry_after=0.05))  # absorbed by Retry
    fake.reply("I can't store card numbers, but here is how to pay safely...")
    fake.reply("Streaming works through the same layers.")

    audit = Audit()
    client = Client(providers=[fake], middleware=[audit, Retry(RetryPolicy(attempts=3)), Redact()])

    question = [{"role": "user", "content": "My card is 4111 1111 1111 1111, can you keep it?"}]
    print(client.chat("fake/demo", messages=question).text)
    with client.stream("fake/demo", messages=question) as stream:
        for piece in stream.text_stream:
            print(piece, end="", flush=True)
    print()

    print("the provider saw:", fake.requests[-1].messages[0].text)
    print("audit:", audit.lines)


if __name__ == "__main__":
    main()
