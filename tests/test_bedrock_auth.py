"""Bedrock configuration and request signing: region and endpoint resolution, Bedrock API
keys, SigV4 checked by an independent verifier (what AWS computes), the credential chain
(environment, shared profile, refreshing credential_process), and secrets kept out of
reprs and errors."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.auth
import pytest

from llmswitch import Client
from llmswitch.config import ProviderConfig
from llmswitch.errors import AuthenticationError, ConfigurationError
from llmswitch.providers.bedrock import BedrockEndpoint
from llmswitch.providers.bedrock._spec import build_provider
from llmswitch.providers.http import HttpProvider
from llmswitch.wire import HttpRequest, Secret
from tests.support.bedrock import (
    ACCESS_KEY,
    MODEL,
    MODEL_PATH,
    SECRET_KEY,
    chat_request,
    check_sigv4,
    fixture,
    verifying,
)
from tests.support.loopback import Loopback, Recorded, Reply

pytestmark = pytest.mark.usefixtures("aws_env")

KEYS = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
TOKEN = "IQoJb3JpZ2luX2VjEHMaCXVzLWVhc3QtMSJHMEUCIQD-session-token-example"


def provider(env: dict[str, str], pc: ProviderConfig | None = None) -> HttpProvider:
    return build_provider("bedrock", pc, env)


def endpoint(env: dict[str, str], pc: ProviderConfig | None = None) -> BedrockEndpoint:
    ep = provider(env, pc).endpoint
    assert isinstance(ep, BedrockEndpoint)
    return ep


def signed(env: dict[str, str]) -> HttpRequest:
    p = provider(env)
    http = p.adapter.build_request(chat_request(), p.endpoint, stream=False)
    return p.endpoint.prepare(http)


def as_received(http: HttpRequest) -> Recorded:
    """What a server would see: the URL's raw path and a Host header from the URL."""
    url = urlsplit(http.url)
    headers = {k.lower(): v for k, v in http.headers.items()}
    headers["host"] = url.netloc
    return Recorded(http.method, url.path, parse_qs(url.query), headers, http.body or b"")


def freeze(monkeypatch: pytest.MonkeyPatch, when: datetime.datetime) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: when)


# --------------------------------------------------------------------------- configuration


