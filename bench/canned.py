"""Canned provider bytes for the loopback upstream.

Shapes follow /work/shared/providers/WIRE.md (OpenAI 1.4/1.5, Anthropic 2.4/2.5) and
what the real services send today: OpenAI chunks carry ``usage: null`` and an
``obfuscation`` pad, Anthropic streams open with a ``ping``. Everything is
deterministic, so every run parses the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

STREAM_TEXT_CHUNKS = 198  # OpenAI: role chunk + 198 content chunks + finish chunk = 200
ANTHROPIC_TEXT_DELTAS = 200

_WORDS = (
    "the", "request", "is", "routed", "to", "a", "provider", "and", "its", "answer",
    "streams", "back", "as", "typed", "events", "while", "usage", "and", "cost", "are",
    "tracked", "per", "call", "so", "budgets", "hold", "café", "naïve", "résumé", "—",
    "latency", "matters", "because", "every", "chunk", "passes", "through", "the", "parser",
)  # fmt: skip

OPENAI_ID = "chatcmpl-BENCH0123456789abcdefXYZ"
OPENAI_MODEL = "gpt-4o-mini-2024-07-18"
ANTHROPIC_ID = "msg_01BENCHabcdefghijklmnopq"
ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"


def _pieces(n: int) -> list[str]:
    """``n`` text pieces of two to four words each, some with non-ASCII characters."""
    out = []
    k = 0
    for i in range(n):
        size = 2 + (i % 3)
        words = [_WORDS[(k + j * 7) % len(_WORDS)] for j in range(size)]
        k += size
        out.append(" " + " ".join(words) + ("." if i % 11 == 10 else ""))
    return out


def _dumps(obj: object) -> str:
    # Compact separators and raw UTF-8, as both services send.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Canned:
    openai_json: bytes
    openai_sse: bytes
    anthropic_json: bytes
    anthropic_sse: bytes
    openai_text: str  # what a parser must reassemble from openai_json / openai_sse
    anthropic_text: str
    openai_events: list[bytes]  # the SSE transcript cut at event boundaries (trickle mode)
    anthropic_events: list[bytes]


def build() -> Canned:
    o_pieces = _pieces(STREAM_TEXT_CHUNKS)
    a_pieces = _pieces(ANTHROPIC_TEXT_DELTAS)
    o_text = "".join(o_pieces)
    a_text = "".join(a_pieces)
    created = 1_760_000_000

    o_usage = {
        "prompt_tokens": 42,
        "completion_tokens": 612,
        "total_tokens": 654,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    openai_json = {
        "id": OPENAI_ID,
        "object": "chat.completion",
        "created": created,
        "model": OPENAI_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": o_text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": o_usage,
        "service_tier": "default",
        "system_fingerprint": "fp_560af6e559",
    }

    def o_chunk(delta: dict[str, object], finish: str | None, i: int) -> dict[str, object]:
        return {
            "id": OPENAI_ID,
            "object": "chat.completion.chunk",
            "created": created,
            "model": OPENAI_MODEL,
            "service_tier": "default",
            "system_fingerprint": "fp_560af6e559",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
            "obfuscation": "xY3z"[: 1 + i % 4],
        }

    o_events = [o_chunk({"role": "assistant", "content": "", "refusal": None}, None, 0)]
    o_events += [o_chunk({"content": p}, None, i + 1) for i, p in enumerate(o_pieces)]
    o_events.append(o_chunk({}, "stop", 0))
    o_events.append(
        {
            "id": OPENAI_ID,
            "object": "chat.completion.chunk",
            "created": created,
            "model": OPENAI_MODEL,
            "service_tier": "default",
            "system_fingerprint": "fp_560af6e559",
            "choices": [],
            "usage": o_usage,
            "obfuscation": "Qw",
        }
    )
    openai_events = [f"data: {_dumps(e)}\n\n".encode() for e in o_events]
    openai_events.append(b"data: [DONE]\n\n")

    a_usage_start = {
        "input_tokens": 42,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 1,
        "service_tier": "standard",
    }
    anthropic_json = {
        "id": ANTHROPIC_ID,
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": [{"type": "text", "text": a_text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {**a_usage_start, "output_tokens": 640},
    }

    def a_event(name: str, data: dict[str, object]) -> bytes:
        return f"event: {name}\ndata: {_dumps(data)}\n\n".encode()

    anthropic_events = [
        a_event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": ANTHROPIC_ID,
                    "type": "message",
                    "role": "assistant",
                    "model": ANTHROPIC_MODEL,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": a_usage_start,
                },
            },
        ),
        a_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        # The service sends this one with a space after the colon.
        b'event: ping\ndata: {"type": "ping"}\n\n',
    ]
    for i, p in enumerate(a_pieces):
        anthropic_events.append(
            a_event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": p},
                },
            )
        )
        if i % 100 == 99:
            anthropic_events.append(b'event: ping\ndata: {"type": "ping"}\n\n')
    anthropic_events += [
        a_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        a_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {
                    "input_tokens": 42,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": 640,
                },
            },
        ),
        a_event("message_stop", {"type": "message_stop"}),
    ]

    return Canned(
        openai_json=_dumps(openai_json).encode(),
        openai_sse=b"".join(openai_events),
        anthropic_json=_dumps(anthropic_json).encode(),
        anthropic_sse=b"".join(anthropic_events),
        openai_text=o_text,
        anthropic_text=a_text,
        openai_events=openai_events,
        anthropic_events=anthropic_events,
    )


# Request path -> (file name, content type). "/stream" prefixes the streaming variants so
# one server covers every case: a client picks a format by its base URL.
ROUTES: dict[str, tuple[str, str]] = {
    "/v1/chat/completions": ("openai_json", "application/json"),
    "/v1/messages": ("anthropic_json", "application/json"),
    "/stream/v1/chat/completions": ("openai_sse", "text/event-stream"),
    "/stream/v1/messages": ("anthropic_sse", "text/event-stream"),
}
