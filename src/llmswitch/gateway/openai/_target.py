"""What the routes need to know about a model before calling it, from the client's
configuration alone (no network): its wire kinds, its output limit, and the model list
``/v1/models`` answers with.

It reads the client's ``_core`` (the configuration the client holds now): the public
``AsyncClient.capabilities`` may list a provider's models over the network first, which
a request path must not do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from ...catalog import models as catalog_models
from ...errors import LLMError
from ...providers.registry import builtin_ids
from ._chat_in import Target

__all__ = ["Targets"]

_OPENAI_KINDS = frozenset({"openai", "azure", "openai-compatible"})
_SIGNATURE_KINDS = frozenset({"gemini", "vertex"})
_CACHE_MAX = 1024


class Targets:
    """Per-configuration memo of :class:`Target` and the model list (a reload of the
    client swaps its core, which resets both)."""

    __slots__ = ("_core", "_listing", "_targets")

    def __init__(self) -> None:
        self._core: Any = None
        self._targets: dict[str, Target] = {}
        self._listing: list[tuple[str, str]] | None = None

    def _fresh(self, client: Any) -> Any:
        core = client._core
        if core is not self._core:
            self._core, self._targets, self._listing = core, {}, None
        return core

    def of(self, client: Any, model: str) -> Target:
        core = self._fresh(client)
        found = self._targets.get(model)
        if found is None:
            found = _target(core, model)
            if len(self._targets) >= _CACHE_MAX:
                self._targets.clear()
            self._targets[model] = found
        return found

    def models(self, client: Any) -> list[tuple[str, str]]:
        """``(id, owned_by)`` of every model name a caller may send: configured
        providers' catalog and discovered models, aliases and model groups."""
        core = self._fresh(client)
        if self._listing is None:
            self._listing = _listing(core)
        return self._listing


def _kinds(core: Any, model: str) -> list[str | None]:
    config = core.config
    target = config.aliases.get(model, model)
    group = config.models.get(model) if "/" not in target else None
    if group is None:
        return [core.provider_kind(target.partition("/")[0])]
    return [core.provider_kind(d.endpoint or d.model.partition("/")[0]) for d in group.deployments]


def _target(core: Any, model: str) -> Target:
    try:
        kinds = _kinds(core, model)
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
