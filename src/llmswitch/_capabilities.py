"""What a model can do (:class:`Capabilities`), merged from what llmswitch knows
without asking (the provider kind, the bundled catalog, the provider's own declaration)
and what the provider reported when its models were listed; and the check that fails a
call using a capability the model is known to lack, before anything is sent.

Unknown is ``None``, never ``False``, and only ``False`` blocks a call: a model
llmswitch knows nothing about can be called with anything, and the provider decides.

Sources, later ones winning where they know something:

1. the provider kind: built-in chat providers stream, and anything that chats can do
   code completion (chat-based fill-in-the-middle when there is no native one);
   Anthropic and Vertex have no embeddings;
2. the catalog (:func:`llmswitch.catalog.lookup`): context window, output limit,
   tools, vision, reasoning, embeddings;
3. live discovery: the :class:`~llmswitch.ModelInfo` of ``list_models`` for that
   model (Ollama, Gemini, Bedrock and Anthropic report capabilities or limits);
4. the provider itself, when it has ``capabilities(model)`` (plugins, custom providers):
   a :class:`Capabilities` or a dict of its fields.

A model group is the meet of its deployments: a capability is ``True`` when every
deployment has it, ``False`` when none has it, else ``None`` (it depends on the
deployment the router picks), so only a call no deployment could serve is refused;
limits are the smallest of the deployments', when all of them are known.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import CapabilityError, ConfigurationError
from .messages import ChatRequest, ImagePart, ModelInfo

__all__ = ["FLAGS", "Capabilities", "blockers", "check_request", "combine", "merge", "model_caps"]

FLAGS = ("chat", "streaming", "code_completion", "embeddings", "tools", "vision", "reasoning")
_LIMITS = ("context_window", "max_output_tokens")
# The features a chat request can use, and what makes a request use them.
# Vertex embeds through its own ``:predict`` body, which llmswitch does not send.
_NO_EMBEDDINGS_KINDS = frozenset({"anthropic", "vertex"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What a model can do: ``True`` it can, ``False`` it cannot, ``None`` unknown.
    ``context_window`` and ``max_output_tokens`` in tokens (``None``: unknown)."""

    chat: bool | None = None
    streaming: bool | None = None
    code_completion: bool | None = None
    embeddings: bool | None = None
    tools: bool | None = None
    vision: bool | None = None
    reasoning: bool | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None


_FIELDS = frozenset(f.name for f in dataclasses.fields(Capabilities))


def _from_declared(raw: Any, pid: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, Capabilities):
        return {k: v for k in _FIELDS if (v := getattr(raw, k)) is not None}
    if isinstance(raw, Mapping):
        unknown = set(raw) - _FIELDS
        if unknown:
            raise ConfigurationError(
                f"provider {pid!r} declares unknown capability {sorted(unknown)[0]!r} "
                f"(known: {', '.join(sorted(_FIELDS))})",
                provider=pid,
            )
        return {k: v for k, v in raw.items() if v is not None}
    raise ConfigurationError(
        f"provider {pid!r}: capabilities(model) must return a Capabilities, a dict or None",
        provider=pid,
    )


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """The known values of ``layers``, later ones winning."""
    out: dict[str, Any] = {}
    for layer in layers:
        out.update((k, v) for k, v in layer.items() if v is not None)
    return out


