"""Stream recovery end to end: a loopback server that breaks a stream midway (the
socket closed in the middle of the body, a mid-stream Anthropic ``overloaded_error``,
a body that ends before its end marker) and then serves the continuation. Per provider:
the caller's one event sequence, the continuation's request body (prefill where the
provider continues a final assistant message, a continuation request elsewhere), the
usage summed over the attempts, the seams; and one ledger row per attempt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from llmswitch import Client
from llmswitch._resume import CONTINUE_INSTRUCTION
from llmswitch.errors import ProviderUnavailableError, TransportError
from llmswitch.events import Event, StreamEnd, StreamStart, TextDelta
from llmswitch.messages import ChatResponse
from llmswitch.middleware.retry import no_sleep
from llmswitch.storage.sql.schema import usage_ledger
from llmswitch.testing import FakeProvider
from tests.support.bedrock import event, fixture
from tests.support.loopback import EVENTSTREAM, Loopback, Reply
from tests.support.upstreams import ANTHROPIC, BEDROCK, GEMINI, OLLAMA, OPENAI, Upstream

QUESTION = [{"role": "user", "content": "Tell me about foxes"}]


def sse(*docs: Any, names: list[str] | None = None) -> list[bytes]:
    """One SSE event per chunk (so a break can fall between any two)."""
    out = []
    for i, doc in enumerate(docs):
        data = doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False)
        head = f"event: {names[i]}\n" if names else ""
        out.append(f"{head}data: {data}\n\n".encode())
    return out


def openai_stream(pieces: list[str], *, usage: dict[str, int] | None = None) -> list[bytes]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o-mini"}  # fmt: skip
    docs: list[Any] = [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                              "finish_reason": None}]}
    ]  # fmt: skip
    docs += [
        {**head, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
        for p in pieces
    ]
    docs.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage is not None:
        docs.append({**head, "choices": [], "usage": usage})
    return [*sse(*docs), b"data: [DONE]\n\n"]


def anthropic_stream(
    pieces: list[str],
    *,
    input_tokens: int = 10,
    output_tokens: int = 5,
    error: str | None = None,
    finished: bool = True,
) -> list[bytes]:
    message = {"id": "msg_1", "type": "message", "role": "assistant",
               "model": "claude-sonnet-4-5-20250929", "content": [], "stop_reason": None,
               "stop_sequence": None, "usage": {"input_tokens": input_tokens,
                                                "output_tokens": 1}}  # fmt: skip
    events: list[tuple[str, Any]] = [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
    ]  # fmt: skip
    events += [
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": p}})
        for p in pieces
    ]  # fmt: skip
    if error is not None:
        events.append(
            ("error", {"type": "error", "error": {"type": error, "message": "Overloaded"}})
        )
    elif finished:
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
             "stop_sequence": None}, "usage": {"output_tokens": output_tokens}}),
            ("message_stop", {"type": "message_stop"}),
        ]  # fmt: skip
    return sse(*(d for _, d in events), names=[n for n, _ in events])


def gemini_stream(pieces: list[str], *, prompt: int = 9, output: int = 5) -> list[bytes]:
    docs: list[Any] = [
        {"candidates": [{"content": {"parts": [{"text": p}], "role": "model"}, "index": 0}],
         "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt},
         "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"}
        for p in pieces
    ]  # fmt: skip
    docs[-1]["candidates"][0]["finishReason"] = "STOP"
    docs[-1]["usageMetadata"] = {"promptTokenCount": prompt, "candidatesTokenCount": output,
                                 "totalTokenCount": prompt + output}  # fmt: skip
    return sse(*docs)


def ollama_stream(pieces: list[str], *, prompt: int = 26, output: int = 6) -> list[bytes]:
    line = {"model": "llama3.2", "created_at": "2025-07-07T20:32:53.1Z"}
    out = [
        json.dumps({**line, "message": {"role": "assistant", "content": p}, "done": False})
        for p in pieces
    ]
    out.append(json.dumps({**line, "message": {"role": "assistant", "content": ""},
                           "done_reason": "stop", "done": True, "prompt_eval_count": prompt,
                           "eval_count": output}))  # fmt: skip
    return [(o + "\n").encode() for o in out]


def bedrock_stream(pieces: list[str], *, inputs: int = 12, outputs: int = 6) -> list[bytes]:
    frames = [event("messageStart", {"role": "assistant"})]
    frames += [
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in pieces
    ]
    frames += [
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "end_turn"}),
        event("metadata", {"usage": {"inputTokens": inputs, "outputTokens": outputs,
                                     "totalTokens": inputs + outputs}, "metrics": {"latencyMs": 5}}),
    ]  # fmt: skip
    return frames


def broken(upstream: Upstream, chunks: list[bytes], after: int) -> Reply:
    """The stream's first ``after`` chunks, then the socket closed mid-body."""
    return Reply(content_type=upstream.stream_type, chunks=chunks, drop_after=after)


