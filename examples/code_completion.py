"""Runnable example: fill in the code between a prefix and a suffix (fill-in-the-middle).

    MISTRAL_API_KEY=... uv run python examples/code_completion.py        # Codestral, native FIM
    LLMSWITCH_MODEL=ollama/qwen2.5-coder:1.5b uv run python examples/code_completion.py
    LLMSWITCH_MODEL=openai/gpt-4o-mini uv run python examples/code_completion.py   # chat-based
    LLMSWITCH_MODEL=fake/echo uv run python examples/code_completion.py  # no key needed

Models with a native fill-in-the-middle route (Codestral, Ollama, DeepSeek, vLLM and
llama.cpp servers) get it; every other chat model gets a fixed instruction instead.
Either way the answer is only the missing middle: no code fences, no repeated prefix or
suffix, so it can be inserted at the cursor as is.
"""

from __future__ import annotations

import os
import sys

from llmswitch import Client, ConfigurationError, LLMError

MODEL = os.environ.get("LLMSWITCH_MODEL", "mistral/codestral-latest")

# The editor's buffer, cut at the cursor.
PREFIX = 'def add(a: int, b: int) -> int:\n    """The sum of a and b."""\n    return '
SUFFIX = "\n\n\nprint(add(1, 2))\n"


def main() -> int:
    with Client() as client:
        try:
            done = client.complete_code(MODEL, PREFIX, SUFFIX, language="python", max_tokens=64)
            print(f"completion: {done.text!r}")
            print(f"  method: {done.method}, finish reason: {done.finish_reason}")
            print(f"  tokens: {done.usage.input_tokens} in, {done.usage.output_tokens} out")
            print("  cost:", "unknown" if done.cost is None else f"${done.cost:.6f}")
            print("the file with it:")
            print(PREFIX + done.text + SUFFIX, end="")

            # Streamed for as-you-type ghost text; stop ends the answer at a blank line.
            pieces = []
            with client.stream_code(MODEL, PREFIX, SUFFIX, stop=["\n\n"], max_tokens=64) as stream:
                for piece in stream.text_stream:
                    pieces.append(piece)
            print(f"streamed: {''.join(pieces)!r} ({stream.response.finish_reason})")
        except ConfigurationError as exc:
            print(f"not configured: {exc}", file=sys.stderr)
            print("(LLMSWITCH_MODEL=fake/echo runs this example without a key)", file=sys.stderr)
            return 2
        except LLMError as exc:
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
