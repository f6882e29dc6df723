"""Core value types: messages and parts, tools, requests, responses and usage.

All are frozen, slotted, keyword-only dataclasses. OpenAI-style dicts are
accepted wherever a message or tool is; :func:`to_messages` and :func:`to_tools`
turn them into these types and reject bad input with a :class:`ConfigurationError`
that names the offending field (``messages[2].tool_call_id``) before any network call.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ._frozen import fast_init, positional_maker
from .errors import ConfigurationError, LLMError

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "EmbedRequest",
    "EmbeddingResponse",
    "FinishReason",
    "HealthStatus",
    "ImagePart",
    "Message",
    "ModelInfo",
    "Part",
    "PromptRef",
    "ReasoningBlock",
    "ReasoningConfig",
    "ResponseFormat",
    "Role",
    "Seam",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "Usage",
]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
FinishReason: TypeAlias = Literal[
    "stop", "length", "tool_calls", "content_filter", "error", "other"
]
_ROLES = ("system", "user", "assistant", "tool")
_ROLE_ALIASES = {"developer": "system"}


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TextPart:
    text: str
    cache_control: Mapping[str, Any] | None = None
    type: Literal["text"] = "text"


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ImagePart:
    """An image by ``http(s)`` URL or ``data:<mime>;base64,<data>`` URL."""

    url: str
    detail: str | None = None
    cache_control: Mapping[str, Any] | None = None
    type: Literal["image_url"] = "image_url"

    @property
    def is_data_url(self) -> bool:
        return self.url.startswith("data:")

    @property
    def media_type(self) -> str | None:
        """MIME type of a data URL (``image/png``), else ``None``."""
        if not self.is_data_url:
            return None
        return self.url[5 : self.url.index(";")]

    @property
    def data(self) -> str | None:
        """The base64 payload of a data URL, else ``None``."""
        if not self.is_data_url:
            return None
        return self.url[self.url.index(",") + 1 :]


Part: TypeAlias = TextPart | ImagePart


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A call the model asked for. ``arguments`` is the parsed JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]
    # Provider data that must be echoed back unchanged (Gemini thought signatures).
    signature: str | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningBlock:
    """One thinking block. Signed/redacted blocks must go back unmodified in later turns."""

    text: str = ""
    signature: str | None = None
    redacted_data: str | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    role: Role
    content: str | tuple[Part, ...] | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: tuple[ReasoningBlock, ...] = ()
    cache_control: Mapping[str, Any] | None = None

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    def to_dict(self) -> dict[str, Any]:
        """OpenAI-style dict form (what :func:`to_messages` accepts back)."""
        out: dict[str, Any] = {"role": self.role}
        if isinstance(self.content, tuple):
            out["content"] = [_part_to_dict(p) for p in self.content]
        else:
            out["content"] = self.content
        if self.tool_calls:
            out["tool_calls"] = [_tool_call_to_dict(c) for c in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        if self.reasoning:
            out["thinking_blocks"] = [_reasoning_to_dict(b) for b in self.reasoning]
        return out


_make_message = positional_maker(Message)


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Tool:
    name: str
    description: str | None = None
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    strict: bool | None = None
    cache_control: Mapping[str, Any] | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ToolChoice:
    """``mode`` is auto/none/required, or ``tool`` with ``name`` set (force that tool)."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"]
    schema: Mapping[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None
    # The schema was generated from a Python type (``response_format=Model``): each
    # adapter rewrites it into its provider's dialect (providers/_schema.py). A schema
    # given as a dict is sent as given.
    from_type: bool = False


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningConfig:
    """Reasoning effort (``low``/``medium``/``high``/...) and/or a thinking token budget."""

    effort: str | None = None
    budget_tokens: int | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token counts. ``input_tokens`` includes cached tokens; ``output_tokens`` includes
    reasoning. ``None`` means the provider did not say (not zero)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    # The part of cache_write_tokens written with a 1-hour TTL (Anthropic prices it apart);
    # the rest is 5-minute writes. None: the provider did not split.
    cache_write_1h_tokens: int | None = None
    # The cost the provider itself reported for the call (OpenRouter-style ``usage.cost``),
    # in nano-USD; the catalog's cost_nano returns it instead of its own price.
    reported_cost_nano: int | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    """A validated, provider-neutral request. ``model`` is the provider's model id."""

    provider: str
    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    response_format: ResponseFormat | None = None
    reasoning: ReasoningConfig | None = None
    user: str | None = None
    metadata: Mapping[str, Any] | None = None
    extra_body: Mapping[str, Any] | None = None
    extra_headers: Mapping[str, str] | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Seam:
    """Where a stream resumed with ``stream(..., resume=True)`` was joined: the attempt
    before it broke with ``error`` after ``offset`` characters of ``ChatResponse.text``
    and attempt number ``attempt`` (2 for the first resumption) carried on from there,
    after waiting ``delay`` seconds. ``how``: ``"prefill"`` (the text so far sent as the
    start of the assistant's answer, which the model continues), ``"continuation"`` (the
    text so far as an assistant turn and a user turn asking to continue it) or
    ``"restart"`` (no text had arrived: the request sent again). ``trimmed``: the start
    of the continuation that repeated the end of the text so far, cut. ``abandoned``:
    the indexes of tool calls the break cut off mid-arguments (they have a
    ``ToolCallStart`` and no ``ToolCallEnd``, and are not in ``tool_calls``)."""

    offset: int
    attempt: int
    error: LLMError = field(compare=False)
    how: Literal["prefill", "continuation", "restart"]
    delay: float = 0.0
    trimmed: str = ""
    abandoned: tuple[int, ...] = ()


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ChatResponse:
    id: str | None
    model: str
    provider: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str | None = None
    reasoning_blocks: tuple[ReasoningBlock, ...] = ()
    refusal: str | None = None
    finish_reason: FinishReason = "stop"
    raw_finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    raw: Any = field(default=None, compare=False, repr=False)
    # With ``prompt=``: the stored prompt's name, version and variant (llmswitch.prompts).
    prompt: PromptRef | None = None
    # Its usage-ledger rows' request_id, what client.feedback() takes (None: none kept).
    request_id: str | None = field(default=None, compare=False)
    # With ``response_format``: the answer decoded or validated (llmswitch._structured).
    parsed: Any = field(default=None, compare=False, repr=False)
    # A stream with ``resume=True`` that broke and was continued: one Seam per join.
    resumed: tuple[Seam, ...] = ()
    # A response-cache hit (llmswitch.cache): True, the entry's age in seconds, cost 0.0;
    # a semantic hit (cache.semantic) adds the similarity of the question it matched.
    cached: bool = field(default=False, compare=False)
    cache_age: float | None = field(default=None, compare=False, repr=False)
    cache_similarity: float | None = field(default=None, compare=False, repr=False)

    @property
    def message(self) -> Message:
        """The assistant turn to append to the history (keeps signed thinking blocks)."""
        return Message(
            role="assistant",
            content=self.text or None,
            tool_calls=self.tool_calls,
            reasoning=self.reasoning_blocks,
        )


@dataclass(frozen=True, slots=True)
class PromptRef:
    """Which stored prompt a call used: ``name``, ``version`` (the immutable version
    the label or ``latest`` resolved to) and ``variant`` (the experiment arm, as
    ``"<experiment>:<variant>"``, or ``None`` outside an experiment)."""

    name: str
    version: int
    variant: str | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class EmbedRequest:
    """A validated embeddings request. ``input_type`` is a retrieval hint
    (``"query"``/``"document"``...) for providers that take one (Gemini, Cohere)."""

    provider: str
    model: str
    inputs: tuple[str, ...]
    dimensions: int | None = None
    input_type: str | None = None
    user: str | None = None
    extra_body: Mapping[str, Any] | None = None
    extra_headers: Mapping[str, str] | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddingResponse:
    """One vector per input, in input order."""

    vectors: list[list[float]]
    usage: Usage
    model: str
    provider: str = ""
    raw: Any = field(default=None, compare=False, repr=False)


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class HealthStatus:
    """Result of a live probe: reachable and authorised (``ok``), round-trip time, and
    the server's version where it reports one."""

    provider: str
    ok: bool
    latency_ms: float | None = None
    version: str | None = None
    error: str | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    id: str
    provider: str
    display_name: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool | None = None
    supports_vision: bool | None = None
    supports_reasoning: bool | None = None
    supports_embeddings: bool | None = None
    created: int | None = None
    raw: Any = field(default=None, compare=False, repr=False)


# --------------------------------------------------------------------------- input


def _dumps(obj: Any) -> str:
    from ._json import dumps_str

    return dumps_str(obj)


def _tool_call_to_dict(c: ToolCall) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id,
        "type": "function",
        "function": {"name": c.name, "arguments": _dumps(c.arguments)},
    }
    if c.signature is not None:
        out["signature"] = c.signature  # read back by _to_tool_call; Gemini needs it
    return out


