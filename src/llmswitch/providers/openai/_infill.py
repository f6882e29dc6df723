"""Code completion on llama.cpp's server: ``POST /infill`` at the server's root (a base
URL ending in ``/v1`` is taken back to it) with ``input_prefix``, ``input_suffix``,
``n_predict``, ``temperature``, ``top_p``, ``stop``, ``stream``. The answer is
``{"content": ..., "stop": true, "stop_type": "eos" | "word" | "limit",
"tokens_evaluated": N, "tokens_predicted": M}`` (older servers: ``stopped_limit``...);
a stream is SSE ``data:`` events of that shape, the last with ``"stop": true``.
Selected by ``fim = "infill"`` on an ``openai-compatible`` provider."""

from __future__ import annotations

from typing import Any

from ...events import Event, StreamEnd, StreamStart, TextDelta, build_response
from ...messages import ChatRequest, ChatResponse, FinishReason, Usage
from ...wire import HttpRequest, HttpResponse
from ...wire.sse import SSEDecoder
from .._common import int_or_none
from .._fim import code_parts, load_object, opt_text, post, sampling
from .._streams import StreamParser
from ..base import Endpoint
from ._completions import stream_object
from ._errors import error_from_payload, malformed

__all__ = ["LlamaInfill", "infill_url"]


def infill_url(base_url: str) -> str:
    root = base_url.rstrip("/")
    return (root[: -len("/v1")] if root.endswith("/v1") else root) + "/infill"


def _finish(obj: dict[str, Any]) -> tuple[FinishReason, str | None]:
    raw = opt_text(obj.get("stop_type"))
    if raw is None:  # servers before stop_type
        raw = next(
            (k[8:] for k in ("stopped_limit", "stopped_eos", "stopped_word") if obj.get(k)), None
        )
    if raw == "limit":
        return "length", raw
    return ("stop" if raw in ("eos", "word") else "other"), raw


def _usage(obj: dict[str, Any]) -> Usage:
    prompt = int_or_none(obj.get("tokens_evaluated"))
    output = int_or_none(obj.get("tokens_predicted"))
    total = prompt + output if prompt is not None and output is not None else None
    return Usage(input_tokens=prompt, output_tokens=output, total_tokens=total)


class LlamaInfill:
    __slots__ = ()

    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest:
        prefix, suffix = code_parts(request)
        body: dict[str, Any] = {"input_prefix": prefix, "input_suffix": suffix}
        sampling(request, body, max_key="n_predict")
        if stream:
            body["stream"] = True
        return post(request, endpoint, infill_url(endpoint.base_url), body, stream)

    def parse_response(self, request: ChatRequest, response: HttpResponse) -> ChatResponse:
        data = load_object(request, response, malformed)
        if data.get("error"):
            raise error_from_payload(
                request, data["error"], status=None, headers=response.headers, body=response.body
            )
        text = data.get("content")
        if not isinstance(text, str):
            raise malformed(request, "no content in the infill answer", response.body)
        finish, raw = _finish(data)
        return build_response(
            provider=request.provider, id=None, model=opt_text(data.get("model")) or request.model,
            text=text, tool_calls=(), reasoning=None, reasoning_blocks=(), refusal=None,
            finish_reason=finish, raw_finish_reason=raw, usage=_usage(data), raw=data,
        )  # fmt: skip

    def stream_parser(self, request: ChatRequest) -> StreamParser:
        return _InfillStream(request)


class _InfillStream(StreamParser):
    __slots__ = ("_ended", "_sse", "_started")
    expected = "an SSE stream of llama.cpp infill events"
    malformed = malformed

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(request)
        self._sse = SSEDecoder()
        self._started = False
        self._ended = False

    def _feed(self, data: bytes, out: list[Event]) -> None:
        if not self._ended:
            self._events(self._sse.feed_data(data), out, False)

    def _close(self, out: list[Event]) -> None:
        if self._ended:
            return
        self._events([payload for _, payload in self._sse.close()], out, True)
        if self._ended:
            return
        if self._head is not None and not out:
            raise self._unrecognised()
        self._ended = True
        out.append(StreamEnd("error", Usage(), None, None))

    def _events(self, payloads: list[bytes], out: list[Event], at_eof: bool) -> None:
        for payload in payloads:
            if self._ended:
                return
            if not payload.strip() or payload.startswith(b"[DONE]"):
                continue
            obj = stream_object(self._request, payload, at_eof, "event")
            if obj is None:
                return
            if not self._started:
                self._started = True
                out.append(StreamStart(None, opt_text(obj.get("model"))))
            piece = obj.get("content")
            if isinstance(piece, str) and piece:
                out.append(TextDelta(0, piece))
            if obj.get("stop") is True:
                self._ended = True
                finish, raw = _finish(obj)
                out.append(StreamEnd(finish, _usage(obj), raw, obj))
