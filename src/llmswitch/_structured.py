"""``response_format=`` a type: structured output validated into ``resp.parsed``.

::

    class City(pydantic.BaseModel):
        name: str
        population: int

    resp = client.chat(model, messages, response_format=City)
    resp.parsed                      # City(name='Paris', population=2102650)

A pydantic model, a dataclass or a TypedDict (anything pydantic's ``TypeAdapter`` takes
whose schema is an object) is turned into its JSON Schema once per type and sent as a
``json_schema`` response format marked ``from_type``, which each adapter rewrites into
its provider's native form (``providers/_schema.py``: OpenAI's strict mode, Anthropic's
and Bedrock's subset, Gemini's ``responseJsonSchema``; Ollama's ``format`` as is). The
answer is validated against the type with pydantic (imported only when a type is
given; without it a :class:`ConfigurationError` says to install it) and an answer that
does not fit raises :class:`StructuredOutputError` naming the field.

``resp.parsed`` then is:

- the validated instance, for a type;
- the decoded JSON, for a dict schema or JSON mode (``"json"``), or ``None`` when the
  text is not JSON: those formats keep their behaviour from before ``parsed`` existed
  (nothing raised; validating against a dict schema is the caller's);
- ``None`` when no format was asked, for ``"text"``, and when the model refused
  (``resp.refusal``) or answered with tool calls instead of text.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Mapping
from typing import Any

from .errors import ConfigurationError, StructuredOutputError
from .messages import ChatResponse, ResponseFormat, to_response_format

__all__ = ["finish", "is_target", "to_format"]


@dataclasses.dataclass(frozen=True, slots=True)
class _Target:
    """A response-format type, prepared once: its adapter and the format sent."""

    name: str
    adapter: Any  # pydantic.TypeAdapter
    format: ResponseFormat


_TARGETS: dict[Any, _Target] = {}
_TARGET_LIMIT = 1024


def is_target(raw: Any) -> bool:
    """A class that stands for a JSON object: a pydantic model, dataclass or TypedDict."""
    if not isinstance(raw, type):
        return False
    return (
        hasattr(raw, "model_validate")  # pydantic.BaseModel, without importing pydantic
        or dataclasses.is_dataclass(raw)
        or (issubclass(raw, dict) and hasattr(raw, "__required_keys__"))  # any TypedDict
    )


def _target(raw: type) -> _Target:
    found = _TARGETS.get(raw)
    if found is not None:
        return found
    name = raw.__name__
    try:
        import pydantic
    except ImportError:
        raise ConfigurationError(
            f"response_format={name} needs pydantic to build the schema and validate the "
            "answer: pip install pydantic (or pass a JSON-schema dict)",
            field="response_format",
        ) from None
    try:
        adapter: Any = pydantic.TypeAdapter(_pydantic_typeddict(raw))
        schema = adapter.json_schema()
    except pydantic.PydanticUserError as exc:  # includes schema generation errors
        raise ConfigurationError(
            f"response_format={name}: pydantic cannot build its JSON schema ({exc})",
            field="response_format",
        ) from None
    if schema.get("type") != "object":
        raise ConfigurationError(
            f"response_format={name} must describe a JSON object (a model, dataclass or TypedDict)",
            field="response_format",
        )
    fmt = ResponseFormat(type="json_schema", schema=schema, name=name, strict=True, from_type=True)
    found = _Target(name=name, adapter=adapter, format=fmt)
    if len(_TARGETS) >= _TARGET_LIMIT:  # classes built on the fly: stay bounded
        _TARGETS.clear()
    _TARGETS[raw] = found
    return found


def _pydantic_typeddict(raw: Any) -> Any:
    """``raw`` as pydantic takes it: before Python 3.12 pydantic refuses a
    ``typing.TypedDict`` (it needs ``typing_extensions.TypedDict``), so such a class is
    rebuilt as one with the same fields, the same required keys and the same name (a
    field that is itself a ``typing.TypedDict`` is rebuilt too). Anything else as is."""
    if sys.version_info >= (3, 12) or not _is_typing_typeddict(raw):
        return raw
    import typing_extensions as te

    hints = typing.get_type_hints(raw, include_extras=True)
    fields: dict[str, Any] = {}
    for key, hint in hints.items():
        # A Required[...]/NotRequired[...] marker wins: under ``from __future__ import
        # annotations`` Python 3.11 leaves it out of __required_keys__.
        marker = typing.get_origin(hint)
        if marker in (typing.Required, typing.NotRequired):
            required = marker is typing.Required
            hint = typing.get_args(hint)[0]
        else:
            required = key in raw.__required_keys__
        wrap = te.Required if required else te.NotRequired
        fields[key] = wrap[_pydantic_typeddict(hint)]
    rebuilt: Any = te.TypedDict(raw.__name__, fields)  # type: ignore[misc]
    rebuilt.__doc__ = raw.__doc__
    rebuilt.__module__ = raw.__module__
    return rebuilt


def _is_typing_typeddict(raw: Any) -> bool:
    return (
        isinstance(raw, type)
        and type(raw).__module__ == "typing"  # typing._TypedDictMeta, not typing_extensions'
        and issubclass(raw, dict)
        and hasattr(raw, "__required_keys__")
    )


def to_format(raw: Any) -> ResponseFormat | None:
    """What ``response_format=`` sends: a type's schema, else as before."""
    if isinstance(raw, type) and is_target(raw):
        return _target(raw).format
    return to_response_format(raw)


