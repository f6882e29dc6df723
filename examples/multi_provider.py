"""Runnable example: one model name over two providers, with fallback.

    OPENAI_API_KEY=sk-... ANTHROPIC_API_KEY=sk-ant-... uv run python examples/multi_provider.py

``examples/multi_provider.toml`` (or the file ``$LLMSWITCH_CONFIG`` names) declares the
group ``assistant``: OpenAI first, Anthropic when OpenAI answers 429/5xx, times out or
cannot be reached. The code calls ``"assistant"`` like any model; each answer says which
deployment produced it. Keys and base URLs come from the environment as usual.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from llmswitch import AllProvidersFailedError, Client, ConfigurationError, LLMError

CONFIG = os.environ.get("LLMSWITCH_CONFIG") or Path(__file__).with_name("multi_provider.toml")
QUESTION = [{"role": "user", "content": "Say hello in German."}]


def main() -> int:
    # max_retries=1: one more try on the same deployment, then the next provider.
    with Client(config=CONFIG, max_retries=1) as client:
        try:
            resp = client.chat("assistant", messages=QUESTION, max_tokens=100)
            print(f"chat   -> {resp.provider}/{resp.model}: {resp.text}")

            # Streams fall back too, as long as no event has reached the caller yet.
            with client.stream("assistant", messages=QUESTION, max_tokens=100) as stream:
                text = "".join(stream.text_stream)
            final = stream.response
            print(f"stream -> {final.provider}/{final.model}: {text}")
        except AllProvidersFailedError as exc:
            print("every deployment failed:", file=sys.stderr)
            for error in exc.errors:  # one per attempt, in order
                print(f"  {error.provider}/{error.model}: {type(error).__name__}", file=sys.stderr)
            return 1
        except ConfigurationError as exc:  # e.g. a deployment's key is not set
            print(f"not configured: {exc}", file=sys.stderr)
            return 2
        except LLMError as exc:  # an error the group does not fall back on (e.g. a 400)
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
