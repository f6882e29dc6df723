"""What the gateway needs to know of the model a request names before translating it:
the wire kinds it runs on (a model group may span providers), and its output and
reasoning limits, from the configuration and catalog only (never a network call)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._targets import PerConfig, provider_kinds

__all__ = ["Target", "target_of"]

_OPENAI_KINDS = frozenset({"openai", "azure"})


@dataclass(frozen=True, slots=True)
class Target:
    """``kinds``: the wire kind of every provider the model may be served by (``None``
    for a provider object of unknown kind); ``max_output_tokens`` and ``reasoning`` as
    :class:`~llmswitch.Capabilities` has them (``None``: unknown)."""

    kinds: frozenset[str | None] = frozenset()
    max_output_tokens: int | None = None
    reasoning: bool | None = None

    @property
    def anthropic(self) -> bool:
        """Every deployment speaks the Anthropic Messages format: Anthropic-only fields
        and headers may go through."""
        return bool(self.kinds) and self.kinds == {"anthropic"}

    @property
    def openai(self) -> bool:
        """Every deployment is OpenAI's own API (OpenAI or Azure)."""
        return bool(self.kinds) and self.kinds <= _OPENAI_KINDS


# A Target costs ~40 µs to work out (catalog and capability lookups), a request's whole
# translation ~10: worked out once per model and configuration.
def _target(core: Any, model: str) -> Target:
    caps = core.capabilities(model)
    kinds = frozenset(provider_kinds(core, model))
    return Target(kinds=kinds, max_output_tokens=caps.max_output_tokens, reasoning=caps.reasoning)


_TARGETS: PerConfig[Target] = PerConfig(_target)


def target_of(client: Any, model: str) -> Target:
    """The :class:`Target` of ``model`` (``provider/model``, an alias or a group) in
    ``client``'s current configuration. Raises the library's ConfigurationError for a
    model it cannot resolve (the route renders it)."""
    return _TARGETS.get(client, model)
