"""Embeddings and legacy completions: request bodies -> client arguments, results -> JSON."""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ...errors import ConfigurationError
from ...events import StreamEnd
from ...fim import CodeCompletion
from ...messages import EmbeddingResponse
from ._chat_out import DONE, finish_reason, usage_json

__all__ = ["CompletionCall", "EmbedCall", "TextChunks", "completion_json", "embeddings_json",
           "parse_completion", "parse_embeddings"]  # fmt: skip


def _bad(param: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"{param}: {problem}", field=param)


def _model(body: Any) -> str:
    if not isinstance(body, Mapping):
        raise _bad("body", "the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "must be a non-empty string")
    return model


def _user(body: Mapping[str, Any]) -> str | None:
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("user", "must be a string")
    return user


# ------------------------------------------------------------------ embeddings


@dataclass(slots=True)
class EmbedCall:
    model: str
    inputs: list[str]
    base64: bool
    options: dict[str, Any] = field(default_factory=dict)


def parse_embeddings(body: Any) -> EmbedCall:
    model = _model(body)
    raw = body.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(s, str) for s in raw):
        inputs = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(s, int | list) for s in raw):
        raise _bad("input", "token arrays are not supported by this gateway: send the text")
    else:
        raise _bad("input", "must be a string or a non-empty list of strings")
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise _bad("encoding_format", "must be float or base64")
    options: dict[str, Any] = {}
    dims = body.get("dimensions")
    if dims is not None:
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise _bad("dimensions", "must be a positive integer")
        options["dimensions"] = dims
    user = _user(body)
    if user is not None:
        options["user"] = user
    return EmbedCall(model=model, inputs=inputs, base64=fmt == "base64", options=options)


def _b64(vector: list[float]) -> str:
    # OpenAI's base64 form: little-endian float32, what the SDKs decode with numpy.
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def embeddings_json(resp: EmbeddingResponse, model: str, *, as_base64: bool) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": i, "embedding": _b64(v) if as_base64 else v}
        for i, v in enumerate(resp.vectors)
    ]
    out: dict[str, Any] = {"object": "list", "data": data, "model": model}
    tokens = resp.usage.input_tokens
    if tokens is not None:  # only what the provider reported
        out["usage"] = {"prompt_tokens": tokens, "total_tokens": resp.usage.total_tokens or tokens}
    return out


# ------------------------------------------------------------------ legacy completions


@dataclass(slots=True)
class CompletionCall:
    model: str
    prefix: str
    suffix: str
    stream: bool
    include_usage: bool
    options: dict[str, Any] = field(default_factory=dict)


def parse_completion(body: Any) -> CompletionCall:
    model = _model(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        if isinstance(prompt, list) and prompt and all(isinstance(p, int | list) for p in prompt):
            raise _bad("prompt", "token arrays are not supported by this gateway: send the text")
        raise _bad("prompt", "must be a string (one prompt per request)")
    suffix = body.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise _bad("suffix", "must be a string")
    for name, ok in (("n", 1), ("best_of", 1)):
        if body.get(name) not in (None, ok):
            raise _bad(name, "only 1 is supported")
    if body.get("echo"):
        raise _bad("echo", "echo is not supported")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _bad("stream", "must be a boolean")
    so = body.get("stream_options")
    if so is not None and not isinstance(so, Mapping):
        raise _bad("stream_options", "must be an object")
    options: dict[str, Any] = {}
    max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise _bad("max_tokens", "must be a positive integer")
        options["max_tokens"] = max_tokens
    for name, lo, hi in (("temperature", 0, 2), ("top_p", 0, 1)):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise _bad(name, f"must be a number between {lo} and {hi}")
        options[name] = float(value)
    stop = body.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _bad("stop", "must be a string or a list of strings")
        options["stop"] = stop
    user = _user(body)
    if user is not None:
        options["user"] = user
    return CompletionCall(
        model=model, prefix=prompt, suffix=suffix or "", stream=bool(stream),
        include_usage=bool(so and so.get("include_usage") is True), options=options,
    )  # fmt: skip


def completion_json(done: CodeCompletion, cid: str, model: str, created: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": cid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "text": done.text,
                "index": 0,
                "logprobs": None,
                "finish_reason": finish_reason(done.finish_reason),
            }
        ],
    }
    usage = usage_json(done.usage)
    if usage is not None:
        out["usage"] = usage
    return out


class TextChunks:
    """Legacy completion stream chunks (``object: text_completion``)."""

    __slots__ = ("_head", "_include_usage", "_usage_head")

    def __init__(self, cid: str, model: str, created: int, *, include_usage: bool) -> None:
        head = orjson.dumps({"id": cid, "object": "text_completion", "created": created,
                             "model": model})[:-1]  # fmt: skip
        self._head = b"data: " + head + b',"choices":[{"index":0,"logprobs":null,"text":'
        self._usage_head = b"data: " + head + b',"choices":[],"usage":'
        self._include_usage = include_usage

    def text(self, text: str) -> bytes:
        return self._head + orjson.dumps(text) + b',"finish_reason":null}]}\n\n'

    def end(self, end: StreamEnd | CodeCompletion) -> bytes:
        reason = orjson.dumps(finish_reason(end.finish_reason))
        out = self._head + b'"","finish_reason":' + reason + b"}]}\n\n"
        if self._include_usage:
            out += self._usage_head + orjson.dumps(usage_json(end.usage)) + b"}\n\n"
        return out + DONE
