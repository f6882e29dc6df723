"""Anthropic content blocks -> the library's typed messages (``Message``, parts,
tool calls, reasoning blocks), and the checks every field of a Messages body shares: a
bad value is an ``HttpError(400)`` naming it (``messages.2.content.0.type``). The
mapping rules are in ``_messages_in``'s docstring."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...messages import ImagePart, Message, Part, ReasoningBlock, TextPart, ToolCall
from .._errors import HttpError
from ._ids import split_id

__all__ = ["messages_of"]

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def _bad(param: str, problem: str) -> HttpError:
    return HttpError(400, f"{param}: {problem}", code="invalid_request", param=param)


def _str(value: Any, param: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise _bad(param, "must be a non-empty string" if not empty else "must be a string")
    return value


def _obj(value: Any, param: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _bad(param, "must be an object")
    return value


def _list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(param, "must be an array")
    return value


def _int(value: Any, param: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise _bad(param, f"must be an integer >= {lo}")
    return value


def _number(value: Any, param: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _bad(param, f"must be a number from {lo:g} to {hi:g}")
    return float(value)


def _cache(block: Mapping[str, Any], param: str) -> Mapping[str, Any] | None:
    cc = block.get("cache_control")
    if cc is None:
        return None
    cc = _obj(cc, f"{param}.cache_control")
    if cc.get("type") != "ephemeral":
        raise _bad(f"{param}.cache_control.type", "must be 'ephemeral'")
    ttl = cc.get("ttl")
    if ttl is not None and ttl not in ("5m", "1h"):
        raise _bad(f"{param}.cache_control.ttl", "must be '5m' or '1h'")
    return dict(cc)


# --------------------------------------------------------------------------- blocks


def _text(block: Mapping[str, Any], param: str) -> TextPart:
    return TextPart(text=_str(block.get("text"), f"{param}.text", empty=True),
                    cache_control=_cache(block, param))  # fmt: skip


def _image(block: Mapping[str, Any], param: str) -> ImagePart:
    source = _obj(block.get("source"), f"{param}.source")
    kind = source.get("type")
    if kind == "base64":
        media = _str(source.get("media_type"), f"{param}.source.media_type")
        if media not in _IMAGE_TYPES:
            raise _bad(f"{param}.source.media_type", f"unsupported image type {media[:40]!r}")
        data = _str(source.get("data"), f"{param}.source.data")
        url = f"data:{media};base64,{data}"
    elif kind == "url":
        url = _str(source.get("url"), f"{param}.source.url")
        if not url.startswith(("http://", "https://")):
            raise _bad(f"{param}.source.url", "must be an http(s) URL")
    else:
        raise _bad(f"{param}.source.type", "must be 'base64' or 'url' (files are not supported)")
    return ImagePart(url=url, cache_control=_cache(block, param))


def _document(block: Mapping[str, Any], param: str) -> TextPart:
    source = _obj(block.get("source"), f"{param}.source")
    if source.get("type") != "text":
        raise _bad(
            f"{param}.source.type",
            "only plain-text documents are supported by the gateway (no PDF, URL or file)",
        )
    text = _str(source.get("data"), f"{param}.source.data", empty=True)
    title = block.get("title")
    if isinstance(title, str) and title:
        text = f"{title}\n\n{text}"
    return TextPart(text=text, cache_control=_cache(block, param))


def _part(block: Mapping[str, Any], kind: Any, param: str) -> Part:
    if kind == "text":
        return _text(block, param)
    if kind == "image":
        return _image(block, param)
    if kind == "document":
        return _document(block, param)
    raise _bad(f"{param}.type", f"unsupported content block type {str(kind)[:40]!r}")


def _result_content(raw: Any, param: str, is_error: bool) -> str | tuple[Part, ...]:
    if raw is None:
        text = ""
    elif isinstance(raw, str):
        text = raw
    else:
        parts = []
        for j, b in enumerate(_list(raw, param)):
            b = _obj(b, f"{param}.{j}")
            parts.append(_part(b, b.get("type"), f"{param}.{j}"))
        if is_error:
            parts.insert(0, TextPart(text="Error:"))
        if parts:
            return tuple(parts)
        text = ""
    if is_error:
        return f"Error: {text}" if text else "Error"
    return text


def _user(raw: Any, param: str, out: list[Message], lead: list[Part]) -> None:
    """One user turn: its tool results as tool messages, then ``lead`` (system text
    that came between the calls and their results), then the rest."""
    if isinstance(raw, str):
        if lead:
            out.append(Message(role="user", content=(*lead, TextPart(text=raw))))
        else:
            out.append(Message(role="user", content=raw))
        return
    parts: list[Part] = list(lead)
    results: list[Message] = []
    for j, b in enumerate(_list(raw, param)):
        where = f"{param}.{j}"
        b = _obj(b, where)
        kind = b.get("type")
        if kind == "tool_result":
            is_error = b.get("is_error")
            if is_error is not None and not isinstance(is_error, bool):
                raise _bad(f"{where}.is_error", "must be a boolean")
            results.append(
                Message(
                    role="tool",
                    tool_call_id=split_id(_str(b.get("tool_use_id"), f"{where}.tool_use_id"))[0],
                    content=_result_content(b.get("content"), f"{where}.content", bool(is_error)),
                    cache_control=_cache(b, where),
                )
            )
        else:
            parts.append(_part(b, kind, where))
    out.extend(results)
    if parts or not results:
        out.append(Message(role="user", content=tuple(parts)))


def _assistant(raw: Any, param: str) -> Message:
    if isinstance(raw, str):
        return Message(role="assistant", content=raw)
    parts: list[Part] = []
    calls: list[ToolCall] = []
    thinking: list[ReasoningBlock] = []
    cache: Mapping[str, Any] | None = None
    for j, b in enumerate(_list(raw, param)):
        where = f"{param}.{j}"
        b = _obj(b, where)
        kind = b.get("type")
        cache = None
        if kind == "tool_use":
            tool_input = b.get("input", {})
            call_id, signature = split_id(_str(b.get("id"), f"{where}.id"))
            calls.append(
                ToolCall(
                    id=call_id,
                    name=_str(b.get("name"), f"{where}.name"),
                    arguments=dict(_obj(tool_input, f"{where}.input")),
                    signature=signature,
                )
            )
            cache = _cache(b, where)
        elif kind == "thinking":
            signature = b.get("signature")
            if signature is not None and not isinstance(signature, str):
                raise _bad(f"{where}.signature", "must be a string")
            thinking.append(
                ReasoningBlock(
                    text=_str(b.get("thinking"), f"{where}.thinking", empty=True),
                    signature=signature or None,
                )
            )
        elif kind == "redacted_thinking":
            thinking.append(ReasoningBlock(redacted_data=_str(b.get("data"), f"{where}.data")))
        elif kind in ("text", "image"):
            parts.append(_part(b, kind, where))
        else:
            raise _bad(f"{where}.type", f"unsupported assistant content block {str(kind)[:40]!r}")
    content: tuple[Part, ...] | None = tuple(parts) if parts else None
    return Message(
        role="assistant",
        content=content,
        tool_calls=tuple(calls),
        reasoning=tuple(thinking),
        cache_control=cache,
    )


def _system_parts(raw: Any, param: str) -> tuple[TextPart, ...]:
    if isinstance(raw, str):
        return (TextPart(text=raw),)
    out = []
    for j, b in enumerate(_list(raw, param)):
        b = _obj(b, f"{param}.{j}")
        if b.get("type") != "text":
            raise _bad(f"{param}.{j}.type", "system blocks must be text")
        out.append(_text(b, f"{param}.{j}"))
    return tuple(out)


def messages_of(body: Mapping[str, Any]) -> list[Message]:
    """``system`` and ``messages`` of a Messages body as the library's messages."""
    out: list[Message] = []
    if "system" in body and body["system"] is not None:
        parts = _system_parts(body["system"], "system")
        if any(p.text for p in parts):
            out.append(Message(role="system", content=parts))
    raw = _list(body.get("messages"), "messages")
    if not raw:
        raise _bad("messages", "at least one message is required")
    conversation = False
    pending: list[Part] = []  # mid-conversation system text waiting for tool results
    for i, m in enumerate(raw):
        param = f"messages.{i}"
        m = _obj(m, param)
        role = m.get("role")
        if "content" not in m:
            raise _bad(f"{param}.content", "is required")
        content = m["content"]
        if role == "user":
            _user(content, f"{param}.content", out, pending)
            pending = []
            conversation = True
        elif role == "assistant":
            if pending:
                out.append(Message(role="user", content=tuple(pending)))
                pending = []
            out.append(_assistant(content, f"{param}.content"))
            conversation = True
        elif role == "system":
            parts = _system_parts(content, f"{param}.content")
            if not conversation:
                out.append(Message(role="system", content=parts))
            elif pending or (out[-1].role == "assistant" and out[-1].tool_calls):
                pending.extend(parts)  # tool results must follow their calls: after them
            else:  # mid-conversation: a user turn (see the module docstring)
                out.append(Message(role="user", content=parts))
        else:
            raise _bad(f"{param}.role", "must be 'user', 'assistant' or 'system'")
    if pending:
        out.append(Message(role="user", content=tuple(pending)))
    return out
