"""The providers the OpenAI adapter serves: OpenAI itself, Azure OpenAI and any
OpenAI-compatible server (vLLM, llama.cpp, LM Studio, Ollama's ``/v1``)."""

from __future__ import annotations

from collections.abc import Mapping

from .._build import base_url, headers, key, missing
from ..base import AzureEndpoint, Endpoint
from ..registry import ProviderSettings, ProviderSpec
from ..runtime import Provider

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEEPSEEK_BASE_URL = "https://api.deepseek.com"
AZURE_DEFAULT_API_VERSION = "2024-10-21"  # the GA inference version


def _provider(pid: str, flavor: str, endpoint: Endpoint, fim: str | None = None) -> Provider:
    from ..http import HttpProvider
    from . import OpenAIAdapter

    return HttpProvider(pid, OpenAIAdapter(flavor=flavor, fim=fim), endpoint)  # type: ignore[arg-type]


def build_openai(pid: str, pc: ProviderSettings | None, env: Mapping[str, str]) -> Provider:
    api_key = key(pc, env, "OPENAI_API_KEY")
    if api_key is None:
        raise missing(pid, "set OPENAI_API_KEY (or api_key in llmswitch.toml)")
    sent = headers(pc)
    org = (pc.organization if pc else None) or env.get("OPENAI_ORG_ID")
    if org:
        sent["openai-organization"] = org
    if env.get("OPENAI_PROJECT_ID"):
        sent["openai-project"] = env["OPENAI_PROJECT_ID"]
    base = base_url(pc, env, "OPENAI_BASE_URL") or OPENAI_BASE_URL
    endpoint = Endpoint(provider=pid, base_url=base, api_key=api_key, headers=sent)
    return _provider(pid, "openai", endpoint)


def build_azure(pid: str, pc: ProviderSettings | None, env: Mapping[str, str]) -> Provider:
    base = base_url(pc, env, "AZURE_OPENAI_ENDPOINT")
    if not base:
        raise missing(pid, "set AZURE_OPENAI_ENDPOINT (https://<resource>.openai.azure.com)")
    api_key = key(pc, env, "AZURE_OPENAI_API_KEY")
    token = env.get("AZURE_OPENAI_AD_TOKEN")
    if api_key is None and not token:
        raise missing(pid, "set AZURE_OPENAI_API_KEY (or AZURE_OPENAI_AD_TOKEN for Entra ID)")
    version = (pc.api_version if pc else None) or env.get("OPENAI_API_VERSION")
    endpoint = AzureEndpoint(
        provider=pid,
        base_url=base,
        api_key=api_key,
        headers=headers(pc),
        api_version=version or AZURE_DEFAULT_API_VERSION,
        token_provider=(lambda: token) if api_key is None and token else None,
    )
    return _provider(pid, "azure", endpoint)


def build_deepseek(pid: str, pc: ProviderSettings | None, env: Mapping[str, str]) -> Provider:
    from ..http import HttpProvider
    from . import DeepSeekAdapter

    api_key = key(pc, env, "DEEPSEEK_API_KEY")
    if api_key is None:
        raise missing(pid, "set DEEPSEEK_API_KEY (or api_key in llmswitch.toml)")
    base = base_url(pc, env, "DEEPSEEK_BASE_URL") or DEEPSEEK_BASE_URL
    endpoint = Endpoint(provider=pid, base_url=base, api_key=api_key, headers=headers(pc))
    return HttpProvider(pid, DeepSeekAdapter(), endpoint)


def build_compatible(pid: str, pc: ProviderSettings | None, env: Mapping[str, str]) -> Provider:
    if pc is None or not pc.base_url:
        raise missing(pid, "an openai-compatible provider needs base_url in llmswitch.toml")
    endpoint = Endpoint(provider=pid, base_url=pc.base_url, api_key=pc.api_key, headers=headers(pc))
    return _provider(pid, "compatible", endpoint, getattr(pc, "fim", None))


SPECS = (
    ProviderSpec(
        id="openai",
        kind="openai",
        build=build_openai,
        env=("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"),
        base_url=OPENAI_BASE_URL,
        base_url_env="OPENAI_BASE_URL",
    ),
    ProviderSpec(
        id="azure",
        kind="azure",
        build=build_azure,
        env=(
            "AZURE_OPENAI_ENDPOINT",
            "AZURE_OPENAI_API_KEY",
            "AZURE_OPENAI_AD_TOKEN",
            "OPENAI_API_VERSION",
        ),
        base_url_env="AZURE_OPENAI_ENDPOINT",
    ),
    ProviderSpec(
        id="deepseek",
        kind="deepseek",
        build=build_deepseek,
        env=("DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"),
        base_url=DEEPSEEK_BASE_URL,
        base_url_env="DEEPSEEK_BASE_URL",
    ),
    ProviderSpec(id=None, kind="openai-compatible", build=build_compatible),
)