def model_caps(
    provider: Any,
    kind: str | None,
    name: str,
    discovered: ModelInfo | None,
) -> Capabilities:
    """The capabilities of model ``name`` on ``provider`` (built-in kind ``kind``, or
    ``None`` for a provider object or plugin), from every source llmswitch has without
    a network call (``discovered``: what ``list_models`` said about it, if listed)."""
    from .catalog import lookup

    spec = lookup(provider.id, name)  # by id: a stand-in for "openai" serves its models
    catalog: dict[str, Any] = {}
    if spec is not None:
        catalog = {
            "context_window": spec.context_window,
            "max_output_tokens": spec.max_output_tokens,
            "tools": spec.supports_tools,
            "vision": spec.supports_vision,
            "reasoning": spec.supports_reasoning,
            "chat": spec.supports_chat,
            "embeddings": spec.supports_embeddings,
            "streaming": spec.supports_streaming,
            "code_completion": spec.supports_code_completion,
        }
    live: dict[str, Any] = {}
    if discovered is not None:
        live = {
            "context_window": discovered.context_window,
            "max_output_tokens": discovered.max_output_tokens,
            "tools": discovered.supports_tools,
            "vision": discovered.supports_vision,
            "reasoning": discovered.supports_reasoning,
            "embeddings": discovered.supports_embeddings,
        }
    declare = getattr(provider, "capabilities", None)
    declared = _from_declared(declare(name), provider.id) if callable(declare) else {}
    known = merge(catalog, live, declared)
    derived: dict[str, Any] = {}
    if kind in _NO_EMBEDDINGS_KINDS:
        derived["embeddings"] = False
    chat = known.get("chat")
    if chat is None:
        chat_sign = any(known.get(k) for k in ("tools", "vision", "reasoning"))
        if chat_sign:
            chat = True
        elif known.get("embeddings") is True:
            chat = False  # an embedding model: nothing says it chats
    if chat is not None:
        derived["chat"] = chat
        if kind is not None:  # every built-in chat provider streams
            derived["streaming"] = chat
        derived["code_completion"] = chat  # chat-based fill-in-the-middle at least
    return Capabilities(**merge(derived, known))


def combine(each: Sequence[Capabilities]) -> Capabilities:
    """A model group's capabilities from its deployments' (see the module docstring)."""
    out: dict[str, Any] = {}
    for name in FLAGS:
        values = {getattr(c, name) for c in each}
        out[name] = values.pop() if len(values) == 1 else None
    for name in _LIMITS:
        limits = [getattr(c, name) for c in each]
        out[name] = min(limits) if limits and None not in limits else None  # type: ignore[type-var]
    return Capabilities(**out)


def blockers(caps: Capabilities) -> tuple[str, ...]:
    """The capabilities ``caps`` knows the model lacks (what can refuse a call)."""
    return tuple(name for name in FLAGS if getattr(caps, name) is False)


def _missing(capability: str, what: str, model: str, provider: str | None) -> CapabilityError:
    name = model.partition("/")[2] if provider and model.startswith(f"{provider}/") else model
    return CapabilityError(
        f"the model does not support {capability} ({what}); "
        f"client.capabilities({model!r}) shows what it supports",
        capability=capability,
        provider=provider,
        model=name,
    )


def _reasoning_on(request: ChatRequest) -> bool:
    r = request.reasoning
    if r is None:
        return False
    return not (r.budget_tokens == 0 or (r.effort == "none" and not r.budget_tokens))


def check_request(
    blocked: tuple[str, ...], request: ChatRequest, model: str, *, streaming: bool = False
) -> None:
    """Raise :class:`CapabilityError` when ``request`` uses a capability in ``blocked``
    (only called when ``blocked`` is not empty: the common case costs nothing)."""
    pid = request.provider
    if "chat" in blocked:
        raise _missing("chat", "it is not a chat model", model, pid)
    if streaming and "streaming" in blocked:
        raise _missing("streaming", "use chat() instead of stream()", model, pid)
    if "tools" in blocked and request.tools:
        raise _missing("tools", "the request passes tools=", model, pid)
    if "reasoning" in blocked and _reasoning_on(request):
        raise _missing("reasoning", "the request passes reasoning=", model, pid)
    if "vision" in blocked:
        for i, m in enumerate(request.messages):
            if isinstance(m.content, tuple) and any(isinstance(p, ImagePart) for p in m.content):
                raise _missing("vision", f"messages[{i}] holds an image", model, pid)


def check_embed(blocked: tuple[str, ...], model: str, provider: str) -> None:
    if "embeddings" in blocked:
        raise _missing("embeddings", "it is not an embedding model", model, provider)


def check_code(
    blocked: tuple[str, ...], model: str, provider: str | None, *, streaming: bool = False
) -> None:
    """Refuse ``complete_code``/``stream_code`` on a model known to lack code completion
    (a model that does not chat has no chat-based fill-in-the-middle either), before
    the chat checks would name ``chat`` instead of what the caller asked for."""
    if "code_completion" in blocked or "chat" in blocked:
        what = "it is not a chat model" if "chat" in blocked else "its capabilities say so"
        raise _missing("code_completion", what, model, provider)
    if streaming and "streaming" in blocked:
        raise _missing("streaming", "use complete_code() instead of stream_code()", model, provider)
