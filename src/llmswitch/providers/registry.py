"""Turn a provider id into a configured provider: its kind's adapter plus an endpoint
built from the environment (DESIGN.md section 2) and ``llmswitch.toml`` overrides.

One builder per kind, looked up in a table; adapters are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from ..config import BUILTIN_PROVIDERS, Config, ProviderConfig
from ..errors import ConfigurationError
from ..messages import ChatRequest
from ..wire import Secret
from .base import Adapter, AzureEndpoint, Endpoint
from .http import HttpProvider
from .runtime import Provider

__all__ = ["build_provider", "known_provider_ids"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
AZURE_DEFAULT_API_VERSION = "2024-10-21"  # the GA inference version


def _openai_adapter(flavor: str) -> Adapter:
    from .openai import OpenAIAdapter

    return OpenAIAdapter(flavor=flavor)  # type: ignore[arg-type]


def _anthropic_adapter() -> Adapter:
    from .anthropic import AnthropicAdapter

    return AnthropicAdapter()


def _key(pc: ProviderConfig | None, env: Mapping[str, str], *names: str) -> Secret | None:
    if pc is not None and pc.api_key:
        return pc.api_key
    for name in names:
        value = env.get(name)
        if value:
            return Secret(value)
    return None


def _missing(pid: str, what: str) -> ConfigurationError:
    return ConfigurationError(f"provider {pid!r} is not configured: {what}", provider=pid)


def _headers(pc: ProviderConfig | None) -> dict[str, str]:
    return dict(pc.headers) if pc is not None else {}


def _build_openai(pid: str, pc: ProviderConfig | None, env: Mapping[str, str]) -> HttpProvider:
    key = _key(pc, env, "OPENAI_API_KEY")
    if key is None:
        raise _missing(pid, "set OPENAI_API_KEY (or api_key in llmswitch.toml)")
    headers = _headers(pc)
    org = (pc.organization if pc else None) or env.get("OPENAI_ORG_ID")
    if org:
        headers["openai-organization"] = org
    if env.get("OPENAI_PROJECT_ID"):
        headers["openai-project"] = env["OPENAI_PROJECT_ID"]
    base = (pc.base_url if pc else None) or env.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
    endpoint = Endpoint(provider=pid, base_url=base, api_key=key, headers=headers)
    return HttpProvider(pid, _openai_adapter("openai"), endpoint)


def _build_azure(pid: str, pc: ProviderConfig | None, env: Mapping[str, str]) -> HttpProvider:
    base = (pc.base_url if pc else None) or env.get("AZURE_OPENAI_ENDPOINT")
    if not base:
        raise _missing(pid, "set AZURE_OPENAI_ENDPOINT (https://<resource>.openai.azure.com)")
    key = _key(pc, env, "AZURE_OPENAI_API_KEY")
    token = env.get("AZURE_OPENAI_AD_TOKEN")
    if key is None and not token:
        raise _missing(pid, "set AZURE_OPENAI_API_KEY (or AZURE_OPENAI_AD_TOKEN for Entra ID)")
    version = (pc.api_version if pc else None) or env.get("OPENAI_API_VERSION")
    endpoint = AzureEndpoint(
        provider=pid,
        base_url=base,
        api_key=key,
        headers=_headers(pc),
        api_version=version or AZURE_DEFAULT_API_VERSION,
        token_provider=(lambda: token) if key is None and token else None,
    )
    return HttpProvider(pid, _openai_adapter("azure"), endpoint)


def _build_anthropic(pid: str, pc: ProviderConfig | None, env: Mapping[str, str]) -> HttpProvider:
    key = _key(pc, env, "ANTHROPIC_API_KEY")
    if key is None:
        raise _missing(pid, "set ANTHROPIC_API_KEY (or api_key in llmswitch.toml)")
    base = (pc.base_url if pc else None) or env.get("ANTHROPIC_BASE_URL") or ANTHROPIC_BASE_URL
    endpoint = Endpoint(
        provider=pid,
        base_url=base,
        api_key=key,
        auth_header="x-api-key",
        auth_scheme=None,
        headers={"anthropic-version": ANTHROPIC_VERSION, **_headers(pc)},
    )
    return HttpProvider(pid, _anthropic_adapter(), endpoint)


def _build_compatible(pid: str, pc: ProviderConfig | None, env: Mapping[str, str]) -> HttpProvider:
    if pc is None or not pc.base_url:
        raise _missing(pid, "an openai-compatible provider needs base_url in llmswitch.toml")
    endpoint = Endpoint(
        provider=pid, base_url=pc.base_url, api_key=pc.api_key, headers=_headers(pc)
    )
    return HttpProvider(pid, _openai_adapter("compatible"), endpoint)


def _in_package(
    module: str,
) -> Callable[[str, ProviderConfig | None, Mapping[str, str]], HttpProvider]:
    """A kind whose package builds its own provider (``build_provider``), imported on use."""

    def build(pid: str, pc: ProviderConfig | None, env: Mapping[str, str]) -> HttpProvider:
        package = importlib.import_module(f"{__package__}.{module}")
        return package.build_provider(pid, pc, env)  # type: ignore[no-any-return]

    return build


_BUILDERS: dict[str, Callable[[str, ProviderConfig | None, Mapping[str, str]], HttpProvider]] = {
    "openai": _build_openai,
    "azure": _build_azure,
    "anthropic": _build_anthropic,
    "openai-compatible": _build_compatible,
    "gemini": _in_package("gemini"),
    "bedrock": _in_package("bedrock"),
    "ollama": _in_package("ollama"),
}


def _echo_provider() -> Provider:
    """``fake/<anything>`` with nothing scripted: echoes the last user message, so the
    CLI and examples run on a machine with no keys. Script it via llmswitch.testing."""
    from ..testing import FakeProvider

    def echo(request: ChatRequest) -> str:
        last = next((m for m in reversed(request.messages) if m.role == "user"), None)
        return f"You said: {last.text}" if last is not None else "Hello from the fake provider."

    return FakeProvider(id="fake", models=["echo"]).respond_with(echo)


def known_provider_ids(config: Config) -> list[str]:
    builtin = (p for p, k in BUILTIN_PROVIDERS.items() if k in _BUILDERS)
    return sorted({*builtin, "fake", *config.providers})


def build_provider(pid: str, config: Config, env: Mapping[str, str]) -> Provider:
    """The provider ``pid`` as configured, or a ConfigurationError saying what to set."""
    pc = config.providers.get(pid)
    if pid == "fake" and pc is None:
        return _echo_provider()
    kind = (pc.kind if pc is not None else None) or BUILTIN_PROVIDERS.get(pid)
    if kind is None:
        known = ", ".join(known_provider_ids(config))
        raise ConfigurationError(
            f"unknown provider {pid!r} (known: {known}; declare other OpenAI-compatible "
            "servers in llmswitch.toml)",
            field="model",
            provider=pid,
        )
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ConfigurationError(
            f"provider kind {kind!r} is not available in this version of llmswitch",
            provider=pid,
        )
    return builder(pid, pc, env)
