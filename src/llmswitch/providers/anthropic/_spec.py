"""The Anthropic provider: the Messages API with ``x-api-key`` and ``anthropic-version``."""

from __future__ import annotations

from collections.abc import Mapping

from .._build import base_url, headers, key, missing
from ..base import Endpoint
from ..registry import ProviderSettings, ProviderSpec
from ..runtime import Provider

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


def build_provider(pid: str, pc: ProviderSettings | None, env: Mapping[str, str]) -> Provider:
    from ..http import HttpProvider
    from . import AnthropicAdapter

    api_key = key(pc, env, "ANTHROPIC_API_KEY")
    if api_key is None:
        raise missing(pid, "set ANTHROPIC_API_KEY (or api_key in llmswitch.toml)")
    endpoint = Endpoint(
        provider=pid,
        base_url=base_url(pc, env, "ANTHROPIC_BASE_URL") or ANTHROPIC_BASE_URL,
        api_key=api_key,
        auth_header="x-api-key",
        auth_scheme=None,
        headers={"anthropic-version": ANTHROPIC_VERSION, **headers(pc)},
    )
    return HttpProvider(pid, AnthropicAdapter(), endpoint)


SPECS = (
    ProviderSpec(
        id="anthropic",
        kind="anthropic",
        build=build_provider,
        env=("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        base_url=ANTHROPIC_BASE_URL,
        base_url_env="ANTHROPIC_BASE_URL",
    ),
)
