"""Code completion on Ollama: ``/api/generate`` with ``prompt`` and ``suffix`` (the
model's template places them; a model without fill-in-the-middle support answers 400
"does not support insert"). An empty suffix sends ``raw: true`` instead, so the prefix
is continued as text rather than answered as a chat turn. NDJSON stream."""

from __future__ import annotations

from typing import Any

from ... import _json
from ...events import Event, StreamEnd, StreamStart, TextDelta, build_response
from ...messages import ChatRequest, ChatResponse, Usage
from ...wire import HttpRequest, HttpResponse
from ...wire.ndjson import NDJSONDecoder
from .._fim import code_parts, load_object, opt_text, post, sampling
from .._streams import StreamParser
from ..base import Endpoint
from ._errors import malformed, stream_error
from ._response import map_done, map_usage

__all__ = ["OllamaGenerate"]


class OllamaGenerate:
    """Ollama's ``/api/generate``. Options go under ``options`` by Ollama's names."""

    __slots__ = ()

    def build_request(
        self, request: ChatRequest, endpoint: Endpoint, *, stream: bool
    ) -> HttpRequest:
        prefix, suffix = code_parts(request)
        body: dict[str, Any] = {"model": request.model, "prompt": prefix, "stream": stream}
        if suffix:
            body["suffix"] = suffix
        else:
            body["raw"] = True  # no template: continue the text
        options: dict[str, Any] = {}
        sampling(request, options, max_key="num_predict")
        if options:
            body["options"] = options
        return post(request, endpoint, endpoint.url("/api/generate"), body, False)

    def parse_response(self, request: ChatRequest, response: HttpResponse) -> ChatResponse:
        data = load_object(request, response, malformed)
        if "error" in data:
            raise stream_error(request, response.body, str(data["error"]))
        text = data.get("response")
        if not isinstance(text, str):
            raise malformed(request, "no response text in the answer", response.body)
        raw = opt_text(data.get("done_reason"))
        return build_response(
            provider=request.provider, id=None, model=opt_text(data.get("model")) or request.model,
            text=text, tool_calls=(), reasoning=None, reasoning_blocks=(), refusal=None,
            finish_reason=map_done(raw, False), raw_finish_reason=raw,
            usage=map_usage(data), raw=data,
        )  # fmt: skip

    def stream_parser(self, request: ChatRequest) -> StreamParser:
        return _GenerateStream(request)


class _GenerateStream(StreamParser):
    """``{"response": "...", "done": false}`` lines, then the ``done: true`` line with
    the counts. EOF without it ends with ``finish_reason="error"``."""

    __slots__ = ("_done", "_lines", "_started")
    expected = "an NDJSON stream of /api/generate lines"
    malformed = malformed

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(request)
        self._lines = NDJSONDecoder()
        self._started = False
        self._done = False

    def _feed(self, data: bytes, out: list[Event]) -> None:
        self._lines_of(self._lines.feed_lines(data), out, False)

    def _close(self, out: list[Event]) -> None:
        self._lines_of(self._lines.close(), out, True)
        if self._head is not None and not out and not self._done:
            raise self._unrecognised()
        if not self._done:
            self._done = True
            out.append(StreamEnd("error", Usage(), None, None))

    def _lines_of(self, lines: list[bytes], out: list[Event], at_eof: bool) -> None:
        for line in lines:
            if self._done:
                return
            if not line.strip():
                continue
            try:
                obj = _json.loads(line)
            except ValueError:
                if at_eof:
                    return  # cut off mid-line: a truncated stream
                if self._head is not None and not out:
                    raise self._unrecognised() from None
                raise malformed(self._request, "stream line is not valid JSON", line) from None
            if not isinstance(obj, dict):
                raise malformed(self._request, "stream line is not a JSON object", line)
            if "error" in obj:
                raise stream_error(self._request, line, str(obj["error"]))
            piece = obj.get("response")
            if not isinstance(piece, str):
                raise malformed(self._request, "stream line has no response text", line)
            if not self._started:
                self._started = True
                out.append(StreamStart(None, opt_text(obj.get("model"))))
            if piece:
                out.append(TextDelta(0, piece))
            if obj.get("done") is True:
                self._done = True
                raw = opt_text(obj.get("done_reason"))
                out.append(StreamEnd(map_done(raw, False), map_usage(obj), raw, obj))
