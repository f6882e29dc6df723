"""A JSON Schema generated from a Python type (``response_format=Model``), rewritten into
what each provider's structured output accepts.

The schema comes from pydantic (``TypeAdapter(Model).json_schema()``): standard JSON
Schema with ``$defs``/``$ref``, ``anyOf`` for ``X | None``, ``default`` values, ``title``
everywhere and validation keywords (``minLength``, ``pattern``, ``exclusiveMinimum``...).
No provider takes all of it, and each refuses something different:

- :func:`openai_strict`: OpenAI's strict mode (also Azure and OpenAI-compatible servers)
  wants ``additionalProperties: false`` on every object, every property listed in
  ``required`` (an optional field stays nullable, so the model sends ``null``), no
  ``default: null``, and no keyword next to a ``$ref``. A port of the openai SDK's
  ``to_strict_json_schema``.
- :func:`anthropic_strict`: Anthropic's structured outputs (and Bedrock's
  ``outputConfig``, which documents the same subset) take a small set of keywords; the
  rest (bounds, patterns, lengths) would be refused, so they move into the
  ``description`` where the model can still read them, as the anthropic SDK's
  ``transform_schema`` does. Objects get ``additionalProperties: false``.
- :func:`gemini_subset`: Gemini's ``responseJsonSchema`` supports a listed subset and
  nothing beside a ``$ref``; ``const`` becomes a one-value ``enum``, ``oneOf`` becomes
  ``anyOf``, and ``propertyOrdering`` keeps the fields in declaration order (what
  google-genai adds for a pydantic schema).

Ollama takes the schema as generated. The answer is validated against the original
type by the client either way, so a constraint that only reached the description is
still enforced. Each function is pure (the input is never modified) and its result is
cached per schema object: a model class's schema is built once and reused by every call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["adapted", "anthropic_strict", "gemini_subset", "openai_strict"]

Schema = dict[str, Any]


# --------------------------------------------------------------------------- OpenAI


def openai_strict(schema: Mapping[str, Any]) -> Schema:
    """``schema`` as OpenAI's ``"strict": true`` requires it (see the module docstring)."""
    root = dict(schema)
    out: Schema = _strict(root, root)
    return out


def _strict(node: Any, root: Mapping[str, Any]) -> Any:
    if not isinstance(node, Mapping):
        return node
    out = dict(node)
    for defs_key in ("$defs", "definitions"):
        defs = out.get(defs_key)
        if isinstance(defs, Mapping):
            out[defs_key] = {k: _strict(v, root) for k, v in defs.items()}
    if out.get("type") == "object" and "additionalProperties" not in out:
        out["additionalProperties"] = False
    props = out.get("properties")
    if isinstance(props, Mapping):
        out["required"] = list(props)
        out["properties"] = {k: _strict(v, root) for k, v in props.items()}
    items = out.get("items")
    if isinstance(items, Mapping):
        out["items"] = _strict(items, root)
    if isinstance(out.get("anyOf"), list):
        out["anyOf"] = [_strict(v, root) for v in out["anyOf"]]
    all_of = out.get("allOf")
    if isinstance(all_of, list):
        if len(all_of) == 1:
            out.pop("allOf")
            out.update(_strict(all_of[0], root))
        else:
            out["allOf"] = [_strict(v, root) for v in all_of]
    if "default" in out and out["default"] is None:
        del out["default"]  # still nullable: the model sends null
    ref = out.get("$ref")
    if isinstance(ref, str) and len(out) > 1:
        # A $ref with siblings (e.g. a description) is not allowed: inline the target,
        # the siblings taking priority, and make the result strict too.
        merged = {**_resolve(root, ref), **out}
        del merged["$ref"]
        return _strict(merged, root)
    return out


def _resolve(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"unsupported $ref {ref!r} (only local '#/...' references)")
    node: Any = root
    for key in ref[2:].split("/"):
        node = node[key]
    if not isinstance(node, Mapping):
        raise ValueError(f"$ref {ref!r} does not point at a schema object")
    return node


# --------------------------------------------------------------------------- Anthropic

_STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})


