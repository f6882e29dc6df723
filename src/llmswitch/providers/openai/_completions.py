"""Code completion on the legacy Completions API with ``suffix``: vLLM, llama.cpp's
server and other OpenAI-compatible servers at ``<base>/completions``, DeepSeek at
``https://api.deepseek.com/beta/completions``. ``choices[].text``; an SSE stream of
chunks, a usage chunk, ``data: [DONE]``. An empty suffix is left out."""

from __future__ import annotations

from typing import Any

from ... import _json
from ...events import Event, StreamEnd, StreamStart, TextDelta, build_response
from ...messages import ChatRequest, ChatResponse
from ...wire import HttpRequest, HttpResponse
from ...wire.sse import SSEDecoder
from .._fim import load_object, opt_text, post, prompt_body
from .._shape import SHAPE_ERRORS, shape_problem
from .._streams import StreamParser
from ..base import Endpoint
from ._errors import error_from_payload, malformed
from ._response import map_finish, map_usage

__all__ = ["TextCompletions", "stream_object"]


def stream_object(
    request: ChatRequest, payload: bytes, at_eof: bool, what: str
) -> dict[str, Any] | None:
    """One SSE payload of a code-completion stream as its JSON object; ``None`` for a
    truncated last one (``at_eof``: the stream simply ends). Not JSON, not an object,
    or an ``error`` object raise (``what``: ``"chunk"``/``"event"``, for the message)."""
    try:
        obj = _json.loads(payload)
    except ValueError:
        if at_eof:
            return None
        raise malformed(request, f"stream {what} is not valid JSON", payload) from None
    if not isinstance(obj, dict):
        raise malformed(request, f"stream {what} is not a JSON object", payload)
    if obj.get("error"):
        raise error_from_payload(request, obj["error"], status=None, headers={}, body=payload)
    return obj


class TextCompletions:
    """``POST <url>`` of the legacy Completions API with ``suffix``. ``url``: the full
    route (DeepSeek's lives under ``/beta``), or ``None`` for ``<base>/completions``."""

    __slots__ = ("url",)

    def __init__(self, url: str | None = None) -> None:
        self.url = url

    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest:
        body = prompt_body(request, stream=stream)
        if stream:
            body["stream_options"] = {"include_usage": True}
        url = self.url or endpoint.url("/completions", request.model)
        return post(request, endpoint, url, body, stream)

    def parse_response(self, request: ChatRequest, response: HttpResponse) -> ChatResponse:
        data = load_object(request, response, malformed)
        if data.get("error"):
            raise error_from_payload(
                request, data["error"], status=None, headers=response.headers, body=response.body
            )
        try:
            choice = _choice(data.get("choices"))
            if choice is None:
                raise malformed(request, "no choices in the response", response.body)
            text = choice.get("text")
            raw = opt_text(choice.get("finish_reason"))
            return build_response(
                provider=request.provider, id=opt_text(data.get("id")),
                model=opt_text(data.get("model")) or request.model,
                text=text if isinstance(text, str) else "", tool_calls=(), reasoning=None,
                reasoning_blocks=(), refusal=None, finish_reason=map_finish(raw),
                raw_finish_reason=raw, usage=map_usage(data.get("usage")), raw=data,
            )  # fmt: skip
        except SHAPE_ERRORS as exc:
            raise malformed(request, shape_problem(exc), response.body) from None

    def stream_parser(self, request: ChatRequest) -> StreamParser:
        return _CompletionsStream(request)


def _choice(choices: Any) -> dict[str, Any] | None:
    if not isinstance(choices, list):
        return None
    for c in choices:
        if isinstance(c, dict) and c.get("index", 0) == 0:
            return c
    return None


class _CompletionsStream(StreamParser):
    """``data: {"choices": [{"text": ...}]}`` events, a usage chunk, ``data: [DONE]``."""

    __slots__ = ("_ended", "_finish", "_sse", "_started", "_usage")
    expected = "an SSE stream of completion chunks"
    malformed = malformed

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(request)
        self._sse = SSEDecoder()
        self._started = False
        self._ended = False
        self._finish: str | None = None
        self._usage: Any = None

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
        self._end(out, done=False)

    def _end(self, out: list[Event], *, done: bool) -> None:
        self._ended = True
        raw = self._finish
        finish = map_finish(raw) if raw is not None else ("other" if done else "error")
        out.append(StreamEnd(finish, map_usage(self._usage), raw, None))

    def _events(self, payloads: list[bytes], out: list[Event], at_eof: bool) -> None:
        for payload in payloads:
            if payload.startswith(b"[DONE]"):
                self._end(out, done=True)
                return
            if not payload.strip():
                continue
            chunk = stream_object(self._request, payload, at_eof, "chunk")
            if chunk is None:
                return
            if not self._started:
                self._started = True
                out.append(StreamStart(opt_text(chunk.get("id")), opt_text(chunk.get("model"))))
            if chunk.get("usage"):
                self._usage = chunk["usage"]
            choice = _choice(chunk.get("choices"))
            if choice is None:
                continue
            piece = choice.get("text")
            if isinstance(piece, str) and piece:
                out.append(TextDelta(0, piece))
            raw = opt_text(choice.get("finish_reason"))
            if raw is not None:
                self._finish = raw