def whole(upstream: Upstream, chunks: list[bytes]) -> Reply:
    return Reply(content_type=upstream.stream_type, chunks=chunks)


def run(upstream: Upstream, loopback: Loopback, **kw: Any) -> tuple[list[Event], ChatResponse]:
    with no_sleep(), upstream.client(loopback) as client:
        with client.stream(upstream.model, QUESTION, resume=True, **kw) as stream:
            events = list(stream)
        return events, stream.response


async def arun(upstream: Upstream, loopback: Loopback) -> tuple[list[Event], ChatResponse]:
    with no_sleep():
        async with upstream.async_client(loopback) as client:
            async with client.stream(upstream.model, QUESTION, resume=True) as stream:
                events = [e async for e in stream]
            return events, stream.response


def one_sequence(events: list[Event]) -> None:
    kinds = [type(e) for e in events]
    assert kinds.count(StreamStart) <= 1 and kinds.count(StreamEnd) == 1
    assert kinds[-1] is StreamEnd


def bodies(loopback: Loopback) -> list[dict[str, Any]]:
    return [r.json() for r in loopback.requests]  # type: ignore[misc]


# --------------------------------------------------------------------------- per provider


def test_openai_socket_closed_mid_stream_then_a_continuation_request(loopback: Loopback) -> None:
    first = openai_stream(["Foxes ", "are "])
    loopback.route(
        "POST", OPENAI.stream_path,
        broken(OPENAI, first, after=3),  # role chunk, "Foxes ", "are ": then the socket closes
        whole(OPENAI, openai_stream(["small ", "omnivores."],
                                    usage={"prompt_tokens": 30, "completion_tokens": 4,
                                           "total_tokens": 34})),
    )  # fmt: skip
    events, resp = run(OPENAI, loopback)
    one_sequence(events)
    assert [e.text for e in events if isinstance(e, TextDelta)] == [
        "Foxes ", "are ", "small ", "omnivores."
    ]  # fmt: skip
    assert {e.index for e in events if isinstance(e, TextDelta)} == {0}
    assert resp.text == "Foxes are small omnivores." and resp.finish_reason == "stop"
    assert resp.usage.input_tokens == 30 and resp.usage.output_tokens == 4
    (seam,) = resp.resumed
    assert seam.how == "continuation" and seam.offset == len("Foxes are ")
    assert isinstance(seam.error, TransportError)
    first_body, second = bodies(loopback)
    assert second["messages"] == [
        *first_body["messages"],
        {"role": "assistant", "content": "Foxes are "},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]
    assert second["stream"] is True


