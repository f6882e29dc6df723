"""Per-deployment ``base_url``/``api_key``: each such deployment gets a provider derived
from its own provider's kind, the router sends it there, and its key stays secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmswitch import Client
from llmswitch.config import load_config
from llmswitch.errors import ConfigurationError
from llmswitch.wire import Secret
from tests.support.config import write
from tests.support.loopback import Loopback, Reply

HI = [{"role": "user", "content": "hi"}]
OK = (
    b'{"id": "c1", "object": "chat.completion", "model": "m", "choices": [{"index": 0,'
    b' "message": {"role": "assistant", "content": "hello from two"},'
    b' "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 3,'
    b' "total_tokens": 6}}'
)


def test_two_deployments_of_one_kind_reach_their_own_servers_with_their_own_keys(
    tmp_path: Path,
) -> None:
    one, two = Loopback(), Loopback()
    try:
        one.route(
            "POST", "/v1/chat/completions", Reply(status=503, body=b'{"error": {"message": "x"}}')
        )
        two.route("POST", "/v1/chat/completions", OK)
        path = write(
            tmp_path,
            "[models.smart]\n"
            f'[[models.smart.deployments]]\nmodel = "openai/m1"\n'
            f'base_url = "{one.url}/v1"\napi_key = "sk-one-secret"\n'
            f'[[models.smart.deployments]]\nmodel = "openai/m2"\n'
            f'base_url = "{two.url}/v1"\napi_key = "sk-two-secret"\n',
        )
        with Client(max_retries=0, config=path) as client:
            resp = client.chat("smart", HI)
        assert resp.text == "hello from two"
        assert [r.headers["authorization"] for r in one.requests] == ["Bearer sk-one-secret"]
        assert [r.headers["authorization"] for r in two.requests] == ["Bearer sk-two-secret"]
        assert one.requests[0].json()["model"] == "m1"  # type: ignore[index]
        assert two.requests[0].json()["model"] == "m2"  # type: ignore[index]
    finally:
        one.close()
        two.close()


def test_derived_provider_keeps_the_base_settings_and_a_secret_key(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[providers.local]\nkind = "openai-compatible"\nbase_url = "http://127.0.0.1:1/v1"\n'
            'headers = { x-team = "a" }\n'
            '[models.g]\n[[models.g.deployments]]\nmodel = "local/m"\n'
            '[[models.g.deployments]]\nmodel = "local/m"\napi_key = "sk-hidden"\n'
            '[[models.g.deployments]]\nmodel = "local/m"\nbase_url = "http://127.0.0.1:2/v1"\n',
        )
    )
    first, second, third = config.models["g"].deployments
    assert first.endpoint is None  # no override: the provider itself
    assert second.endpoint == "local@g#1" and third.endpoint == "local@g#2"
    keyed = config.providers["local@g#1"]
    assert keyed.effective_kind == "openai-compatible"
    assert keyed.base_url == "http://127.0.0.1:1/v1"  # inherited
    assert dict(keyed.headers) == {"x-team": "a"}
    assert isinstance(keyed.api_key, Secret) and keyed.api_key.get() == "sk-hidden"
    assert "sk-hidden" not in repr(keyed) and "sk-hidden" not in repr(config)
    assert config.providers["local@g#2"].base_url == "http://127.0.0.1:2/v1"
    assert config.providers["local"].api_key is None  # the base provider is untouched


def test_deployment_endpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown provider 'nowhere'"):
        load_config(
            write(
                tmp_path,
                '[models.g]\n[[models.g.deployments]]\nmodel = "nowhere/m"\n'
                'base_url = "http://127.0.0.1:1/v1"\n',
            )
        )
    with pytest.raises(ConfigurationError, match="must be an http") as info:
        load_config(
            write(
                tmp_path,
                '[models.g]\n[[models.g.deployments]]\nmodel = "openai/m"\n'
                'base_url = "ftp://user:pw-secret@host"\n',
            )
        )
    assert "pw-secret" not in str(info.value)
