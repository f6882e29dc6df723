"""What both wire formats need to know of a requested model before translating it,
from the client's configuration alone (never a network call): the providers it may run
on, and a memo of per-model facts that a configuration reload resets.

It reads the client's ``_core`` (the configuration the client holds now): the public
``AsyncClient.capabilities`` may list a provider's models over the network first, which
a request path must not do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["PerConfig", "provider_kinds"]

T = TypeVar("T")


def provider_kinds(core: Any, model: str) -> list[str | None]:
    """The wire kind of every provider ``model`` (``provider/model``, an alias or a model
    group) may be served by; raises the library's error for a model it cannot resolve."""
    config = core.config
    name = config.aliases.get(model, model)
    group = config.models.get(model) if "/" not in name else None
    if group is None:
        pids = [core.resolve(model)[0].id]
    else:
        pids = [d.endpoint or d.model.partition("/")[0] for d in group.deployments]
    return [core.provider_kind(pid) for pid in pids]


class PerConfig(Generic[T]):
    """Per-model values of the client's current configuration, worked out once each
    (a reload makes a new core, which starts afresh); bounded, since model names are
    the callers'."""

    __slots__ = ("_core", "_make", "_max", "_values")

    def __init__(self, make: Callable[[Any, str], T], max_entries: int = 1024) -> None:
        self._make = make
        self._max = max_entries
        self._core: Any = None
        self._values: dict[str, T] = {}

    def core(self, client: Any) -> Any:
        """The client's current core (resetting the memo when it changed)."""
        core = client._core
        if core is not self._core:
            self._core, self._values = core, {}
        return core

    def get(self, client: Any, model: str) -> T:
        core = self.core(client)
        found = self._values.get(model)
        if found is None:
            found = self._make(core, model)
            if len(self._values) >= self._max:
                self._values.clear()
            self._values[model] = found
        return found
