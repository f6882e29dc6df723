from __future__ import annotations

import json

import pytest

from llmswitch import Client, ProviderError
from tests.support.loopback import Loopback


def test_a_batch_answered_with_too_few_vectors_is_an_error(loopback: Loopback) -> None:
    one_vector = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    loopback.route("POST", "/v1/embeddings", json.dumps(one_vector).encode())
    client = Client(env={"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": loopback.url + "/v1"})
    with pytest.raises(ProviderError, match="sent 2 inputs, got 1 vectors") as info:
        client.embed("openai/text-embedding-3-small", input=["a", "b"])
    assert info.value.provider == "openai" and not info.value.retryable