def test_anthropic_overloaded_mid_stream_then_a_prefill(loopback: Loopback) -> None:
    loopback.route(
        "POST", ANTHROPIC.stream_path,
        whole(ANTHROPIC, anthropic_stream(["Foxes ", "are "], error="overloaded_error")),
        whole(ANTHROPIC, anthropic_stream([" small", " omnivores."], input_tokens=14)),
    )  # fmt: skip
    events, resp = run(ANTHROPIC, loopback)
    one_sequence(events)
    # The prefill left out the trailing space; the continuation sent it again: cut.
    assert [e.text for e in events if isinstance(e, TextDelta)] == [
        "Foxes ", "are ", "small", " omnivores."
    ]  # fmt: skip
    assert resp.text == "Foxes are small omnivores."
    (seam,) = resp.resumed
    assert seam.how == "prefill" and seam.trimmed == " "
    assert isinstance(seam.error, ProviderUnavailableError)
    _, second = bodies(loopback)
    assert second["messages"] == [
        {"role": "user", "content": "Tell me about foxes"},
        {"role": "assistant", "content": "Foxes are"},
    ]
    # Only the continuation reported usage (the first attempt ended in the error).
    assert resp.usage.input_tokens == 14 and resp.usage.output_tokens == 5


def test_anthropic_cut_off_body_usage_is_summed(loopback: Loopback) -> None:
    loopback.route(
        "POST", ANTHROPIC.stream_path,
        # every byte sent, the body complete: but no message_stop
        whole(ANTHROPIC, anthropic_stream(["Once upon ", "a time"], input_tokens=25,
                                          finished=False)),
        whole(ANTHROPIC, anthropic_stream([", a fox."], input_tokens=31, output_tokens=4)),
    )  # fmt: skip
    events, resp = run(ANTHROPIC, loopback)
    one_sequence(events)
    assert resp.text == "Once upon a time, a fox."
    assert resp.usage.input_tokens == 25 + 31 and resp.usage.output_tokens == 1 + 4
    assert resp.cost is not None and resp.cost > 0
    assert "cut off" in str(resp.resumed[0].error)
    assert bodies(loopback)[1]["messages"][-1] == {
        "role": "assistant",
        "content": "Once upon a time",
    }


def test_anthropic_socket_closed_before_any_text_restarts(loopback: Loopback) -> None:
    loopback.route(
        "POST", ANTHROPIC.stream_path,
        broken(ANTHROPIC, anthropic_stream(["unused"]), after=2),  # start and block start only
        whole(ANTHROPIC, anthropic_stream(["Foxes."])),
    )  # fmt: skip
    events, resp = run(ANTHROPIC, loopback)
    one_sequence(events)
    assert resp.text == "Foxes." and resp.resumed[0].how == "restart"
    first, second = bodies(loopback)
    assert second == first


def test_gemini_continuation_request_ends_with_a_user_turn(loopback: Loopback) -> None:
    loopback.route(
        "POST", GEMINI.stream_path,
        broken(GEMINI, gemini_stream(["Foxes ", "are ", "x"]), after=2),
        whole(GEMINI, gemini_stream(["small ", "omnivores."], prompt=20, output=4)),
    )  # fmt: skip
    events, resp = run(GEMINI, loopback)
    one_sequence(events)
    assert resp.text == "Foxes are small omnivores."
    assert resp.usage.input_tokens == 20
    _, second = bodies(loopback)
    assert second["contents"][-2:] == [
        {"role": "model", "parts": [{"text": "Foxes are "}]},
        {"role": "user", "parts": [{"text": CONTINUE_INSTRUCTION}]},
    ]
    assert resp.resumed[0].how == "continuation"


def test_ollama_socket_closed_then_a_prefill(loopback: Loopback) -> None:
    loopback.route(
        "POST", OLLAMA.stream_path,
        broken(OLLAMA, ollama_stream(["Foxes ", "are ", "x"]), after=2),
        whole(OLLAMA, ollama_stream(["small ", "omnivores."])),
    )  # fmt: skip
    events, resp = run(OLLAMA, loopback)
    one_sequence(events)
    assert resp.text == "Foxes are small omnivores."
    assert resp.resumed[0].how == "prefill" and resp.resumed[0].trimmed == ""
    _, second = bodies(loopback)
    last = second["messages"][-1]
    assert (last["role"], last["content"]) == ("assistant", "Foxes are")
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (26, 6)


