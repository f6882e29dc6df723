"""The Ollama provider (native API). It needs no credentials, so it is always
configured: ``OLLAMA_HOST`` (or ``base_url``) says where; ``OLLAMA_API_KEY`` (or
``api_key``) is sent as a bearer token, for Ollama's cloud."""

from __future__ import annotations

from collections.abc import Mapping

from ...errors import ConfigurationError
from .._build import base_url, headers, key
from ..base import Endpoint
from ..registry import ProviderSettings, ProviderSpec
from ..runtime import Provider
from . import DEFAULT_HOST, parse_host


def build_provider(pid: str, pc: ProviderSettings | None, env: Mapping[str, str]) -> Provider:
    """The Ollama provider ``pid`` from ``llmswitch.toml`` overrides (``pc``) and ``env``."""
    from ..http import HttpProvider
    from . import OllamaAdapter

    base = base_url(pc, env, "OLLAMA_HOST")
    try:
        url = parse_host(base) if base else DEFAULT_HOST
    except ConfigurationError as exc:
        exc.provider = pid
        raise
    endpoint = Endpoint(
        provider=pid, base_url=url, api_key=key(pc, env, "OLLAMA_API_KEY"), headers=headers(pc)
    )
    return HttpProvider(pid, OllamaAdapter(), endpoint)


SPECS = (
    ProviderSpec(
        id="ollama",
        kind="ollama",
        build=build_provider,
        env=("OLLAMA_HOST", "OLLAMA_API_KEY"),
        base_url=DEFAULT_HOST,
        base_url_env="OLLAMA_HOST",
    ),
)
