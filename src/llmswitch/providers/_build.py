"""What the builders in the provider packages' ``_spec.py`` modules share: the key from
``llmswitch.toml`` or the environment, the "not configured" error, the base URL.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigurationError
from ..wire import Secret
from .registry import ProviderSettings

__all__ = ["base_url", "headers", "key", "missing"]


def key(pc: ProviderSettings | None, env: Mapping[str, str], *names: str) -> Secret | None:
    """``api_key`` from llmswitch.toml, else the first of the variables ``names`` set."""
    if pc is not None and pc.api_key:
        return pc.api_key
    for name in names:
        value = env.get(name)
        if value:
            return Secret(value)
    return None


def base_url(pc: ProviderSettings | None, env: Mapping[str, str], variable: str) -> str | None:
    """``base_url`` from llmswitch.toml, else ``$variable`` (``None``: neither is set)."""
    return (pc.base_url if pc is not None else None) or env.get(variable)


def headers(pc: ProviderSettings | None) -> dict[str, str]:
    return dict(pc.headers) if pc is not None else {}


def missing(pid: str, what: str, field: str | None = None) -> ConfigurationError:
    return ConfigurationError(
        f"provider {pid!r} is not configured: {what}", field=field, provider=pid
    )