def _part_to_dict(p: Part) -> dict[str, Any]:
    if isinstance(p, TextPart):
        return {"type": "text", "text": p.text}
    image: dict[str, Any] = {"url": p.url}
    if p.detail:
        image["detail"] = p.detail
    return {"type": "image_url", "image_url": image}


def _reasoning_to_dict(b: ReasoningBlock) -> dict[str, Any]:
    if b.redacted_data is not None:
        return {"type": "redacted_thinking", "data": b.redacted_data}
    out: dict[str, Any] = {"type": "thinking", "thinking": b.text}
    if b.signature is not None:
        out["signature"] = b.signature
    return out


def _bad(where: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"{where}: {problem}", field=where)


def _check_image_url(url: Any, where: str) -> str:
    if not isinstance(url, str) or not url:
        raise _bad(where, "image URL must be a non-empty string")
    if url.startswith(("http://", "https://")):
        if len(url) < 10 or " " in url:
            raise _bad(where, f"malformed image URL {url[:60]!r}")
        return url
    if url.startswith("data:"):
        head, sep, payload = url.partition(",")
        if not sep or not head.endswith(";base64") or "/" not in head:
            raise _bad(where, "data URL must look like data:<mime>/<type>;base64,<data>")
        try:
            # Validate a prefix only: full decoding of a large image costs time for nothing.
            sample = payload[:4096]
            base64.b64decode(sample[: len(sample) - len(sample) % 4], validate=True)
        except (binascii.Error, ValueError):
            raise _bad(where, "data URL payload is not valid base64") from None
        if not payload:
            raise _bad(where, "data URL has an empty payload")
        return url
    raise _bad(where, f"image URL must be http(s):// or data:, got {url[:40]!r}")


