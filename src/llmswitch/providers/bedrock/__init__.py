"""The AWS Bedrock Converse / ConverseStream adapter (WIRE.md section 4).

Sans-I/O: :class:`BedrockAdapter` turns a :class:`~llmswitch.ChatRequest` into a
``POST /model/{modelId}/converse`` (or ``converse-stream``, binary event-stream frames)
and Bedrock's bytes back into llmswitch types; embeddings go through ``InvokeModel``
(Titan, Cohere) and model discovery through the control plane's ``ListFoundationModels``.
:class:`BedrockEndpoint` holds the region and URLs and signs each attempt (SigV4) unless
a Bedrock API key is used. :func:`build_provider` configures all of it from the
environment (DESIGN.md section 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ...errors import ConfigurationError
from ...messages import ChatRequest, EmbeddingResponse, EmbedRequest
from ...wire import HttpRequest, HttpResponse, Secret
from .._hints import expect_field
from ..base import AdapterBase, ChatWire, Endpoint
from . import _embed, _errors, _request, _response
from ._endpoint import (
    AwsCredentialChain,
    BedrockEndpoint,
    control_url_for,
    resolve_region,
    runtime_url_for,
)
from ._stream import BedrockStreamParser

if TYPE_CHECKING:
    from ...config import ProviderConfig
    from ..http import HttpProvider

__all__ = ["BedrockAdapter", "BedrockEndpoint", "BedrockStreamParser", "build_provider"]


class BedrockAdapter(AdapterBase):
    """Stateless; one instance serves every request and thread."""

    __slots__ = ()

    wire = ChatWire(
        _request.build_request, _response.parse_response, BedrockStreamParser,
        _errors.map_error, _request.models_request, _response.parse_models,
    )  # fmt: skip

    # Titan embeds one text per request, Cohere 96: see embed_batch_size_for().
    embed_batch_size = 1

    def health_request(self, endpoint: Endpoint) -> HttpRequest:
        return _request.health_request(endpoint)  # Bedrock reports no version

    def check_health(self, response: HttpResponse) -> None:
        """ListFoundationModels must answer ``{"modelSummaries": [...]}``."""
        expect_field(response, "modelSummaries", list, "a Bedrock foundation-models list")

    def count_tokens_request(self, request: ChatRequest, endpoint: Endpoint) -> HttpRequest:
        return _request.count_tokens_request(request, endpoint)

    def parse_count_tokens(self, response: HttpResponse) -> int:
        return _response.parse_count_tokens(response)

    def embed_batch_size_for(self, model: str) -> int:
        return _embed.batch_size(model)

    def build_embed_request(self, request: EmbedRequest, endpoint: Endpoint) -> HttpRequest:
        return _embed.build_embed_request(request, endpoint)

    def parse_embed_response(
        self, request: EmbedRequest, response: HttpResponse
    ) -> EmbeddingResponse:
        return _embed.parse_embed_response(request, response)


def build_provider(pid: str, pc: ProviderConfig | None, env: Mapping[str, str]) -> HttpProvider:
    """Bedrock as configured by the environment and ``llmswitch.toml``.

    Auth: ``api_key`` in llmswitch.toml or ``AWS_BEARER_TOKEN_BEDROCK`` (a Bedrock API key),
    else SigV4 with the standard AWS credential chain, resolved on first use. Region:
    ``AWS_REGION``, ``AWS_DEFAULT_REGION`` or the shared profile's. Endpoints:
    ``base_url`` / ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` / ``AWS_ENDPOINT_URL`` for the
    runtime, ``AWS_ENDPOINT_URL_BEDROCK`` / ``AWS_ENDPOINT_URL`` for the control plane.
    """
    from ..http import HttpProvider

    token = (pc.api_key if pc is not None and pc.api_key else None) or (
        Secret(env["AWS_BEARER_TOKEN_BEDROCK"]) if env.get("AWS_BEARER_TOKEN_BEDROCK") else None
    )
    chain = AwsCredentialChain(env)
    try:
        region = resolve_region(env, chain)
    except ConfigurationError as exc:
        exc.provider = pid
        raise
    if region is None:
        raise ConfigurationError(
            f"provider {pid!r} is not configured: set AWS_REGION (or AWS_DEFAULT_REGION, or "
            "region in the AWS_PROFILE's config)",
            field="AWS_REGION",
            provider=pid,
        )
    runtime = (
        (pc.base_url if pc is not None else None)
        or env.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
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
        headers=dict(pc.headers) if pc is not None else {},
        region=region,
        control_url=control,
        credentials=None if token else chain,
    )
    return HttpProvider(pid, BedrockAdapter(), endpoint)