def anthropic_strict(schema: Mapping[str, Any]) -> Schema:
    """``schema`` in Anthropic's structured-output subset (see the module docstring)."""
    out: Schema = {}
    rest = dict(schema)
    defs = rest.pop("$defs", None)
    if isinstance(defs, Mapping):  # before the $ref return: a root $ref keeps its $defs
        out["$defs"] = {k: anthropic_strict(v) for k, v in defs.items()}
    ref = rest.pop("$ref", None)
    if ref is not None:
        out["$ref"] = ref  # siblings of a $ref are dropped (the target carries its own)
        return out
    kind = rest.pop("type", None)
    any_of, one_of, all_of = (
        rest.pop("anyOf", None),
        rest.pop("oneOf", None),
        rest.pop("allOf", None),
    )
    enum = rest.get("enum")
    if isinstance(enum, list) and enum and all(_primitive(v) for v in enum):
        out["enum"] = list(rest.pop("enum"))
    if "const" in rest and _primitive(rest["const"]):
        out["const"] = rest.pop("const")
    literal = "enum" in out or "const" in out
    if literal:
        kind = None
    if isinstance(any_of, list):
        out["anyOf"] = [anthropic_strict(v) for v in any_of]
    elif isinstance(one_of, list):
        out["anyOf"] = [anthropic_strict(v) for v in one_of]
    elif isinstance(all_of, list):
        out["allOf"] = [anthropic_strict(v) for v in all_of]
    elif not literal:
        if kind not in _TYPES:
            raise ValueError(
                "every schema needs a 'type', 'anyOf', 'oneOf', 'allOf', 'const' or 'enum'"
            )
        out["type"] = kind
    for key in ("description", "title"):
        if key in rest:
            out[key] = rest.pop(key)
    if kind == "object":
        props = rest.pop("properties", {})
        out["properties"] = {k: anthropic_strict(v) for k, v in props.items()}
        rest.pop("additionalProperties", None)
        out["additionalProperties"] = False
        if "required" in rest:
            out["required"] = list(rest.pop("required"))
    elif kind == "string":
        fmt = rest.pop("format", None)
        if fmt in _STRING_FORMATS:
            out["format"] = fmt
        elif fmt:
            rest["format"] = fmt  # unsupported: into the description below
    elif kind == "array":
        items = rest.pop("items", None)
        if isinstance(items, Mapping):
            out["items"] = anthropic_strict(items)
        if rest.get("minItems") in (0, 1):
            out["minItems"] = rest.pop("minItems")
    if "default" in rest and rest["default"] is None:
        del rest["default"]  # nullable already: nothing for the model to read
    if rest:  # what the API would refuse, kept where the model can read it
        note = "{" + ", ".join(f"{k}: {v}" for k, v in rest.items()) + "}"
        described = out.get("description")
        out["description"] = f"{described}\n\n{note}" if described is not None else note
    return out


def _primitive(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


# --------------------------------------------------------------------------- Gemini

# What responseJsonSchema supports (google-genai's GenerationConfig.response_json_schema).
_GEMINI_KEYS = frozenset(
    {
        "$id", "$defs", "$ref", "$anchor", "type", "format", "title", "description", "enum",
        "items", "prefixItems", "minItems", "maxItems", "minimum", "maximum", "anyOf",
        "properties", "additionalProperties", "required", "propertyOrdering",
    }
)  # fmt: skip


def gemini_subset(schema: Mapping[str, Any]) -> Schema:
    """``schema`` in Gemini's ``responseJsonSchema`` subset (see the module docstring)."""
    rest = dict(schema)
    if "$ref" in rest:  # nothing but $-keywords beside a $ref
        return {
            k: (_gemini_defs(v) if k == "$defs" else v) for k, v in rest.items() if k[:1] == "$"
        }
    if "const" in rest:
        rest["enum"] = [rest.pop("const")]
    if "oneOf" in rest and "anyOf" not in rest:
        rest["anyOf"] = rest.pop("oneOf")
    all_of = rest.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
        del rest["allOf"]
        rest = {**all_of[0], **rest}
        return gemini_subset(rest)
    out: Schema = {}
    dropped: dict[str, Any] = {}
    for key, value in rest.items():
        if key not in _GEMINI_KEYS:
            if not (key == "default" and value is None):
                dropped[key] = value
        elif key == "$defs":
            out[key] = _gemini_defs(value)
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {k: gemini_subset(v) for k, v in value.items()}
            if len(value) > 1 and "propertyOrdering" not in rest:
                out["propertyOrdering"] = list(value)
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = gemini_subset(value)
        elif key in ("anyOf", "prefixItems") and isinstance(value, list):
            out[key] = [gemini_subset(v) for v in value]
        else:
            out[key] = value
    if dropped:
        note = "{" + ", ".join(f"{k}: {v}" for k, v in dropped.items()) + "}"
        described = out.get("description")
        out["description"] = f"{described}\n\n{note}" if described is not None else note
    return out


def _gemini_defs(defs: Any) -> Any:
    return {k: gemini_subset(v) for k, v in defs.items()} if isinstance(defs, Mapping) else defs


# --------------------------------------------------------------------------- cache

_CACHE: dict[tuple[str, int], tuple[Mapping[str, Any], Schema]] = {}
_CACHE_LIMIT = 512


def adapted(transform: Callable[[Mapping[str, Any]], Schema], schema: Mapping[str, Any]) -> Schema:
    """``transform(schema)``, computed once per schema object (a response-format type's
    schema is one object for the life of the process). Treat the result as read-only."""
    key = (transform.__name__, id(schema))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is schema:
        return hit[1]
    out = transform(schema)
    if len(_CACHE) >= _CACHE_LIMIT:  # schemas built on the fly: stay bounded
        _CACHE.clear()
    _CACHE[key] = (schema, out)  # holding ``schema`` keeps its id from being reused
    return out
