"""The built-in providers, declared once: each provider package's ``_spec.py`` lists
its :class:`ProviderSpec` entries (ids, wire kind, environment variables, default base
URL, builder), and :data:`_PACKAGES` below names those packages. Everything else (known
ids, kinds, the environment prefixes a client keeps, :func:`build_provider`) is derived
from them. Adding a provider: its own package with a ``_spec.py``, plus one line here.

The spec modules load on first use, not on ``import llmswitch``: importing one runs its
package's ``__init__`` (the adapter), which costs more than most programs need.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ConfigurationError
from ..messages import ChatRequest
from ..wire import Secret
from .runtime import Provider

__all__ = [
    "ProviderSettings",
    "ProviderSpec",
    "build_provider",
    "builtin_ids",
    "builtin_kind",
    "builtin_kinds",
    "env_prefixes",
    "kinds",
    "known_provider_ids",
    "specs",
]

# One line per provider package, in the order ids and kinds are listed in messages.
_PACKAGES = (
    "openai",
    "anthropic",
    "gemini",
    "bedrock",
    "ollama",
    "mistral",
    "vertex",
)


class ProviderSettings(Protocol):
    """What a builder reads of a ``[providers.<id>]`` entry
    (:class:`~llmswitch.providers.settings.ProviderConfig`)."""

    @property
    def kind(self) -> str | None: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def api_key(self) -> Secret | None: ...
    @property
    def api_version(self) -> str | None: ...
    @property
    def organization(self) -> str | None: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


# (provider id, its settings or None, the client's environment) -> the provider
Builder = Callable[[str, Any, Mapping[str, str]], Provider]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSpec:
    """One provider a package serves. ``id`` is the built-in provider id (``None``: a
    kind only, which ``[providers.x] kind = ...`` names, e.g. ``openai-compatible``);
    ``env``: the variables ``build`` reads (the client keeps every variable sharing the
    first word of one, ``OPENAI_``, ``AWS_``..., so a credential chain reading more of
    the family still sees it); ``base_url_env``: the one that sets the base URL."""

    id: str | None
    kind: str
    build: Builder
    env: tuple[str, ...] = ()
    base_url: str | None = None
    base_url_env: str | None = None


@functools.cache
def specs() -> tuple[ProviderSpec, ...]:
    """Every spec of every package in :data:`_PACKAGES`, in that order."""
    found: list[ProviderSpec] = []
    for package in _PACKAGES:
        found += importlib.import_module(f"{__package__}.{package}._spec").SPECS
    return tuple(found)


@functools.cache
def _builtin() -> Mapping[str, ProviderSpec]:
    return {s.id: s for s in specs() if s.id is not None}


@functools.cache
def _by_kind() -> Mapping[str, ProviderSpec]:
    return {s.kind: s for s in specs()}


@functools.cache
def builtin_kinds() -> Mapping[str, str]:
    """Built-in provider id -> its wire kind, in registration order."""
    return {pid: spec.kind for pid, spec in _builtin().items()}


def builtin_ids() -> tuple[str, ...]:
    """The built-in provider ids (``openai``, ``azure``...), in registration order."""
    return tuple(_builtin())


def builtin_kind(pid: str) -> str | None:
    """The wire kind of built-in provider ``pid``; ``None`` when it is not one."""
    spec = _builtin().get(pid)
    return spec.kind if spec is not None else None


@functools.cache
def kinds() -> tuple[str, ...]:
    """Every wire kind: those of the built-ins first, then kind-only ones."""
    builtin = (s.kind for s in specs() if s.id is not None)
    return (*dict.fromkeys(builtin), *(s.kind for s in specs() if s.id is None))


@functools.cache
def env_prefixes() -> tuple[str, ...]:
    """The environment prefixes providers read: each declared variable's first word."""
    names = (name for s in specs() for name in s.env)
    return tuple(dict.fromkeys(name[: name.index("_") + 1] for name in names))


class _Declared(Protocol):
    @property
    def providers(self) -> Mapping[str, ProviderSettings]: ...


def _echo_provider() -> Provider:
    """``fake/<anything>`` with nothing scripted: echoes the last user message, so the
    CLI and examples run on a machine with no keys. Script it via llmswitch.testing."""
    from .fake import FakeProvider

    def echo(request: ChatRequest) -> str:
        last = next((m for m in reversed(request.messages) if m.role == "user"), None)
        return f"You said: {last.text}" if last is not None else "Hello from the fake provider."

    return FakeProvider(id="fake", models=["echo"]).respond_with(echo)


def known_provider_ids(config: _Declared) -> list[str]:
    from ._plugins import plugin_names

    return sorted({*builtin_ids(), "fake", *config.providers, *plugin_names()})


def build_provider(
    pid: str,
    config: _Declared,
    env: Mapping[str, str],
    source: Mapping[str, str] | None = None,
) -> Provider:
    """The provider ``pid`` as ``config`` (a :class:`~llmswitch.config.Config`) declares
    it, or a ConfigurationError saying what to set. An id that is neither built in nor
    declared is looked up among the installed plugins (:mod:`._plugins`), whose builder
    also gets its own variables from ``source`` (the full environment)."""
    pc = config.providers.get(pid)
    if pid == "fake" and pc is None:
        return _echo_provider()
    kind = (pc.kind if pc is not None else None) or builtin_kind(pid)
    if kind is None and pc is None:
        from ._plugins import build_plugin, env_for, find_plugin

        found = find_plugin(pid)
        if found is not None:
            plugin, entry_point = found
            found_env = env_for(plugin, env, source or {})
            return build_plugin(plugin, pid, found_env, entry_point=entry_point)
    if kind is None:
        known = ", ".join(known_provider_ids(config))
        raise ConfigurationError(
            f"unknown provider {pid!r} (known: {known}; declare other OpenAI-compatible "
            "servers in llmswitch.toml)",
            field="model",
            provider=pid,
        )
    spec = _by_kind().get(kind)
    if spec is None:
        raise ConfigurationError(
            f"provider kind {kind!r} is not available in this version of llmswitch",
            provider=pid,
        )
    return spec.build(pid, pc, env)
