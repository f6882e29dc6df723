"""Third-party providers: the ``llmswitch.providers`` entry point group.

A distribution registers a provider by naming a :class:`ProviderPlugin` (or a builder
function) in its packaging metadata; the entry point's *name* is the provider id, what
goes before the slash in ``"acme/model"``::

    # pyproject.toml of the plugin
    [project.entry-points."llmswitch.providers"]
    acme = "acme_llm:plugin"

    # acme_llm/__init__.py
    from llmswitch import ProviderPlugin

    def build(pid, settings, env):          # -> a provider object (chat, stream, ...)
        return AcmeProvider(pid, key=env.get("ACME_API_KEY"))

    plugin = ProviderPlugin(id="acme", build=build, env=("ACME_API_KEY",))

Nothing is imported at ``import llmswitch``: the metadata is read (not the module
imported) when a provider id is not a built-in one, or when every provider is listed
(``llmswitch models``/``health``); a plugin's module is imported the first time its
provider is used. A plugin that fails to import or to build raises a
:class:`~llmswitch.errors.ProviderPluginError` naming the entry point, for that provider
only. A built-in id always wins over a plugin of the same name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, LLMError, ProviderPluginError
from .runtime import Provider

if TYPE_CHECKING:
    from importlib import metadata

__all__ = [
    "ENTRY_POINT_GROUP", "ProviderPlugin", "as_plugin", "build_plugin", "build_registered",
    "check_registration", "env_for", "find_plugin", "is_provider", "plugin_names",
]  # fmt: skip

ENTRY_POINT_GROUP = "llmswitch.providers"

# (provider id, its [providers.<id>] settings or None, the client's environment) -> provider
PluginBuilder = Callable[[str, Any, Mapping[str, str]], Provider]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderPlugin:
    """A provider a third-party distribution adds. ``id``: the provider id (the entry
    point's name must be the same); ``build(pid, settings, env)`` returns the provider
    (an object with ``id``, ``chat``/``achat``, ``stream``/``astream``,
    ``list_models``/``alist_models``; optionally ``embed``, ``health``,
    ``capabilities(model)``), or raises :class:`~llmswitch.errors.ConfigurationError`
    naming the variable to set when it is not configured. ``env``: the environment
    variables it reads (the client also passes every variable starting with the id in
    upper case, ``ACME_``); ``description``: one line for listings."""

    id: str
    build: PluginBuilder
    env: tuple[str, ...] = ()
    description: str = ""


def _entry_points() -> list[metadata.EntryPoint]:
    # Not cached: reading the metadata is cheap next to building a provider, and a
    # distribution installed while the program runs is seen. Imported here: importlib
    # .metadata costs milliseconds that ``import llmswitch`` does not pay.
    from importlib import metadata

    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def plugin_names() -> tuple[str, ...]:
    """The provider ids plugins register (from metadata only: nothing is imported)."""
    return tuple(dict.fromkeys(ep.name for ep in _entry_points()))


def _describe(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    origin = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point '{ep.name} = {ep.value}' in group {ENTRY_POINT_GROUP!r}{origin}"


_loaded: dict[tuple[str, str], ProviderPlugin | ProviderPluginError] = {}
_lock = threading.Lock()


def find_plugin(pid: str) -> tuple[ProviderPlugin, str] | None:
    """The plugin registered as ``pid`` (loaded once per process) and its entry point
    (``name = module:attr``); ``None`` when no distribution registers one; a
    :class:`ProviderPluginError` when it cannot be loaded."""
    found = [ep for ep in _entry_points() if ep.name == pid]
    if not found:
        return None
    ep = found[0]
    where = _describe(ep)
    if len({e.value for e in found}) > 1:
        others = "; ".join(_describe(e) for e in found[1:])
        raise ProviderPluginError(
            f"provider {pid!r} is registered by more than one plugin: {where}; {others}",
            entry_point=f"{ep.name} = {ep.value}",
            provider=pid,
        )
    key = (ep.name, ep.value)
    with _lock:
        cached = _loaded.get(key)
        if cached is None:
            cached = _loaded[key] = _load(ep, where)
    if isinstance(cached, ProviderPluginError):
        raise ProviderPluginError(cached.message, entry_point=cached.entry_point, provider=pid)
    return cached, f"{ep.name} = {ep.value}"


def _load(ep: metadata.EntryPoint, where: str) -> ProviderPlugin | ProviderPluginError:
    name = f"{ep.name} = {ep.value}"
    try:
        obj = ep.load()
    except Exception as exc:  # any failure of someone else's import is theirs to fix
        return ProviderPluginError(
            f"provider plugin {ep.name!r} failed to load ({where}): {type(exc).__name__}: {exc}",
            entry_point=name,
            provider=ep.name,
        )
    try:
        return as_plugin(obj, ep.name)
    except ConfigurationError as exc:
        return ProviderPluginError(
            f"provider plugin {ep.name!r} ({where}): {exc.message}",
            entry_point=name,
            provider=ep.name,
        )


def as_plugin(obj: Any, pid: str) -> ProviderPlugin:
    """``obj`` as a plugin for provider ``pid``: a :class:`ProviderPlugin`, an object
    with the same attributes, or a bare builder function ``build(pid, settings, env)``."""
    if isinstance(obj, ProviderPlugin):
        plugin = obj
    elif not isinstance(obj, type) and callable(getattr(obj, "build", None)):
        env = getattr(obj, "env", ())
        if isinstance(env, str) or not all(isinstance(e, str) for e in env):
            raise ConfigurationError("env must be a tuple of variable names", field="env")
        plugin = ProviderPlugin(
            id=getattr(obj, "id", pid), build=obj.build, env=tuple(env),
            description=str(getattr(obj, "description", "")),
        )  # fmt: skip
    elif callable(obj) and not isinstance(obj, type):
        plugin = ProviderPlugin(id=pid, build=obj)
    else:
        raise ConfigurationError(
            f"names a {type(obj).__name__}, not a ProviderPlugin or a builder function",
            field="model",
        )
    if plugin.id != pid:
        raise ConfigurationError(
            f"its ProviderPlugin has id {plugin.id!r}, not the entry point's name {pid!r}",
            field="model",
        )
    return plugin


def env_for(
    plugin: ProviderPlugin, env: Mapping[str, str], source: Mapping[str, str]
) -> dict[str, str]:
    """What a plugin's builder gets: the client's environment plus, from ``source``
    (the environment the client was built from), the variables the plugin declares and
    those starting with its id in upper case."""
    prefix = plugin.id.upper().replace("-", "_").replace(".", "_") + "_"
    wanted = set(plugin.env)
    mine = {k: v for k, v in source.items() if k in wanted or k.startswith(prefix)}
    return {**env, **mine}


def is_provider(obj: Any) -> bool:
    """Whether ``obj`` is a ready provider object (rather than a plugin or a builder)."""
    return (
        not isinstance(obj, type)
        and isinstance(getattr(obj, "id", None), str)
        and all(callable(getattr(obj, m, None)) for m in ("chat", "achat", "stream", "astream"))
    )


def check_registration(pid: Any, entry: Any) -> None:
    """What ``Client.register_provider(pid, entry)`` accepts, checked when it is called."""
    import re

    if not isinstance(pid, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", pid):
        raise ConfigurationError(
            "provider id must be a non-empty string of letters, digits, '_', '-' or '.' (no '/')",
            field="id",
        )
    if is_provider(entry):
        if entry.id != pid:
            raise ConfigurationError(
                f"the provider's id is {entry.id!r}, not {pid!r}", field="id", provider=pid
            )
        return
    try:
        as_plugin(entry, pid)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"register_provider({pid!r}): {exc.message} (pass a provider object, a "
            "ProviderPlugin or a function build(id, settings, env))",
            field="provider",
            provider=pid,
        ) from None


def build_registered(
    entry: Any, pid: str, settings: Any, env: Mapping[str, str], source: Mapping[str, str]
) -> Provider:
    """The provider of a ``Client.register_provider(pid, entry)``: ``entry`` itself when it
    is a provider, else what the plugin or builder function it is builds (called with
    ``[providers.<pid>]`` settings when llmswitch.toml has them)."""
    if is_provider(entry):
        return entry  # type: ignore[no-any-return]
    plugin = as_plugin(entry, pid)
    wrapped = ProviderPlugin(
        id=pid,
        build=lambda p, _s, e: plugin.build(p, settings, e),
        env=plugin.env,
        description=plugin.description,
    )
    return build_plugin(wrapped, pid, env_for(plugin, env, source))


def build_plugin(
    plugin: ProviderPlugin, pid: str, env: Mapping[str, str], *, entry_point: str = ""
) -> Provider:
    """Run the plugin's builder; what it raises other than an llmswitch error becomes a
    :class:`ProviderPluginError` naming the plugin (``entry_point``: its entry point,
    ``""`` for one given to ``register_provider``)."""
    where = f"entry point '{entry_point}'" if entry_point else f"register_provider({pid!r})"
    try:
        provider = plugin.build(pid, None, env)
    except LLMError as exc:
        if exc.provider is None:
            exc.provider = pid
        raise
    except Exception as exc:
        raise ProviderPluginError(
            f"provider plugin {pid!r} ({where}) failed to build its provider: "
            f"{type(exc).__name__}: {exc}",
            entry_point=entry_point,
            provider=pid,
        ) from exc
    if not is_provider(provider) or provider.id != pid:
        raise ProviderPluginError(
            f"provider plugin {pid!r} ({where}) built {type(provider).__name__}, not a "
            f"provider with id {pid!r} and chat/achat/stream/astream methods",
            entry_point=entry_point,
            provider=pid,
        )
    return provider
