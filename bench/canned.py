"""Canned provider bytes for the loopback upstream.

Shapes follow /work/shared/providers/WIRE.md (OpenAI 1.4/1.5, Anthropic 2.4/2.5,
Gemini 3.5, Bedrock 4.4/4.5, Ollama 5.4) and what the real services send today: OpenAI
chunks carry ``usage: null`` and an ``obfuscation`` pad, Anthropic streams open with a
``ping``, Gemini writes ``": "`` after keys and ends lines with CRLF, Bedrock pads every
payload with a junk ``p`` field, Ollama (Go) stamps every line with ``created_at``.
Everything is deterministic, so every run parses the same bytes.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

STREAM_TEXT_CHUNKS = 198  # OpenAI: role chunk + 198 content chunks + finish chunk = 200
ANTHROPIC_TEXT_DELTAS = 200
GEMINI_TEXT_CHUNKS = 200  # 200 data: events, the last with finishReason
BEDROCK_TEXT_DELTAS = 200  # contentBlockDelta frames between messageStart and contentBlockStop
OLLAMA_TEXT_LINES = 200  # done:false lines before the final done:true line

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
GEMINI_MODEL = "gemini-2.5-flash"
GEMINI_RESPONSE_ID = "BENCHgemini0123456789abcQ"
BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"  # %3A in the request path
OLLAMA_MODEL = "llama3.2"
_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


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


def _frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One ``application/vnd.amazon.eventstream`` frame (string headers), with both
    CRCs computed as AWS does (WIRE.md 4.5)."""
    raw = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        raw += bytes([len(n)]) + n + b"\x07" + struct.pack("!H", len(v)) + v
    prelude = struct.pack("!II", 12 + len(raw) + len(payload) + 4, len(raw))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + raw + payload
    return message + struct.pack("!I", zlib.crc32(message))


def _bedrock_event(name: str, body: dict[str, object], i: int) -> bytes:
    # The padding's length varies per frame on the service (it hides the token sizes).
    payload = {**body, "p": _PAD[: 8 + (i * 13) % (len(_PAD) - 8)]}
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return _frame(headers, _dumps(payload).encode())


def gemini_stream(pieces: list[str]) -> bytes:
    """``:streamGenerateContent?alt=sse``: one ``data:`` event per text chunk, CRLF line
    ends, ``usageMetadata`` (running totals) on every chunk, ``finishReason`` on the last."""
    out = []
    prompt, thoughts = 12, 310
    for i, piece in enumerate(pieces):
        cand: dict[str, object] = {"content": {"parts": [{"text": piece}], "role": "model"}}
        if i == len(pieces) - 1:
            cand["finishReason"] = "STOP"
        cand["index"] = 0
        produced = 3 * (i + 1)
        chunk = {
            "candidates": [cand],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": produced,
                "totalTokenCount": prompt + produced + thoughts,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
                "thoughtsTokenCount": thoughts,
            },
            "modelVersion": GEMINI_MODEL,
            "responseId": GEMINI_RESPONSE_ID,
        }
        text = json.dumps(chunk, separators=(",", ": "), ensure_ascii=False)
        out.append(f"data: {text}\r\n\r\n".encode())
    return b"".join(out)


def bedrock_stream(pieces: list[str]) -> bytes:
    """ConverseStream: messageStart, one contentBlockDelta per piece (a text block has no
    contentBlockStart), contentBlockStop, messageStop, then metadata with the usage."""
    frames = [_bedrock_event("messageStart", {"role": "assistant"}, 0)]
    for i, piece in enumerate(pieces):
        body = {"contentBlockIndex": 0, "delta": {"text": piece}}
        frames.append(_bedrock_event("contentBlockDelta", body, i + 1))
    n = len(frames)
    frames.append(_bedrock_event("contentBlockStop", {"contentBlockIndex": 0}, n))
    frames.append(_bedrock_event("messageStop", {"stopReason": "end_turn"}, n + 1))
    usage = {
        "inputTokens": 42,
        "outputTokens": 640,
        "totalTokens": 682,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 0,
    }
    metadata = {"usage": usage, "metrics": {"latencyMs": 2873}}
    frames.append(_bedrock_event("metadata", metadata, n + 2))
    return b"".join(frames)


def ollama_stream(pieces: list[str]) -> bytes:
    """``/api/chat`` NDJSON: one ``done:false`` line per piece, then the ``done:true`` line
    with the reason and the counters (Go's encoder: compact, raw UTF-8)."""
    lines = []
    for i, piece in enumerate(pieces):
        stamp = f"2025-10-09T12:00:{i // 60:02d}.{(i % 60) * 16_384_123:09d}Z"
        line = {
            "model": OLLAMA_MODEL,
            "created_at": stamp,
            "message": {"role": "assistant", "content": piece},
            "done": False,
        }
        lines.append(_dumps(line))
    final = {
        "model": OLLAMA_MODEL,
        "created_at": "2025-10-09T12:00:04.001234567Z",
        "message": {"role": "assistant", "content": ""},
        "done_reason": "stop",
        "done": True,
        "total_duration": 4_120_887_125,
        "load_duration": 21_023_125,
        "prompt_eval_count": 31,
        "prompt_eval_duration": 20_338_042,
        "eval_count": len(pieces),
        "eval_duration": 3_977_000_000,
    }
    lines.append(_dumps(final))
    return "".join(line + "\n" for line in lines).encode()


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
    gemini_sse: bytes
    bedrock_eventstream: bytes
    ollama_ndjson: bytes
    gemini_text: str
    bedrock_text: str
    ollama_text: str

    def text(self, fmt: str) -> str:
        """The answer a parser must reassemble from the ``fmt`` bodies."""
        text: str = getattr(self, f"{fmt}_text")
        return text


def build() -> Canned:
    o_pieces = _pieces(STREAM_TEXT_CHUNKS)
    a_pieces = _pieces(ANTHROPIC_TEXT_DELTAS)
    o_text = "".join(o_pieces)
    a_text = "".join(a_pieces)
    g_pieces = _pieces(GEMINI_TEXT_CHUNKS)
    b_pieces = _pieces(BEDROCK_TEXT_DELTAS)
    ol_pieces = _pieces(OLLAMA_TEXT_LINES)
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
        gemini_sse=gemini_stream(g_pieces),
        bedrock_eventstream=bedrock_stream(b_pieces),
        ollama_ndjson=ollama_stream(ol_pieces),
        gemini_text="".join(g_pieces),
        bedrock_text="".join(b_pieces),
        ollama_text="".join(ol_pieces),
    )


# Request path (decoded: Bedrock's %3A arrives as ":") -> (Canned attribute, content
# type). "/stream" prefixes the streaming variants so one server covers every case: a
# client picks a format by its base URL.
ROUTES: dict[str, tuple[str, str]] = {
    "/v1/chat/completions": ("openai_json", "application/json"),
    "/v1/messages": ("anthropic_json", "application/json"),
    "/stream/v1/chat/completions": ("openai_sse", "text/event-stream"),
    "/stream/v1/messages": ("anthropic_sse", "text/event-stream"),
    f"/stream/v1beta/models/{GEMINI_MODEL}:streamGenerateContent": (
        "gemini_sse",
        "text/event-stream",
    ),
    f"/stream/model/{BEDROCK_MODEL}/converse-stream": (
        "bedrock_eventstream",
        "application/vnd.amazon.eventstream",
    ),
    "/stream/api/chat": ("ollama_ndjson", "application/x-ndjson"),
}
