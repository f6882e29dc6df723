"""The Mistral provider: ``MISTRAL_API_KEY``; ``MISTRAL_BASE_URL`` (default
``https://api.mistral.ai/v1``) includes ``/v1`` like ``OPENAI_BASE_URL``, and a base URL
without a path (``https://api.mistral.ai``) gets ``/v1`` added."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from .._build import base_url, headers, key, missing
from ..base import Endpoint
from ..registry import ProviderSettings, ProviderSpec
from ..runtime import Provider

MISTRAL_BASE_URL = "https://api.mistral.ai/v1"


def with_v1(url: str) -> str:
    """``url`` as the API root: a bare host gets ``/v1``; a path is kept as given."""
    return url.rstrip("/") + "/v1" if urlsplit(url).path in ("", "/") else url.rstrip("/")


def build_provider(pid: str, pc: ProviderSettings | None, env: Mapping[str, str]) -> Provider:
    from ..http import HttpProvider
    from . import MistralAdapter

    api_key = key(pc, env, "MISTRAL_API_KEY")
    if api_key is None:
        raise missing(pid, "set MISTRAL_API_KEY (or api_key in llmswitch.toml)")
    base = with_v1(base_url(pc, env, "MISTRAL_BASE_URL") or MISTRAL_BASE_URL)
    endpoint = Endpoint(provider=pid, base_url=base, api_key=api_key, headers=headers(pc))
    return HttpProvider(pid, MistralAdapter(), endpoint)


SPECS = (
    ProviderSpec(
        id="mistral",
        kind="mistral",
        build=build_provider,
        env=("MISTRAL_API_KEY", "MISTRAL_BASE_URL"),
        base_url=MISTRAL_BASE_URL,
        base_url_env="MISTRAL_BASE_URL",
    ),
)
