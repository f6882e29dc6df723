"""Helpers shared by the tests/test_bedrock_*.py modules: an event-stream frame encoder,
an independent SigV4 verifier (what AWS computes on its side), parser runs, and the
``aws_env`` fixture that keeps the machine's AWS settings out of the tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from llmswitch.messages import ChatRequest, to_messages
from llmswitch.providers.bedrock import BedrockAdapter
from tests.support.fixtures import Fixtures
from tests.support.loopback import Recorded, Reply
from tests.support.streams import Feeder

fixture = Fixtures("bedrock")
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MODEL_PATH = "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"

# Variables that would let the machine's AWS setup leak into a test (or a test reach
# for instance metadata): removed, and the shared files pointed at empty temp files.
AWS_VARS = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_BEARER_TOKEN_BEDROCK", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_SDK_LOAD_CONFIG",
)  # fmt: skip


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No AWS settings from the machine; empty shared files; no instance metadata."""
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    aws = tmp_path / "aws"
    aws.mkdir()
    (aws / "config").write_text("")
    (aws / "credentials").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield aws


def chat_request(model: str = MODEL, provider: str = "bedrock", **kw: Any) -> ChatRequest:
    messages = kw.pop("messages", [{"role": "user", "content": "Hi"}])
    return ChatRequest(provider=provider, model=model, messages=to_messages(messages), **kw)


# --------------------------------------------------------------------------- frames


def _header(name: str, value: str | bytes | bool | int) -> bytes:
    raw_name = name.encode()
    head = bytes([len(raw_name)]) + raw_name
    if isinstance(value, bool):
        return head + bytes([0 if value else 1])
    if isinstance(value, int):
        return head + b"\x04" + struct.pack("!i", value)
    if isinstance(value, bytes):
        return head + b"\x06" + struct.pack("!H", len(value)) + value
    raw = value.encode()
    return head + b"\x07" + struct.pack("!H", len(raw)) + raw


def frame(headers: Mapping[str, str | bytes | bool | int], payload: bytes) -> bytes:
    """One event-stream frame; CRCs by zlib.crc32 as AWS computes them."""
    raw_headers = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + raw_headers + payload
    return message + struct.pack("!I", zlib.crc32(message))


def event(name: str, body: Mapping[str, Any], *, pad: str = "abcdefghijklmnopqrstu") -> bytes:
    """An ``event`` frame as Bedrock sends it: header order, compact JSON with raw UTF-8,
    and the junk ``p`` padding field."""
    payload = json.dumps({**body, "p": pad}, ensure_ascii=False, separators=(",", ":"))
    return frame(
        {":event-type": name, ":content-type": "application/json", ":message-type": "event"},
        payload.encode(),
    )


def exception(name: str, body: Mapping[str, Any]) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    return frame(
        {
            ":exception-type": name,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        payload,
    )


# --------------------------------------------------------------------------- parsing


FEED = Feeder(BedrockAdapter, chat_request())
run_stream = FEED.run
accumulate = FEED.accumulate
parse_body = FEED.parse_body


# --------------------------------------------------------------------------- SigV4


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def expected_signature(
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    signed: list[str],
    body: bytes,
    amz_date: str,
    secret_key: str,
    region: str,
    service: str,
) -> str:
    """SigV4 as the AWS docs define it, written out independently of botocore: the
    canonical URI is the path *as received*, each segment URI-encoded again (non-S3
    services double-encode), headers lower-cased, trimmed and sorted."""
    canonical_uri = "/".join(quote(seg, safe="-_.~") for seg in raw_path.split("/")) or "/"
    pairs = sorted(tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&") if p)
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_headers = "".join(f"{h}:{' '.join(headers[h].split())}\n" for h in signed)
    canonical = "\n".join(
        [
            method,
            canonical_uri,
            canonical_query,
            canonical_headers,
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(f"AWS4{secret_key}".encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def check_sigv4(
    request: Recorded,
    *,
    raw_target: str | None = None,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    region: str = "us-east-1",
    service: str = "bedrock",
) -> None:
    """Verify a request the loopback received the way AWS would; AssertionError if not."""
    auth = request.headers["authorization"]
    algorithm, _, fields = auth.partition(" ")
    assert algorithm == "AWS4-HMAC-SHA256", auth
    parts = dict(p.strip().split("=", 1) for p in fields.split(","))
    amz_date = request.headers["x-amz-date"]
    assert parts["Credential"] == (
        f"{access_key}/{amz_date[:8]}/{region}/{service}/aws4_request"
    ), parts["Credential"]
    signed = parts["SignedHeaders"].split(";")
    assert "host" in signed and "x-amz-date" in signed, signed
    path, _, query = (raw_target or request.path).partition("?")
    if raw_target is None:
        query = "&".join(f"{k}={v}" for k, vs in request.query.items() for v in vs)
    want = expected_signature(
        method=request.method,
        raw_path=path,
        query=query,
        headers=request.headers,
        signed=signed,
        body=request.body,
        amz_date=amz_date,
        secret_key=secret_key,
        region=region,
        service=service,
    )
    assert parts["Signature"] == want, "signature does not verify"


def verifying(reply: Reply | Callable[[Recorded], Reply], **kw: Any) -> Any:
    """A loopback handler that answers like AWS: 403 when the signature is wrong, else
    ``reply`` (or what ``reply(request)`` builds)."""

    def handle(request: Recorded) -> Reply:
        try:
            check_sigv4(request, **kw)
        except (AssertionError, KeyError) as exc:
            return Reply(
                status=403,
                headers={"x-amzn-ErrorType": "InvalidSignatureException:http://internal"},
                body=json.dumps({"message": f"signature mismatch: {exc}"}).encode(),
            )
        return reply(request) if callable(reply) else reply

    return handle
