"""What the routes need to know about a model before calling it, from the client's
configuration alone (no network): its wire kinds, its output limit, and the model list
``/v1/models`` answers with.
(``gateway/_targets.py`` has the part both formats share, and why it reads ``_core``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from ...catalog import models as catalog_models
from ...errors import LLMError
from ...providers.registry import builtin_ids
from .._targets import PerConfig, provider_kinds
from ._chat_in import Target

__all__ = ["Targets"]

_OPENAI_KINDS = frozenset({"openai", "azure", "openai-compatible"})
_SIGNATURE_KINDS = frozenset({"gemini", "vertex"})
_CACHE_MAX = 1024


class Targets:
    """Per-configuration memo of :class:`Target` and the model list (a reload of the
    client swaps its core, which resets both)."""

    __slots__ = ("_listing", "_listing_core", "_targets")

    def __init__(self) -> None:
        self._targets: PerConfig[Target] = PerConfig(_target, _CACHE_MAX)
        self._listing_core: Any = None
        self._listing: list[tuple[str, str]] = []

    def of(self, client: Any, model: str) -> Target:
        return self._targets.get(client, model)

    def models(self, client: Any) -> list[tuple[str, str]]:
        """``(id, owned_by)`` of every model name a caller may send: configured
        providers' catalog and discovered models, aliases and model groups."""
        core = client._core
        if core is not self._listing_core:
            self._listing, self._listing_core = _listing(core), core
        return self._listing


def _target(core: Any, model: str) -> Target:
    try:
        kinds = provider_kinds(core, model)
        limit = core.capabilities(model).max_output_tokens
    except LLMError:  # an unknown model: the call itself says why, in its own words
        return Target()
    return Target(
        openai_format=bool(kinds) and all(k in _OPENAI_KINDS for k in kinds),
        max_output_tokens=limit,
        signatures=any(k in _SIGNATURE_KINDS for k in kinds),
    )


def _configured(core: Any, ids: Sequence[str]) -> list[str]:
    out = []
    for pid in ids:
        # Ollama needs no credentials, so it is always "configured": list it only when
        # it was set up on purpose (a server address or a provider entry).
        if pid == "ollama" and pid not in core.config.providers and not core.env.get("OLLAMA_HOST"):
            continue
        with contextlib.suppress(LLMError):  # not configured (no credentials): not listed
            core.provider(pid)
            out.append(pid)
    return out


def _listing(core: Any) -> list[tuple[str, str]]:
    config = core.config
    pids = _configured(core, list(dict.fromkeys([*builtin_ids(), *config.providers])))
    seen: dict[str, str] = {}
    for pid in pids:
        for provider, name in catalog_models(pid):
            seen.setdefault(f"{provider}/{name}", pid)
        for name in getattr(core, "_discovered", {}).get(pid, {}):
            seen.setdefault(f"{pid}/{name}", pid)
    for alias, target in config.aliases.items():
        seen.setdefault(alias, target.partition("/")[0] or "llmswitch")
    for group in config.models:
        seen.setdefault(group, "llmswitch")
    return sorted(seen.items())
