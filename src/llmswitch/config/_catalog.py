"""``[catalog]`` of ``llmswitch.toml``: model overrides and custom prices, read into
:class:`~llmswitch.catalog.CatalogSettings` with ``file:line: key: message`` errors (kept
out of ``_validate``, which is near its size cap). Keys and bounds: ``_spec.CATALOG``::

    [catalog]
    refresh = 86400          # seconds before a cached model list is fetched again
    discovery = true         # use the providers' reported limits (cached on disk)

    [catalog.models."my-vllm/llama-3-70b"]   # "provider/model"
    input_price = 0.5        # USD per million tokens
    output_price = 1.5
    context_window = 8192
    supports_tools = true
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog import CatalogSettings, ModelOverride
from . import _spec

# The validator (``_validate.Validator``) comes in as ``v``: typed Any, since naming it
# here would be an import cycle with the module that calls this one.
Validator = Any

__all__ = ["read_catalog"]


def read_catalog(v: Validator, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``catalog`` value of a :class:`~llmswitch.config.Config` (``{}``: no section)."""
    if "catalog" not in doc:
        return {}
    found = v.unit(_catalog, v, doc, default=None)
    return {} if found is None else {"catalog": found}


def _catalog(v: Validator, doc: Mapping[str, Any]) -> CatalogSettings:
    raw = v.table(doc, ("catalog",))
    v.known(raw, ("catalog",), tuple(_spec.CATALOG.keys))
    values: dict[str, Any] = {}
    for key in ("discovery", "refresh"):
        if key in raw:
            node = _spec.CATALOG.keys[key]
            assert isinstance(node, _spec.Value)
            values[key] = _bounded(v, node, raw[key], ("catalog", key))
    models_raw = v.table(raw, ("catalog", "models"))
    models: dict[str, ModelOverride] = {}
    for name in models_raw:
        entry = v.unit(_model, v, models_raw, name, default=None)
        if entry is not None:
            models[name] = entry
    return CatalogSettings(models=models, **values)


def _model(v: Validator, models_raw: Mapping[str, Any], name: str) -> ModelOverride:
    where = ("catalog", "models", name)
    raw = v.table(models_raw, where)
    v.known(raw, where, tuple(_spec.CATALOG_MODEL.keys))
    provider, _, model = name.partition("/")
    if not provider or not model:
        raise v.error(where, "expected a 'provider/model' name, e.g. \"openai/gpt-4o\"")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        node = _spec.CATALOG_MODEL.keys[key]
        assert isinstance(node, _spec.Value)
        values[key] = _bounded(v, node, value, (*where, key))
    return ModelOverride(**values)


def _bounded(v: Validator, node: _spec.Value, value: Any, path: tuple[str, ...]) -> Any:
    checked = v.scalar(node, value, path)
    if node.maximum is not None and checked > node.maximum:
        raise v.error(path, f"must be <= {node.maximum:g}")
    return checked
