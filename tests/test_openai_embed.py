"""Embeddings on the OpenAI wire format: request building per flavor, base64 and float
parsing (checked against the official SDK reading the same bytes), index order, and
end to end through Client/AsyncClient with batching."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import openai
import pytest

from llmswitch import AsyncClient, Client, ProviderConfig
from llmswitch.errors import ProviderError, RateLimitError
from llmswitch.messages import EmbedRequest
from llmswitch.providers.base import AzureEndpoint, Endpoint
from llmswitch.providers.openai import OpenAIAdapter
from llmswitch.providers.openai._embed import decode_base64_vector
from llmswitch.wire import HttpResponse, Secret
from tests.support.loopback import Loopback, Recorded, Reply
from tests.support.openai import fixture
from tests.support.upstreams import OPENAI

KEY = "sk-proj-embedKey0123456789abcdefABCDEF"
AZURE_KEY = "0123456789abcdef0123456789abcdef"
MODEL = "text-embedding-3-small"

# The values the fixtures were made from: float32 rounding (0.1), signed zero, the
# smallest subnormal, the largest float32, whole numbers.
SOURCE = [
    [0.1, -0.0, 1.0, -1.5, 1e-45, 3.4028234663852886e38, -0.0072265625, 0.033203125],
    [-0.25, 0.5, 0.007, -0.0123, 0.0, 2.0, -3.0, 0.999],
    [0.3333, -0.6667, 0.125, -0.125, 1e-7, -1e-7, 42.0, -42.0],
]


def as_float32(values: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def embed_request(provider: str = "openai", n: int = 3, **kw: Any) -> EmbedRequest:
    return EmbedRequest(
        provider=provider,
        model=kw.pop("model", MODEL),
        inputs=tuple(f"t{i}" for i in range(n)),
        **kw,
    )


def parse(name_or_body: str | bytes, request: EmbedRequest | None = None) -> Any:
    body = fixture(name_or_body) if isinstance(name_or_body, str) else name_or_body
    response = HttpResponse(status=200, headers={"content-type": "application/json"}, body=body)
    return OpenAIAdapter().parse_embed_response(request or embed_request(), response)


def body_of(http: Any) -> Any:
    return json.loads(http.body)


# ---------------------------------------------------------------------- requests


def test_openai_request_asks_for_base64() -> None:
    endpoint = Endpoint(
        provider="openai", base_url="https://api.openai.com/v1", api_key=Secret(KEY)
    )
    http = OpenAIAdapter().build_embed_request(embed_request(n=2), endpoint)
    assert (http.method, http.url) == ("POST", "https://api.openai.com/v1/embeddings")
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert body_of(http) == {"model": MODEL, "input": ["t0", "t1"], "encoding_format": "base64"}


def test_options_extra_body_and_headers() -> None:
    endpoint = Endpoint(
        provider="openai", base_url="https://api.openai.com/v1", api_key=Secret(KEY)
    )
    request = embed_request(
        n=1, dimensions=256, user="user-42", input_type="query",
        extra_body={"encoding_format": None, "truncate": True}, extra_headers={"x-trace": "abc"},
    )  # fmt: skip
    http = OpenAIAdapter().build_embed_request(request, endpoint)
    # input_type has no OpenAI field: not sent. None in extra_body removes a field we set.
    assert body_of(http) == {
        "model": MODEL, "input": ["t0"], "dimensions": 256, "user": "user-42", "truncate": True,
    }  # fmt: skip
    assert http.headers["x-trace"] == "abc"


def test_azure_classic_uses_the_deployment_url() -> None:
    endpoint = AzureEndpoint(
        provider="azure", base_url="https://res.openai.azure.com/", api_key=Secret(AZURE_KEY),
        api_version="2024-10-21",
    )  # fmt: skip
    http = OpenAIAdapter("azure").build_embed_request(
        embed_request("azure", model="my embed"), endpoint
    )
    assert http.url == (
        "https://res.openai.azure.com/openai/deployments/my%20embed/embeddings?api-version=2024-10-21"
    )
    assert http.headers["api-key"] == AZURE_KEY and "authorization" not in http.headers
    assert body_of(http)["encoding_format"] == "base64"


def test_azure_v1_uses_openai_paths() -> None:
    endpoint = AzureEndpoint(
        provider="azure", base_url="https://res.openai.azure.com/openai/v1", api_key=Secret(AZURE_KEY),
    )  # fmt: skip
    http = OpenAIAdapter("azure").build_embed_request(embed_request("azure"), endpoint)
    assert http.url == "https://res.openai.azure.com/openai/v1/embeddings"
    assert body_of(http)["model"] == MODEL


def test_compatible_server_asks_for_floats() -> None:
    endpoint = Endpoint(provider="ollama", base_url="http://127.0.0.1:11434/v1")
    request = embed_request("ollama", n=1, model="nomic-embed-text", dimensions=64)
    http = OpenAIAdapter("compatible").build_embed_request(request, endpoint)
    assert http.url == "http://127.0.0.1:11434/v1/embeddings"
    assert "authorization" not in http.headers
    assert body_of(http) == {
        "model": "nomic-embed-text", "input": ["t0"], "dimensions": 64, "encoding_format": "float",
    }  # fmt: skip


def _sdk_request(make_client: Callable[[httpx.Client], Any], **create: Any) -> httpx.Request:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=fixture("embed_openai_base64.json"))

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        make_client(http).embeddings.create(**create)
    return seen[0]


def test_request_matches_what_the_openai_sdk_sends() -> None:
    sdk = _sdk_request(
        lambda http: openai.OpenAI(api_key=KEY, base_url="https://api.openai.com/v1", http_client=http),
        model=MODEL, input=["t0", "t1", "t2"], dimensions=8, user="u1",
    )  # fmt: skip
    endpoint = Endpoint(
        provider="openai", base_url="https://api.openai.com/v1", api_key=Secret(KEY)
    )
    ours = OpenAIAdapter().build_embed_request(embed_request(dimensions=8, user="u1"), endpoint)
    assert ours.url == str(sdk.url)
    assert body_of(ours) == json.loads(sdk.content)
    assert ours.headers["authorization"] == sdk.headers["authorization"]


def test_azure_request_matches_what_the_openai_sdk_sends() -> None:
    sdk = _sdk_request(
        lambda http: openai.AzureOpenAI(
            api_key=AZURE_KEY, azure_endpoint="https://res.openai.azure.com",
            api_version="2024-10-21", http_client=http,
        ),
        model="my-embed", input=["t0", "t1", "t2"],
    )  # fmt: skip
    endpoint = AzureEndpoint(
        provider="azure", base_url="https://res.openai.azure.com", api_key=Secret(AZURE_KEY),
        api_version="2024-10-21",
    )  # fmt: skip
    ours = OpenAIAdapter("azure").build_embed_request(
        embed_request("azure", model="my-embed"), endpoint
    )
    assert ours.url == str(sdk.url)
    assert body_of(ours) == json.loads(sdk.content)
    assert ours.headers["api-key"] == sdk.headers["api-key"]


# ---------------------------------------------------------------------- parsing


def test_base64_decodes_to_the_float32_values() -> None:
    resp = parse("embed_openai_base64.json")
    assert resp.vectors == [as_float32(v) for v in SOURCE]
    assert resp.vectors[0][0] == 0.10000000149011612  # float32, widened like the SDK does
    assert struct.pack("<d", resp.vectors[0][1]) == struct.pack("<d", -0.0)  # sign kept
    assert (
        resp.vectors[0][4] == 1.401298464324817e-45 and resp.vectors[0][5] == 3.4028234663852886e38
    )
    assert all(type(x) is float for v in resp.vectors for x in v)
    assert (resp.model, resp.provider) == (MODEL, "openai")
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.total_tokens) == (9, 0, 9)
    assert resp.raw["data"][0]["object"] == "embedding"


def test_float_body_parses_to_plain_floats() -> None:
    resp = parse("embed_openai_float.json")
    # the text is the shortest that reads back as the same float32; kept as written
    assert resp.vectors[0][:4] == [0.1, -0.0, 1.0, -1.5]
    assert [as_float32(v) for v in resp.vectors] == [as_float32(v) for v in SOURCE]
    # Go writes 0.0 as 0 and 2.0 as 2: still floats for the caller
    ollama = parse(
        "embed_ollama_float.json", embed_request("ollama", n=2, model="nomic-embed-text")
    )
    assert ollama.vectors[1][4:7] == [0.0, 2.0, -3.0]
    assert all(type(x) is float for v in ollama.vectors for x in v)
    assert ollama.model == "nomic-embed-text" and ollama.usage.input_tokens == 5


def test_base64_helper_rejects_partial_floats() -> None:
    assert decode_base64_vector(base64.b64encode(struct.pack("<2f", 1.5, -2.0)).decode()) == [
        1.5,
        -2.0,
    ]
    with pytest.raises(ValueError):
        decode_base64_vector(base64.b64encode(b"\x00\x00\x80").decode())


SDK_CASES = [
    ("embed_openai_base64.json", {}),  # the SDK's default: base64, decoded by the SDK
    ("embed_azure.json", {}),
    ("embed_out_of_order.json", {}),
    ("embed_openai_float.json", {"encoding_format": "float"}),
    ("embed_ollama_float.json", {"encoding_format": "float"}),
    ("embed_llamacpp_float.json", {"encoding_format": "float"}),
    ("embed_ollama_float.json", {}),  # asked for base64, a server that ignores it sends floats
]


@pytest.mark.parametrize(("name", "options"), SDK_CASES)
def test_agrees_with_the_openai_sdk(name: str, options: dict[str, Any]) -> None:
    body = fixture(name)
    with httpx.Client(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body))
    ) as http:
        client = openai.OpenAI(api_key=KEY, base_url="http://sdk.test/v1", http_client=http)
        sdk = client.embeddings.create(model=MODEL, input=["a"], **options)
    ours = parse(name)
    # the SDK keeps the server's order; each item's index says where it belongs
    assert ours.vectors == [d.embedding for d in sorted(sdk.data, key=lambda d: d.index)]
    assert ours.model == sdk.model
    assert ours.usage.input_tokens == sdk.usage.prompt_tokens
    assert ours.usage.total_tokens == sdk.usage.total_tokens


def test_out_of_order_items_are_put_in_index_order() -> None:
    resp = parse("embed_out_of_order.json")
    assert resp.vectors == [as_float32(v) for v in SOURCE]
    assert [d["index"] for d in resp.raw["data"]] == [2, 0, 1]  # raw stays as received


def test_items_without_index_keep_their_position() -> None:
    body = b'{"data":[{"embedding":[1,2]},{"embedding":[3,4]}]}'
    resp = parse(body, embed_request(n=2))
    assert resp.vectors == [[1.0, 2.0], [3.0, 4.0]]
    # no usage: unknown, not zero; no model: the one asked for
    assert resp.usage.input_tokens is None and resp.usage.output_tokens is None
    assert resp.model == MODEL


def test_usage_without_total() -> None:
    resp = parse(b'{"data":[{"index":0,"embedding":[1]}],"usage":{"prompt_tokens":7}}')
    assert (resp.usage.input_tokens, resp.usage.total_tokens) == (7, 7)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>oops</html>",
        b"[]",
        b'{"object":"list"}',
        b'{"data":[]}',
        b'{"data":[{"index":0}]}',
        b'{"data":[{"index":0,"embedding":null}]}',
        b'{"data":[{"index":0,"embedding":[0.1,null]}]}',
        b'{"data":[{"index":0,"embedding":"AACA"}]}',  # 3 bytes: not a float32
        b'{"data":[{"index":0,"embedding":"%%%%"}]}',
        b'{"data":["x"]}',
        b'{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}',  # duplicate
        b'{"data":[{"index":0,"embedding":[1]},{"index":2,"embedding":[2]}]}',  # gap
    ],
)
def test_malformed_bodies_raise_with_the_bytes_kept(body: bytes) -> None:
    with pytest.raises(ProviderError) as info:
        parse(body)
    err = info.value
    assert err.code == "malformed_response" and err.retryable is False
    assert (err.provider, err.model) == ("openai", MODEL)
    assert err.body is not None and err.body[:10] == body[:10].decode()


def test_error_object_in_a_200_body() -> None:
    body = (
        b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}'
    )
    with pytest.raises(RateLimitError) as info:
        parse(body)
    assert (info.value.provider, info.value.model) == ("openai", MODEL)


def test_models_list_marks_embedding_models() -> None:
    endpoint = Endpoint(provider="openai", base_url="http://localhost/v1")
    response = HttpResponse(status=200, headers={}, body=fixture("models_openai.json"))
    found = {m.id: m for m in OpenAIAdapter().parse_models(endpoint, response)[0]}
    assert found["text-embedding-3-small"].supports_embeddings is True
    assert found["gpt-4o-mini"].supports_embeddings is False  # a catalog chat model
    body = json.dumps({"data": [
        {"id": "text-embedding-ada-002", "capabilities": {"embeddings": True, "chat_completion": False}},
        {"id": "gpt-4o", "capabilities": {"embeddings": False, "chat_completion": True}},
        {"id": "qwen3:8b"},
        {"id": "mxbai-embed-large:latest"},
    ]}).encode()  # fmt: skip
    azure = OpenAIAdapter("azure").parse_models(
        Endpoint(provider="x", base_url="http://h"), HttpResponse(status=200, headers={}, body=body)
    )[0]
    assert [m.supports_embeddings for m in azure] == [True, False, None, True]


# ---------------------------------------------------------------------- end to end

N = 5000


def vector_for(text: str) -> list[float]:
    """A vector that says which input it belongs to (all exact in float32)."""
    i = int(text[1:])
    return [float(i), i + 0.5, -float(i)]


def embeddings_server(
    loopback: Loopback, path: str = "/v1/embeddings", fail_at: str | None = None
) -> None:
    """Answer each batch from its own inputs, in reversed item order, in the format asked
    for: replies do not depend on which request arrives first."""

    def handle(recorded: Recorded) -> Reply:
        body = recorded.json()
        assert isinstance(body, dict)
        inputs: list[str] = body["input"]
        if fail_at is not None and fail_at in inputs:
            return Reply(
                status=429,
                body=b'{"error":{"message":"Rate limit reached for ' + KEY.encode()
                + b'","type":"requests","code":"rate_limit_exceeded"}}',
            )  # fmt: skip
        items = []
        for index, text in enumerate(inputs):
            vec = vector_for(text)
            embedding: Any = vec
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
            items.append({"object": "embedding", "index": index, "embedding": embedding})
        reply = {
            "object": "list",
            "data": items[::-1],
            "model": body["model"],
            "usage": {"prompt_tokens": 2 * len(inputs), "total_tokens": 2 * len(inputs)},
        }
        return Reply(body=json.dumps(reply).encode())

    loopback.route("POST", path, handler=handle)


openai_env = partial(OPENAI.env, key=KEY)


TEXTS = [f"t{i}" for i in range(N)]


def check_batched(loopback: Loopback, resp: Any, *, ordered: bool) -> None:
    bodies = [r.json() for r in loopback.requests]
    sizes = [len(b["input"]) for b in bodies]
    assert (sizes if ordered else sorted(sizes, reverse=True)) == [2048, 2048, 904]
    # every input sent exactly once, every batch with the options
    assert sorted(t for b in bodies for t in b["input"]) == sorted(TEXTS)
    assert all(b["dimensions"] == 3 and b["encoding_format"] == "base64" for b in bodies)
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in loopback.requests)
    assert resp.vectors == [vector_for(t) for t in TEXTS]
    assert resp.usage.input_tokens == 2 * N and resp.usage.total_tokens == 2 * N
    assert resp.model == MODEL and resp.provider == "openai"


def test_client_batches_and_reassembles_in_order(loopback: Loopback) -> None:
    embeddings_server(loopback)
    with Client(env=openai_env(loopback)) as client:
        resp = client.embed(f"openai/{MODEL}", input=TEXTS, dimensions=3)
    check_batched(loopback, resp, ordered=True)


async def test_async_client_batches_and_reassembles_in_order(loopback: Loopback) -> None:
    embeddings_server(loopback)
    async with AsyncClient(env=openai_env(loopback)) as client:
        resp = await client.embed(f"openai/{MODEL}", input=TEXTS, dimensions=3)
    check_batched(loopback, resp, ordered=False)


def test_single_string_input(loopback: Loopback) -> None:
    embeddings_server(loopback)
    with Client(env=openai_env(loopback)) as client:
        resp = client.embed(f"openai/{MODEL}", input="t7")
    assert resp.vectors == [[7.0, 7.5, -7.0]] and len(loopback.requests) == 1
    assert loopback.requests[0].json() == {
        "model": MODEL,
        "input": ["t7"],
        "encoding_format": "base64",
    }


def test_error_in_a_later_batch_names_provider_and_model(loopback: Loopback) -> None:
    embeddings_server(loopback, fail_at="t2048")  # the second batch
    with Client(env=openai_env(loopback)) as client, pytest.raises(RateLimitError) as info:
        client.embed(f"openai/{MODEL}", input=TEXTS)
    err = info.value
    assert (err.provider, err.model, err.status_code) == ("openai", MODEL, 429)
    assert KEY not in str(err) and KEY not in repr(err) and KEY not in (err.body or "")
    assert len(loopback.requests) == 2  # the third batch is never sent


async def test_async_error_in_a_later_batch_names_provider_and_model(loopback: Loopback) -> None:
    embeddings_server(loopback, fail_at="t4999")  # the last batch
    async with AsyncClient(env=openai_env(loopback)) as client:
        with pytest.raises(RateLimitError) as info:
            await client.embed(f"openai/{MODEL}", input=TEXTS)
    err = info.value
    assert (err.provider, err.model, err.status_code) == ("openai", MODEL, 429)
    assert KEY not in str(err) and KEY not in (err.body or "")


def test_azure_end_to_end(loopback: Loopback) -> None:
    embeddings_server(loopback, path="/openai/deployments/my-embed/embeddings")
    env = {
        "AZURE_OPENAI_API_KEY": AZURE_KEY,
        "AZURE_OPENAI_ENDPOINT": loopback.url,
        "OPENAI_API_VERSION": "2024-10-21",
    }
    with Client(env=env) as client:
        resp = client.embed("azure/my-embed", input=["t1", "t2"])
    sent = loopback.requests[0]
    assert sent.query == {"api-version": ["2024-10-21"]} and sent.headers["api-key"] == AZURE_KEY
    assert resp.vectors == [vector_for("t1"), vector_for("t2")] and resp.provider == "azure"


async def test_compatible_server_end_to_end_in_floats(loopback: Loopback) -> None:
    embeddings_server(loopback)
    ollama = ProviderConfig(id="local", kind="openai-compatible", base_url=loopback.url + "/v1")
    async with AsyncClient(providers=[ollama]) as client:
        resp = await client.embed("local/nomic-embed-text", input=["t3", "t4"])
    body = loopback.requests[0].json()
    assert isinstance(body, dict) and body["encoding_format"] == "float"
    assert resp.vectors == [vector_for("t3"), vector_for("t4")]
    assert resp.provider == "local" and resp.model == "nomic-embed-text"
