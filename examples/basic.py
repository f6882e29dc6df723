"""Runnable example: a chat call, what comes back, and a follow-up turn.

    OPENAI_API_KEY=sk-... uv run python examples/basic.py
    LLMSWITCH_MODEL=anthropic/claude-haiku-4-5 ANTHROPIC_API_KEY=... uv run python examples/basic.py
    LLMSWITCH_MODEL=fake/echo uv run python examples/basic.py     # no key: the built-in echo

The provider comes from the environment, as it would in your own code: its key
(OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, ...) and, for a proxy or a local
server, its base URL (OPENAI_BASE_URL, ANTHROPIC_BASE_URL, OLLAMA_HOST, ...).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from llmswitch import ChatResponse, Client, ConfigurationError, LLMError, Message

MODEL = os.environ.get("LLMSWITCH_MODEL", "openai/gpt-4o-mini")


def describe(resp: ChatResponse) -> None:
    usage = resp.usage
    print(resp.text)
    print(f"  model: {resp.provider}/{resp.model}, finish reason: {resp.finish_reason}")
    # input_tokens includes the cached ones and output_tokens the reasoning ones, on
    # every provider; a count the provider did not report is None, not 0.
    print(
        f"  tokens: {usage.input_tokens} in ({usage.cached_input_tokens or 0} cached), "
        f"{usage.output_tokens} out"
    )
    print("  cost:", "unknown" if resp.cost is None else f"${resp.cost:.6f}")


def main() -> int:
    question = {"role": "user", "content": "Name three prime numbers."}
    history: list[dict[str, Any] | Message] = [question]
    with Client() as client:  # providers from the environment (+ ./llmswitch.toml if present)
        try:
            first = client.chat(MODEL, messages=history, system="Answer in one line.")
            describe(first)
            # The assistant turn goes back into the history as it came, then the next question.
            history += [first.message, {"role": "user", "content": "And their sum?"}]
            describe(client.chat(MODEL, messages=history, system="Answer in one line."))
        except ConfigurationError as exc:  # raised before anything is sent
            print(f"not configured: {exc}", file=sys.stderr)
            print("(LLMSWITCH_MODEL=fake/echo runs this example without a key)", file=sys.stderr)
            return 2
        except LLMError as exc:  # every other failure: typed, key never in the message
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
