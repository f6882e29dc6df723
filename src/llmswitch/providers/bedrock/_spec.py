"""The Bedrock provider, configured from the environment and ``llmswitch.toml``.

Auth: ``api_key`` in llmswitch.toml or ``AWS_BEARER_TOKEN_BEDROCK`` (a Bedrock API key),
else SigV4 with the standard AWS credential chain, resolved on first use. Region:
``AWS_REGION``, ``AWS_DEFAULT_REGION`` or the shared profile's. Endpoints: ``base_url`` /
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` / ``AWS_ENDPOINT_URL`` for the runtime,
``AWS_ENDPOINT_URL_BEDROCK`` / ``AWS_ENDPOINT_URL`` for the control plane.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...errors import ConfigurationError
from .._build import base_url, headers, key, missing
from ..registry import ProviderSettings, ProviderSpec
from ..runtime import Provider
from ._endpoint import (
    AwsCredentialChain,
    BedrockEndpoint,
    control_url_for,
    resolve_region,
    runtime_url_for,
)


def build_provider(pid: str, pc: ProviderSettings | None, env: Mapping[str, str]) -> Provider:
    """The Bedrock provider ``pid`` from ``llmswitch.toml`` overrides (``pc``) and ``env``."""
    from ..http import HttpProvider
    from . import BedrockAdapter

    token = key(pc, env, "AWS_BEARER_TOKEN_BEDROCK")
    chain = AwsCredentialChain(env)
    try:
        region = resolve_region(env, chain)
    except ConfigurationError as exc:
        exc.provider = pid
        raise
    if region is None:
        raise missing(
            pid,
            "set AWS_REGION (or AWS_DEFAULT_REGION, or region in the AWS_PROFILE's config)",
            field="AWS_REGION",
        )
    runtime = (
        base_url(pc, env, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
        or env.get("AWS_ENDPOINT_URL")
        or runtime_url_for(region)
    )
    control = (
        env.get("AWS_ENDPOINT_URL_BEDROCK")
        or env.get("AWS_ENDPOINT_URL")
        or control_url_for(region)
    )
    endpoint = BedrockEndpoint(
        provider=pid,
        base_url=runtime,
        api_key=token,
        headers=headers(pc),
        region=region,
        control_url=control,
        credentials=None if token else chain,
    )
    return HttpProvider(pid, BedrockAdapter(), endpoint)


SPECS = (
    ProviderSpec(
        id="bedrock",
        kind="bedrock",
        build=build_provider,
        # AWS_*: the credential chain reads the whole family (keys, profile, SSO, IMDS...).
        env=(
            "AWS_BEARER_TOKEN_BEDROCK",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            "AWS_ENDPOINT_URL_BEDROCK",
        ),
        base_url_env="AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    ),
)