def _to_part(raw: Any, where: str) -> Part:
    if isinstance(raw, TextPart):
        return raw
    if isinstance(raw, ImagePart):  # typed parts get the URL check dict parts get
        _check_image_url(raw.url, f"{where}.image_url.url")
        return raw
    if isinstance(raw, str):
        return TextPart(text=raw)
    if not isinstance(raw, Mapping):
        raise _bad(where, f"content part must be a dict, got {type(raw).__name__}")
    kind = raw.get("type")
    cache = raw.get("cache_control")
    if kind == "text":
        text = raw.get("text")
        if not isinstance(text, str):
            raise _bad(f"{where}.text", "must be a string")
        return TextPart(text=text, cache_control=cache)
    if kind == "image_url":
        image = raw.get("image_url")
        url: Any
        detail: Any
        if isinstance(image, str):
            url, detail = image, None
        elif isinstance(image, Mapping):
            url, detail = image.get("url"), image.get("detail")
        else:
            raise _bad(f"{where}.image_url", "must be {'url': ...} or a URL string")
        return ImagePart(
            url=_check_image_url(url, f"{where}.image_url.url"), detail=detail, cache_control=cache
        )
    raise _bad(f"{where}.type", f"unknown content part type {kind!r} (expected text or image_url)")


def _to_arguments(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        from ._json import loads

        try:
            value = loads(raw)
        except ValueError:
            raise _bad(where, "tool call arguments are not valid JSON") from None
        if isinstance(value, dict):
            return value
    raise _bad(where, "tool call arguments must be a JSON object")


def _to_tool_call(raw: Any, where: str) -> ToolCall:
    if isinstance(raw, ToolCall):
        return raw
    if not isinstance(raw, Mapping):
        raise _bad(where, "tool call must be a dict")
    fn = raw.get("function", raw)
    if not isinstance(fn, Mapping):
        raise _bad(f"{where}.function", "must be a dict")
    call_id, name = raw.get("id"), fn.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise _bad(f"{where}.id", "tool call needs a non-empty string id")
    if not isinstance(name, str) or not name:
        raise _bad(f"{where}.function.name", "tool call needs a name")
    return ToolCall(
        id=call_id,
        name=name,
        arguments=_to_arguments(fn.get("arguments"), f"{where}.function.arguments"),
        signature=raw.get("signature"),
    )


def _to_reasoning(raw: Any, where: str) -> ReasoningBlock:
    if isinstance(raw, ReasoningBlock):
        return raw
    if not isinstance(raw, Mapping):
        raise _bad(where, "thinking block must be a dict")
    if raw.get("type") == "redacted_thinking":
        return ReasoningBlock(redacted_data=raw.get("data"))
    return ReasoningBlock(text=raw.get("thinking") or "", signature=raw.get("signature"))


_MESSAGE_KEYS = frozenset(
    {"role", "content", "tool_calls", "tool_call_id", "name", "thinking_blocks",
     "cache_control", "refusal"}
)  # fmt: skip


_PLAIN_ROLES = frozenset(("system", "user", "assistant"))


def _to_message(raw: Any, where: str) -> Message:
    if isinstance(raw, Message):
        return _check_typed(raw, where)
    if not isinstance(raw, Mapping):
        raise _bad(where, f"message must be a dict or Message, got {type(raw).__name__}")
    role = raw.get("role")
    role = _ROLE_ALIASES.get(role, role) if isinstance(role, str) else role
    if role not in _ROLES:
        raise _bad(f"{where}.role", f"unknown role {role!r} (expected one of {', '.join(_ROLES)})")
    unknown = set(raw) - _MESSAGE_KEYS
    if unknown:
        raise _bad(f"{where}.{sorted(unknown)[0]}", "unknown message field")
    content = raw.get("content")
    parts: str | tuple[Part, ...] | None
    if content is None or isinstance(content, str):
        parts = content
    elif isinstance(content, list | tuple):
        parts = tuple(_to_part(p, f"{where}.content[{i}]") for i, p in enumerate(content))
    else:
        raise _bad(f"{where}.content", "must be a string, a list of parts, or null")
    tool_calls = raw.get("tool_calls") or ()
    if tool_calls and role != "assistant":
        raise _bad(f"{where}.tool_calls", "only assistant messages carry tool_calls")
    calls = tuple(_to_tool_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(tool_calls))
    tool_call_id = raw.get("tool_call_id")
    if role == "tool" and (not isinstance(tool_call_id, str) or not tool_call_id):
        raise _bad(f"{where}.tool_call_id", "a tool result (role 'tool') needs tool_call_id")
    if role != "assistant" and parts is None:
        raise _bad(f"{where}.content", f"a {role} message needs content")
    blocks = raw.get("thinking_blocks") or ()
    return Message(
        role=role,  # type: ignore[arg-type]  # checked against _ROLES above
        content=parts,
        tool_calls=calls,
        tool_call_id=tool_call_id,
        name=raw.get("name"),
        reasoning=tuple(
            _to_reasoning(b, f"{where}.thinking_blocks[{i}]") for i, b in enumerate(blocks)
        ),
        cache_control=raw.get("cache_control"),
    )


def _check_typed(m: Message, where: str) -> Message:
    """A caller-built Message gets the checks a dict gets; parts given as dicts or a
    list are converted (so a bare image URL string works here too)."""
    if m.role not in _ROLES:
        expected = ", ".join(_ROLES)
        raise _bad(f"{where}.role", f"unknown role {m.role!r} (expected one of {expected})")
    content: Any = m.content
    if content is not None and not isinstance(content, str):
        if not isinstance(content, list | tuple):
            raise _bad(f"{where}.content", "must be a string, a list of parts, or null")
        parts = tuple(_to_part(p, f"{where}.content[{j}]") for j, p in enumerate(content))
        if parts != content:  # a list, or dicts among the parts
            m = dataclasses.replace(m, content=parts)
    if m.tool_calls:
        if m.role != "assistant":
            raise _bad(f"{where}.tool_calls", "only assistant messages carry tool_calls")
        calls = tuple(
            _to_tool_call(c, f"{where}.tool_calls[{j}]") for j, c in enumerate(m.tool_calls)
        )
        if calls != m.tool_calls:
            m = dataclasses.replace(m, tool_calls=calls)
    if m.role == "tool" and (not isinstance(m.tool_call_id, str) or not m.tool_call_id):
        raise _bad(f"{where}.tool_call_id", "a tool result (role 'tool') needs tool_call_id")
    return m


def _has_content(content: str | tuple[Part, ...] | None) -> bool:
    """Anything an adapter would send: an image, or text that is not empty."""
    if content is None or type(content) is str:
        return bool(content)
    return any(type(p) is not TextPart or p.text for p in content)


def _check_history(messages: tuple[Message, ...]) -> None:
    """The rules that span messages, the same for every provider (README "Message
    rules"): adapters would otherwise drop an empty turn, hoist a late system message or
    send a tool result for a call that never happened. One pass, no allocation for a
    history without tool calls."""
    conversation = False  # a non-system message came before
    results: dict[str, int] = {}  # tool call id -> index of its result, -1 while none
    for i, m in enumerate(messages):
        role = m.role
        if role == "system":
            if conversation:
                raise _bad(
                    f"messages[{i}].role",
                    "a system message must come before the conversation (or use system=)",
                )
            continue
        conversation = True
        if role == "tool":
            call_id = m.tool_call_id or ""
            seen = results.get(call_id)
            if seen is None:
                raise _bad(
                    f"messages[{i}].tool_call_id",
                    f"no earlier assistant message has a tool call with id {call_id!r}",
                )
            if seen >= 0:
                raise _bad(
                    f"messages[{i}].tool_call_id",
                    f"tool call {call_id!r} already has a result (messages[{seen}])",
                )
            results[call_id] = i
        elif m.tool_calls:  # an assistant turn with calls needs no text
            for call in m.tool_calls:
                results[call.id] = -1  # a later turn may reuse an id: its result is new
        elif not (m.content if type(m.content) is str else _has_content(m.content)):
            if role == "user":
                raise _bad(f"messages[{i}].content", "a user message needs content")
            raise _bad(f"messages[{i}].content", "an assistant message needs content or tool_calls")


def to_messages(messages: Any) -> tuple[Message, ...]:
    """Validate and convert OpenAI-style dicts (or Message objects) to Messages."""
    if type(messages) is list and messages:  # the common case, without ABC checks
        converted: list[Message] = []
        make = _make_message  # a plain turn's Message (llmswitch._frozen.positional_maker)
        # Plain turns within _check_history's rules (no empty text, no late system) skip it.
        plain, talk = True, False
        for m in messages:
            if type(m) is dict and len(m) == 2 and "role" in m and "content" in m:
                role, content = m["role"], m["content"]  # {"role": ..., "content": "text"}
                if role in _PLAIN_ROLES and type(content) is str:
                    # every field, in Message's order
                    converted.append(make(role, content, (), None, None, (), None))
                    if role == "system":
                        plain = plain and not talk
                    else:
                        talk = True
                        plain = plain and content != ""
                    continue
            break  # another kind of turn: all of them the general way, below
        else:
            out = tuple(converted)
            if plain:
                return out
            _check_history(out)
            return out
    elif type(messages) is not tuple and (  # the gateway's tuple: no ABC checks
        isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Iterable)
    ):
        raise _bad("messages", "must be a list of messages")
    out = tuple(_to_message(m, f"messages[{i}]") for i, m in enumerate(messages))
    if not out:
        raise _bad("messages", "at least one message is required")
    _check_history(out)
    return out


