"""The Gemini provider: ``GEMINI_API_KEY`` (else ``GOOGLE_API_KEY``) sent as the
``x-goog-api-key`` header, never in the URL; ``GEMINI_BASE_URL`` without ``/v1beta``."""

from __future__ import annotations

from collections.abc import Mapping

from .._build import base_url, headers, key, missing
from ..base import Endpoint
from ..registry import ProviderSettings, ProviderSpec
from ..runtime import Provider
from . import GEMINI_BASE_URL


def build_provider(pid: str, pc: ProviderSettings | None, env: Mapping[str, str]) -> Provider:
    """The Gemini provider ``pid`` from ``llmswitch.toml`` overrides (``pc``) and ``env``."""
    from ..http import HttpProvider
    from . import GeminiAdapter

    api_key = key(pc, env, "GEMINI_API_KEY", "GOOGLE_API_KEY")
    if api_key is None:
        raise missing(pid, "set GEMINI_API_KEY (or GOOGLE_API_KEY, or api_key in llmswitch.toml)")
    base = (base_url(pc, env, "GEMINI_BASE_URL") or GEMINI_BASE_URL).rstrip("/")
    endpoint = Endpoint(
        provider=pid,
        # The contract says "without /v1beta"; tolerate it rather than request /v1beta/v1beta.
        base_url=base.removesuffix("/v1beta"),
        api_key=api_key,
        auth_header="x-goog-api-key",
        auth_scheme=None,
        headers=headers(pc),
    )
    return HttpProvider(pid, GeminiAdapter(), endpoint)


SPECS = (
    ProviderSpec(
        id="gemini",
        kind="gemini",
        build=build_provider,
        env=("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL"),
        base_url=GEMINI_BASE_URL,
        base_url_env="GEMINI_BASE_URL",
    ),
)
