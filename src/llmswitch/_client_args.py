"""Checks of the arguments ``Client``/``AsyncClient`` are built with: misuse is a
:class:`~llmswitch.errors.ConfigurationError` at construction that says what to pass,
never an ``AttributeError`` at the first call. Values are described by type only,
since a misplaced argument may be a key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError
from .middleware.base import Middleware
from .providers.settings import ProviderConfig

if TYPE_CHECKING:
    from .providers.runtime import Provider

__all__ = ["check_max_retries", "check_middleware", "check_providers", "unknown_argument"]

_MAX_RETRIES = 100
_PROVIDER_METHODS = ("chat", "achat", "stream", "astream")


def unknown_argument(cls: type, unknown: Mapping[str, Any]) -> ConfigurationError:
    import difflib
    import inspect

    # From the signature, so arguments added later are suggested too.
    known = [p for p in inspect.signature(cls).parameters if p != "unknown"]
    name = sorted(unknown)[0]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ConfigurationError(
        f"{cls.__name__}() got an unknown argument {name!r} ({hint}arguments: {', '.join(known)})",
        field=name,
    )


def _shown(value: Any) -> str:
    """What a misplaced argument was, without echoing it (it may hold a key)."""
    return "a type" if isinstance(value, type) else f"a {type(value).__name__}"


def check_providers(providers: Any) -> list[Provider | ProviderConfig]:
    hint = (
        "pass a list of ProviderConfig entries or provider objects (e.g. "
        "llmswitch.testing.FakeProvider); built-in providers such as 'openai' need no "
        "entry, only their environment variables"
    )
    if isinstance(providers, str | bytes | Mapping) or not isinstance(providers, Iterable):
        raise ConfigurationError(f"providers: {hint}", field="providers")
    out: list[Provider | ProviderConfig] = []
    for i, p in enumerate(providers):
        ok = isinstance(p, ProviderConfig) or (
            not isinstance(p, type)
            and isinstance(getattr(p, "id", None), str)
            and all(callable(getattr(p, m, None)) for m in _PROVIDER_METHODS)
        )
        if not ok:
            raise ConfigurationError(
                f"providers[{i}] is {_shown(p)}, not a provider: {hint}", field=f"providers[{i}]"
            )
        out.append(p)
    return out


def check_middleware(middleware: Any) -> list[Middleware]:
    hint = (
        "pass a list of llmswitch.middleware.Middleware instances, outermost first "
        "(e.g. middleware=[Retry()])"
    )
    if isinstance(middleware, str | bytes | Mapping) or not isinstance(middleware, Iterable):
        raise ConfigurationError(f"middleware is {_shown(middleware)}: {hint}", field="middleware")
    out: list[Middleware] = []
    for i, m in enumerate(middleware):
        if not isinstance(m, Middleware):
            what = f"the class {m.__name__}" if isinstance(m, type) else _shown(m)
            raise ConfigurationError(
                f"middleware[{i}] is {what}, not a Middleware instance: {hint}",
                field=f"middleware[{i}]",
            )
        out.append(m)
    return out


def check_max_retries(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_RETRIES:
        raise ConfigurationError(
            f"max_retries must be an integer from 0 (no retries) to {_MAX_RETRIES}",
            field="max_retries",
        )
    return value