@pytest.mark.usefixtures("aws_env")
def test_bedrock_cut_off_event_stream_then_a_prefill(loopback: Loopback) -> None:
    loopback.route(
        "POST", BEDROCK.stream_path,
        Reply(content_type=EVENTSTREAM, chunks=[fixture("truncated.bin")]),  # "Once upon a time"
        Reply(content_type=EVENTSTREAM, chunks=bedrock_stream([" there", " was a fox."])),
    )  # fmt: skip
    events, resp = run(BEDROCK, loopback)
    one_sequence(events)
    assert resp.text == "Once upon a time there was a fox."
    _, second = bodies(loopback)
    assert second["messages"][-1] == {
        "role": "assistant",
        "content": [{"text": "Once upon a time"}],
    }
    assert resp.resumed[0].how == "prefill"
    assert resp.usage.input_tokens is not None and resp.usage.input_tokens >= 12


def test_resume_off_surfaces_the_break_as_before(loopback: Loopback) -> None:
    loopback.route("POST", OPENAI.stream_path, broken(OPENAI, openai_stream(["Foxes "]), after=2))
    with no_sleep(), OPENAI.client(loopback) as client:
        with pytest.raises(TransportError) as info, client.stream(OPENAI.model, QUESTION) as stream:
            for _ in stream:
                pass
    assert info.value.partial.text == "Foxes "
    assert len(loopback.requests) == 1


# --------------------------------------------------------------------------- async


async def test_async_openai_socket_closed_then_continued(loopback: Loopback) -> None:
    loopback.route(
        "POST", OPENAI.stream_path,
        broken(OPENAI, openai_stream(["Foxes ", "are "]), after=3),
        whole(OPENAI, openai_stream(["are ", "small."])),  # repeats its last word: cut
    )  # fmt: skip
    events, resp = await arun(OPENAI, loopback)
    one_sequence(events)
    assert resp.text == "Foxes are small."
    assert resp.resumed[0].trimmed == "are "
    assert bodies(loopback)[1]["messages"][-1]["content"] == CONTINUE_INSTRUCTION


async def test_async_anthropic_overloaded_then_prefill(loopback: Loopback) -> None:
    loopback.route(
        "POST", ANTHROPIC.stream_path,
        whole(ANTHROPIC, anthropic_stream(["Foxes ", "are "], error="overloaded_error")),
        whole(ANTHROPIC, anthropic_stream(["small."])),
    )  # fmt: skip
    events, resp = await arun(ANTHROPIC, loopback)
    one_sequence(events)
    assert resp.text == "Foxes are small."
    assert resp.resumed[0].how == "prefill"
    assert bodies(loopback)[1]["messages"][-1] == {"role": "assistant", "content": "Foxes are"}


# --------------------------------------------------------------------------- the ledger


def test_each_attempt_is_a_ledger_row(database_url: str, tmp_path: Path) -> None:
    fake = FakeProvider("openai", replies=[
        {"text": "Foxes are small.", "chunk_size": 5, "error_after": 2},
        {"text": " are small.", "usage": {"input_tokens": 30, "output_tokens": 3}},
    ])  # fmt: skip
    env = {"LLMSWITCH_DATABASE_URL": database_url, "LLMSWITCH_HOME": str(tmp_path / "home")}
    with no_sleep(), Client(providers=[fake], env=env) as client:
        with client.stream("openai/gpt-4o-mini", QUESTION, resume=True) as stream:
            list(stream)
        assert stream.response.text == "Foxes are small."
        ledger = client.usage_ledger
        assert ledger is not None and ledger.flush(10)
        rows = ledger.database.read(
            lambda conn: [dict(r._mapping) for r in conn.execute(
                select(usage_ledger).order_by(usage_ledger.c.id))]
        )  # fmt: skip
    assert [(r["attempt"], r["status"]) for r in rows] == [(1, "error"), (2, "ok")]
    assert rows[0]["request_id"] == rows[1]["request_id"] == stream.response.request_id
    assert rows[1]["input_tokens"] == 30
