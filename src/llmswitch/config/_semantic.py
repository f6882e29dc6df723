"""``[cache.semantic]`` of ``llmswitch.toml``, read into
:class:`~llmswitch.cache.semantic.SemanticSettings` (keys and bounds:
``_spec.CACHE_SEMANTIC``)::

    [cache.semantic]
    model = "openai/text-embedding-3-small"
    threshold = 0.95          # cosine similarity to serve a stored answer
    max_entries = 1000        # vectors per partition (tenant, model, context)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _spec

__all__ = ["read_semantic"]


def read_semantic(v: Any, cache: Mapping[str, Any]) -> Any:
    """The :class:`SemanticSettings` of ``cache`` (the ``[cache]`` table), or ``None``
    when it has no ``semantic`` table (or, when collecting problems, a bad one).
    ``v``: the ``_validate.Validator``."""
    if "semantic" not in cache:
        return None
    where = ("cache", "semantic")
    raw: dict[str, Any] | None = v.unit(v.plain, _spec.CACHE_SEMANTIC, cache, where, default=None)
    if raw is None:
        return None
    if not raw.get("model"):
        v.report(v.error((*where, "model"), "the embedding model is required"))
        return None
    from ..cache.semantic import SemanticSettings

    if "threshold" in raw:
        raw["threshold"] = float(raw["threshold"])
    return SemanticSettings(**raw)