def finish(resp: ChatResponse, raw: Any) -> ChatResponse:
    """``resp`` with ``parsed`` filled in for ``response_format=raw`` (see the module
    docstring); raises :class:`StructuredOutputError` for a type the answer does not fit."""
    if resp.refusal or (not resp.text and resp.tool_calls):
        return resp  # no answer to parse: parsed stays None
    if isinstance(raw, type) and is_target(raw):
        value = _validate(_target(raw), resp)
    else:
        kind = raw.type if isinstance(raw, ResponseFormat) else _kind(raw)
        if kind == "text":
            return resp
        value = _decode(resp.text)
        if value is None:
            return resp
    return dataclasses.replace(resp, parsed=value)


def _kind(raw: Any) -> str | None:
    if isinstance(raw, Mapping):
        kind = raw.get("type")
        return kind if isinstance(kind, str) else None
    return raw if isinstance(raw, str) else None


def _decode(text: str) -> Any:
    from ._json import loads

    for candidate in (text, _unfenced(text)):
        if candidate:
            try:
                return loads(candidate)
            except ValueError:
                pass
    return None


def _unfenced(text: str) -> str:
    """The JSON inside a Markdown code fence (```json ... ```), as models without
    native structured output tend to wrap it; ``""`` when ``text`` is not fenced."""
    body = text.strip()
    if not (body.startswith("```") and body.endswith("```") and len(body) >= 6):
        return ""
    body = body[3:-3]
    newline = body.find("\n")
    if newline >= 0 and body[:newline].strip().isalpha():  # the language tag
        body = body[newline + 1 :]
    return body.strip()


def _validate(target: _Target, resp: ChatResponse) -> Any:
    import pydantic

    text = resp.text
    try:
        return target.adapter.validate_json(text)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
    unfenced = _unfenced(text)
    if unfenced:
        try:
            return target.adapter.validate_json(unfenced)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False)
    raise _error(target, resp, errors)


def _error(target: _Target, resp: ChatResponse, errors: list[Any]) -> StructuredOutputError:
    first = errors[0] if errors else {}
    loc = tuple(first.get("loc", ()))
    not_json = first.get("type") == "json_invalid"
    path = None if not_json or not loc else _path(loc)
    if not resp.text:
        what = "the answer is empty"
    elif not_json:
        what = "the answer is not JSON"
    else:
        what = f"{path or '(root)'}: {first.get('msg', 'invalid')}"
        if len(errors) > 1:
            what += f" (and {len(errors) - 1} more)"
    if resp.finish_reason == "length":
        what += "; the answer was cut short at max_tokens"
    return StructuredOutputError(
        f"the answer does not match response_format={target.name}: {what}",
        field=path,
        errors=errors,
        text=resp.text,
        response=resp,
        provider=resp.provider,
        model=resp.model,
    )


def _path(loc: tuple[Any, ...]) -> str:
    """pydantic's ``("items", 0, "price")`` as ``items[0].price``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