def _to_tool(raw: Any, where: str) -> Tool:
    if isinstance(raw, Tool):
        params: Any = raw.parameters
        name: Any = raw.name
    else:
        if not isinstance(raw, Mapping):
            raise _bad(where, "tool must be a dict or Tool")
        if raw.get("type", "function") != "function":
            raise _bad(f"{where}.type", f"unsupported tool type {raw.get('type')!r}")
        fn = raw["function"] if isinstance(raw.get("function"), Mapping) else raw
        name = fn.get("name")
        params = fn.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(name, str) or not name:
        raise _bad(f"{where}.name", "tool needs a non-empty name")
    if not isinstance(params, Mapping) or params.get("type") != "object":
        raise _bad(f"{where}.parameters", 'must be a JSON-schema object ({"type": "object", ...})')
    if isinstance(raw, Tool):
        return raw
    return Tool(
        name=name,
        description=fn.get("description"),
        parameters=params,
        strict=fn.get("strict"),
        cache_control=raw.get("cache_control"),
    )


def to_tools(tools: Any) -> tuple[Tool, ...]:
    if tools is None:
        return ()
    if isinstance(tools, str | bytes | Mapping) or not isinstance(tools, Iterable):
        raise _bad("tools", "must be a list of tools")
    out = tuple(_to_tool(t, f"tools[{i}]") for i, t in enumerate(tools))
    names = [t.name for t in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise _bad("tools", f"duplicate tool name {dup!r}")
    return out


def to_tool_choice(raw: Any, tools: Sequence[Tool]) -> ToolChoice | None:
    if raw is None or isinstance(raw, ToolChoice):
        choice = raw
    elif raw in ("auto", "none", "required"):
        choice = ToolChoice(mode=raw)
    elif raw == "any":
        choice = ToolChoice(mode="required")
    elif isinstance(raw, Mapping):
        fn = raw.get("function") if isinstance(raw.get("function"), Mapping) else raw
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if not isinstance(name, str):
            raise _bad("tool_choice", "must be auto/none/required or {'function': {'name': ...}}")
        choice = ToolChoice(mode="tool", name=name)
    else:
        raise _bad("tool_choice", f"unknown value {raw!r}")
    if choice is not None and choice.mode in ("required", "tool") and not tools:
        raise _bad("tool_choice", f"{choice.mode!r} needs tools")
    if choice is not None and choice.mode == "tool" and choice.name not in {t.name for t in tools}:
        raise _bad("tool_choice", f"names tool {choice.name!r} which is not in tools")
    return choice


def to_response_format(raw: Any) -> ResponseFormat | None:
    if raw is None or isinstance(raw, ResponseFormat):
        return raw
    if raw in ("json", "json_object"):
        return ResponseFormat(type="json_object")
    if raw == "text":
        return ResponseFormat(type="text")
    if isinstance(raw, type) and hasattr(raw, "model_json_schema"):  # a pydantic model class
        return ResponseFormat(type="json_schema", schema=raw.model_json_schema(), name=raw.__name__)
    if isinstance(raw, Mapping):
        kind = raw.get("type")
        if kind in ("text", "json_object"):
            return ResponseFormat(type=kind)
        if kind == "json_schema":
            spec = raw.get("json_schema", raw)
            schema = spec.get("schema") if isinstance(spec, Mapping) else None
            if not isinstance(schema, Mapping):
                raise _bad("response_format.json_schema.schema", "must be a JSON-schema object")
            return ResponseFormat(
                type="json_schema",
                schema=schema,
                name=spec.get("name") or "response",
                strict=spec.get("strict"),
            )
    raise _bad("response_format", "must be 'json', {'type': 'json_object'} or a json_schema")


_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def to_reasoning(raw: Any) -> ReasoningConfig | None:
    if raw is None or raw is False or isinstance(raw, ReasoningConfig):
        return raw or None
    if raw is True:
        return ReasoningConfig(effort="medium")
    if isinstance(raw, str):
        if raw not in _EFFORTS:
            raise _bad(
                "reasoning", f"unknown effort {raw!r} (expected one of {', '.join(_EFFORTS)})"
            )
        return ReasoningConfig(effort=raw)
    if isinstance(raw, int):
        if raw < 0:
            raise _bad("reasoning", "a thinking budget must be >= 0 tokens")
        return ReasoningConfig(budget_tokens=raw)
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"effort", "budget_tokens"}
        if unknown:
            raise _bad(f"reasoning.{sorted(unknown)[0]}", "unknown field")
        cfg = to_reasoning(raw.get("effort"))
        budget = raw.get("budget_tokens")
        if budget is not None and (not isinstance(budget, int) or budget < 0):
            raise _bad("reasoning.budget_tokens", "must be a non-negative integer")
        return ReasoningConfig(effort=cfg.effort if cfg else None, budget_tokens=budget)
    raise _bad("reasoning", "must be an effort string, a token budget, or a dict")