def test_region_precedence(aws_env: Path) -> None:
    (aws_env / "config").write_text("[default]\nregion = ap-southeast-2\n")
    files = {"AWS_CONFIG_FILE": str(aws_env / "config")}
    assert (
        endpoint({**files, "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}).region
        == "eu-west-1"
    )
    assert endpoint({**files, "AWS_DEFAULT_REGION": "us-west-2"}).region == "us-west-2"
    ep = endpoint(files)
    assert ep.region == "ap-southeast-2"
    assert ep.base_url == "https://bedrock-runtime.ap-southeast-2.amazonaws.com"
    assert ep.control_url == "https://bedrock.ap-southeast-2.amazonaws.com"


def test_missing_region_names_aws_region() -> None:
    with pytest.raises(ConfigurationError) as info:
        provider(dict(KEYS))
    assert "AWS_REGION" in str(info.value) and info.value.provider == "bedrock"


def test_endpoint_overrides() -> None:
    env = {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://proxy:1"}
    assert (endpoint(env).base_url, endpoint(env).control_url) == ("http://proxy:1",) * 2
    env |= {
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://runtime:2",
        "AWS_ENDPOINT_URL_BEDROCK": "http://control:3",
    }
    assert (endpoint(env).base_url, endpoint(env).control_url) == (
        "http://runtime:2",
        "http://control:3",
    )
    pc = ProviderConfig(id="bedrock", base_url="http://toml:4")
    assert endpoint(env, pc).base_url == "http://toml:4"


def test_bearer_api_key_is_sent_as_is_and_not_signed() -> None:
    http = signed({"AWS_REGION": "us-east-1", "AWS_BEARER_TOKEN_BEDROCK": "ABSKbedrock-key-1234"})
    assert http.headers["authorization"] == "Bearer ABSKbedrock-key-1234"
    assert not any(k.lower() == "x-amz-date" for k in http.headers)


def test_api_key_in_llmswitch_toml_wins_over_the_environment() -> None:
    pc = ProviderConfig(id="bedrock", api_key=Secret("ABSKfrom-toml-5678"))
    ep = endpoint({"AWS_REGION": "us-east-1", "AWS_BEARER_TOKEN_BEDROCK": "ABSKenv"}, pc)
    assert ep.request_headers()["authorization"] == "Bearer ABSKfrom-toml-5678"


def test_building_a_provider_with_a_bearer_key_does_not_import_botocore() -> None:
    code = (
        "import sys, llmswitch\n"
        "from llmswitch.providers.bedrock._spec import build_provider\n"
        "p = build_provider('bedrock', None, {'AWS_REGION': 'us-east-1', "
        "'AWS_BEARER_TOKEN_BEDROCK': 'k'})\n"
        "p.adapter.build_request\n"
        "print('botocore' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- SigV4


def test_sigv4_verifies_like_aws_would() -> None:
    http = signed({"AWS_REGION": "us-east-1", **KEYS})
    assert http.url.endswith(f"/model/{MODEL_PATH}/converse")  # signed over the encoded path
    check_sigv4(as_received(http))
    auth = http.headers["Authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/us-east-1/bedrock/aws4_request" in auth  # signing name bedrock, not bedrock-runtime


def test_a_tampered_request_does_not_verify() -> None:
    http = signed({"AWS_REGION": "us-east-1", **KEYS})
    received = as_received(http)
    received.path = received.path.replace("%3A", ":")  # what a re-quoting client would send
    with pytest.raises(AssertionError):
        check_sigv4(received)


def test_each_attempt_gets_a_fresh_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    p = provider({"AWS_REGION": "us-east-1", **KEYS})
    http = p.adapter.build_request(chat_request(), p.endpoint, stream=False)
    freeze(monkeypatch, datetime.datetime(2025, 1, 2, 3, 4, 5))
    first = p.endpoint.prepare(http)
    freeze(monkeypatch, datetime.datetime(2025, 1, 2, 3, 9, 5))
    second = p.endpoint.prepare(http)
    assert (first.headers["X-Amz-Date"], second.headers["X-Amz-Date"]) == (
        "20250102T030405Z",
        "20250102T030905Z",
    )
    assert first.headers["Authorization"] != second.headers["Authorization"]
    assert "authorization" not in {k for k in http.headers}  # the unsigned request is untouched
    check_sigv4(as_received(second))


def test_session_token_is_sent_and_signed() -> None:
    http = signed({"AWS_REGION": "us-east-1", **KEYS, "AWS_SESSION_TOKEN": TOKEN})
    assert http.headers["X-Amz-Security-Token"] == TOKEN
    assert "x-amz-security-token" in http.headers["Authorization"]
    check_sigv4(as_received(http))


def test_signature_equals_botocore_clients_for_the_same_request(
    monkeypatch: pytest.MonkeyPatch, loopback: Loopback
) -> None:
    """boto3 sends Converse to the loopback at a frozen time; signing the very bytes it sent
    (same URL, headers and body) with our endpoint gives the same Authorization."""
    import boto3
    from botocore.config import Config

    when = datetime.datetime(2025, 6, 1, 12, 0, 0)
    freeze(monkeypatch, when)
    loopback.route("POST", f"/model/{MODEL_PATH}/converse", fixture("text.json"))
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        endpoint_url=loopback.url,
        config=Config(retries={"max_attempts": 1}),
    )
    client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    sent = loopback.requests[0]
    assert sent.path == f"/model/{MODEL_PATH}/converse"  # botocore encodes ':' too
    check_sigv4(sent)  # the independent verifier agrees with botocore's client

    signed_names = sent.headers["authorization"].split("SignedHeaders=")[1].split(",")[0]
    headers = {
        h: sent.headers[h] for h in signed_names.split(";") if h not in ("host", "x-amz-date")
    }
    ep = endpoint({"AWS_REGION": "us-east-1", **KEYS, "AWS_ENDPOINT_URL": loopback.url})
    ours = ep.prepare(HttpRequest("POST", loopback.url + sent.path, headers, sent.body))
    assert ours.headers["Authorization"] == sent.headers["authorization"]
    assert ours.headers["X-Amz-Date"] == sent.headers["x-amz-date"]


# --------------------------------------------------------------------------- credential chain


def test_credentials_from_a_shared_profile(aws_env: Path) -> None:
    (aws_env / "credentials").write_text(
        "[default]\naws_access_key_id = AKIADEFAULT000000000\naws_secret_access_key = nope\n"
        f"[dev]\naws_access_key_id = AKIADEVPROFILE000000\naws_secret_access_key = {SECRET_KEY}\n"
    )
    (aws_env / "config").write_text("[profile dev]\nregion = eu-west-3\n")
    env = {
        "AWS_PROFILE": "dev",
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_env / "credentials"),
        "AWS_CONFIG_FILE": str(aws_env / "config"),
    }
    http = signed(env)
    assert "bedrock-runtime.eu-west-3.amazonaws.com" in http.url
    check_sigv4(as_received(http), access_key="AKIADEVPROFILE000000", region="eu-west-3")


def test_credentials_are_resolved_lazily_and_kept(aws_env: Path) -> None:
    creds = aws_env / "credentials"
    env = {"AWS_REGION": "us-east-1", "AWS_SHARED_CREDENTIALS_FILE": str(creds)}
    p = provider(env)  # nothing to find yet: building must not fail
    creds.write_text(
        f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    http = p.adapter.build_request(chat_request(), p.endpoint, stream=False)
    check_sigv4(as_received(p.endpoint.prepare(http)))
    creds.write_text(
        "[default]\naws_access_key_id = AKIACHANGED000000000\naws_secret_access_key = x\n"
    )
    check_sigv4(as_received(p.endpoint.prepare(http)))  # the resolved credentials are kept


def test_refreshing_credentials_are_frozen_per_signature(aws_env: Path) -> None:
    """A credential_process whose credentials are always about to expire: botocore
    refreshes them on every use, and each signature uses one consistent set."""
    counter = aws_env / "count"
    script = aws_env / "creds.py"
    script.write_text(
        "import datetime, json, pathlib\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': f'ASIAROTATING{n:08d}',\n"
        f"  'SecretAccessKey': {SECRET_KEY!r} + str(n), 'SessionToken': f'token-{{n}}',\n"
        "  'Expiration': exp.isoformat()}))\n"
    )
    (aws_env / "config").write_text(
        f"[profile rotating]\nregion = us-east-1\ncredential_process = {sys.executable} {script}\n"
    )
    p = provider({"AWS_PROFILE": "rotating", "AWS_CONFIG_FILE": str(aws_env / "config")})
    http = p.adapter.build_request(chat_request(), p.endpoint, stream=False)
    seen = []
    for _ in range(2):
        out = p.endpoint.prepare(http)
        key = out.headers["Authorization"].split("Credential=")[1].split("/")[0]
        n = key[-1]
        assert out.headers["X-Amz-Security-Token"] == f"token-{n}"
        check_sigv4(as_received(out), access_key=key, secret_key=SECRET_KEY + n)
        seen.append(key)
    assert seen[0] != seen[1]


def test_unknown_profile_names_aws_profile() -> None:
    with pytest.raises(ConfigurationError) as info:
        provider({"AWS_PROFILE": "does-not-exist"})
    assert info.value.field == "AWS_PROFILE" and "does-not-exist" in str(info.value)


def test_no_credentials_is_a_configuration_error_before_sending(loopback: Loopback) -> None:
    env = {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": loopback.url}
    with Client(env=env) as client, pytest.raises(ConfigurationError) as info:
        client.chat(f"bedrock/{MODEL}", [{"role": "user", "content": "hi"}])
    message = str(info.value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"):
        assert name in message
    assert info.value.provider == "bedrock" and loopback.requests == []


# --------------------------------------------------------------------------- secrets


def test_secrets_stay_out_of_reprs() -> None:
    env = {"AWS_REGION": "us-east-1", **KEYS, "AWS_SESSION_TOKEN": TOKEN}
    p = provider(env)
    p.endpoint.prepare(p.adapter.build_request(chat_request(), p.endpoint, stream=False))
    bearer = provider({"AWS_REGION": "us-east-1", "AWS_BEARER_TOKEN_BEDROCK": "ABSKsecret-bearer"})
    for text in (repr(p), repr(p.endpoint), str(p.endpoint), repr(bearer.endpoint)):
        for secret in (SECRET_KEY, TOKEN, "ABSKsecret-bearer"):
            assert secret not in text


def test_credentials_echoed_by_the_server_are_scrubbed_from_errors(loopback: Loopback) -> None:
    echo: dict[str, Any] = {
        "message": f"The security token {TOKEN} for {ACCESS_KEY} (secret {SECRET_KEY}) is invalid"
    }
    loopback.route(
        "POST",
        f"/model/{MODEL_PATH}/converse",
        Reply(
            status=403,
            headers={"x-amzn-ErrorType": "UnrecognizedClientException:http://internal"},
            body=json.dumps(echo).encode(),
        ),
    )
    env = {"AWS_REGION": "us-east-1", **KEYS, "AWS_SESSION_TOKEN": TOKEN,
           "AWS_ENDPOINT_URL": loopback.url}  # fmt: skip
    with Client(env=env) as client, pytest.raises(AuthenticationError) as info:
        client.chat(f"bedrock/{MODEL}", [{"role": "user", "content": "hi"}])
    err = info.value
    for text in (str(err), repr(err), err.body or ""):
        assert TOKEN not in text and SECRET_KEY not in text and ACCESS_KEY not in text


def test_loopback_verifier_rejects_a_wrong_secret(loopback: Loopback) -> None:
    # The e2e tests rely on this handler acting like AWS; prove it can say no.
    loopback.route(
        "POST",
        f"/model/{MODEL_PATH}/converse",
        handler=verifying(Reply(body=fixture("text.json")), secret_key="some-other-secret"),
    )
    env = {"AWS_REGION": "us-east-1", **KEYS, "AWS_ENDPOINT_URL": loopback.url}
    with Client(env=env) as client, pytest.raises(AuthenticationError):
        client.chat(f"bedrock/{MODEL}", [{"role": "user", "content": "hi"}])
