"""The JSON Schema (draft 2020-12) of ``llmswitch.toml``, generated from the one
description of the file in :mod:`._spec` that the validator reads its keys from.

What it states: every section and key, their types, enumerations and bounds (the
description's, which the validator checks and a test holds to the settings
dataclasses), which keys are required, and that no other key is allowed. What only the
validator checks: rules across keys (a kind's own keys, an alias's target, ``api_key``
or ``keys``, a limit's requests or tokens) and URL shapes.
"""

from __future__ import annotations

from typing import Any

from . import _spec

__all__ = ["SCHEMA_ID", "json_schema"]

SCHEMA_ID = "urn:llmswitch:config:llmswitch.toml"  # a name, not a place to fetch it from
_DRAFT = "https://json-schema.org/draft/2020-12/schema"
# A string read through ${VAR} may be a reference instead of one of its allowed values.
_REFERENCE = {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"}


def json_schema() -> dict[str, Any]:
    """The schema of the whole file: the settings, and ``[env.NAME]`` overlays of the
    same settings (``$defs/settings``)."""
    root = _node(_spec.ROOT)
    return {
        "$schema": _DRAFT,
        "$id": SCHEMA_ID,
        "title": "llmswitch.toml",
        **root,
        "$defs": {"settings": _node(_spec.SETTINGS)},
    }


def _node(node: _spec.Node) -> dict[str, Any]:
    out: dict[str, Any]
    if isinstance(node, _spec.Value):
        out = _value(node)
    elif isinstance(node, _spec.Table):
        out = {
            "type": "object",
            "properties": {k: _node(v) for k, v in node.keys.items()},
            "additionalProperties": False,
        }
        if node.required:
            out["required"] = list(node.required)
    elif isinstance(node, _spec.Named):
        out = {"type": "object", "additionalProperties": _node(node.value)}
        if node.pattern is not None:
            out["propertyNames"] = {"pattern": node.pattern}
    elif isinstance(node, _spec.ArrayOf):
        out = {"type": "array", "items": _node(node.item)}
        if node.min_items:
            out["minItems"] = node.min_items
    elif isinstance(node, _spec.AnyOf):
        out = {"anyOf": [_node(option) for option in node.options]}
    else:
        out = {"$ref": "#/$defs/settings"}
    if node.doc:
        out["description"] = node.doc
    return out


def _value(node: _spec.Value) -> dict[str, Any]:
    out: dict[str, Any] = {"type": node.type}
    if node.enum:
        out["enum"] = list(node.enum)
    if node.minimum is not None:
        out["minimum"] = node.minimum
    if node.exclusive_minimum is not None:
        out["exclusiveMinimum"] = node.exclusive_minimum
    if node.maximum is not None:
        out["maximum"] = node.maximum
    if node.secret:
        out["writeOnly"] = True  # a secret: tools should not echo it
    if node.enum and node.interpolated:
        return {"anyOf": [out, _REFERENCE]}
    return out
