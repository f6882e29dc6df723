"""``llmswitch chat MODEL [PROMPT]``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from ..messages import ChatResponse

_DIM, _RESET = "\x1b[2m", "\x1b[0m"
_NOTES = {
    "length": "the answer was cut off at the token limit (raise --max-tokens)",
    "content_filter": "the provider's content filter stopped the answer",
}


def run_chat(args: argparse.Namespace) -> int:
    prompt = args.prompt
    if prompt is None:
        if sys.stdin is None or sys.stdin.isatty():
            print(
                "llmswitch chat: error: no prompt: pass PROMPT or pipe it on stdin", file=sys.stderr
            )
            return 2
        prompt = sys.stdin.read().rstrip("\n")  # the final newline of `echo` is not part of it
    if not prompt.strip():
        print("llmswitch chat: error: the prompt is empty", file=sys.stderr)
        return 2

    from .. import Client

    options: dict[str, Any] = {
        "messages": [{"role": "user", "content": prompt}],
        "system": args.system,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "reasoning": args.reasoning,
    }
    with Client(config=args.config) as client:
        if args.json or args.no_stream:
            response = client.chat(args.model, **options)
            if args.json:
                sys.stdout.write(
                    json.dumps(response_to_json(response), indent=2, ensure_ascii=False) + "\n"
                )
            else:
                sys.stdout.write(response.text + "\n")
        else:
            with client.stream(args.model, **options) as stream:
                _print_stream(stream, show_reasoning=args.show_reasoning)
                response = stream.response
    sys.stdout.flush()
    if response.finish_reason == "error":
        # The provider did not finish the answer (a cut stream, a malformed call):
        # whatever text came is printed, but the command failed.
        from ._exit import fail

        return fail(_failure(response))
    note = _NOTES.get(response.finish_reason)
    if note and not args.json:
        print(f"llmswitch: note: {note}", file=sys.stderr)
    return 0


def _failure(response: ChatResponse) -> str:
    where = f"[{response.provider}/{response.model}] "
    raw = f" ({response.raw_finish_reason})" if response.raw_finish_reason else ""
    what = "the answer is incomplete" if response.text or response.tool_calls else "no answer"
    if raw:
        return f"{where}{what}: the provider ended the response with an error{raw}"
    return f"{where}{what}: the stream ended before the provider finished the response"


def _print_stream(stream: Any, *, show_reasoning: bool) -> None:
    out, err = sys.stdout, sys.stderr
    dim = show_reasoning and _use_color(err)
    text_open = reasoning_open = False  # a line we started and must end
    try:
        for event in stream:
            kind = event.kind
            if kind == "text":
                if reasoning_open:
                    err.write((_RESET if dim else "") + "\n")
                    err.flush()
                    reasoning_open = False
                out.write(event.text)
                out.flush()  # show each piece as it arrives
                text_open = True
            elif kind == "reasoning" and show_reasoning:
                if not reasoning_open and dim:
                    err.write(_DIM)
                err.write(event.text)
                err.flush()
                reasoning_open = True
    finally:
        # End the lines we started, also when the stream fails or is interrupted,
        # so an error message or the shell prompt starts on a fresh line.
        if reasoning_open:
            err.write((_RESET if dim else "") + "\n")
            err.flush()
        if text_open:
            out.write("\n")
            out.flush()


def _use_color(stream: TextIO) -> bool:
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def response_to_json(response: ChatResponse) -> dict[str, Any]:
    """The user-facing fields of a response (``raw`` stays out: it can be large)."""
    usage = response.usage
    return {
        "id": response.id,
        "model": response.model,
        "provider": response.provider,
        "text": response.text,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
        ],
        "reasoning": response.reasoning,
        "finish_reason": response.finish_reason,
        "raw_finish_reason": response.raw_finish_reason,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
        },
        "cost": response.cost,
    }
