"""AWS KMS KEK: boto3 against moto in server mode on loopback (never the in-process
mock), found through AWS_ENDPOINT_URL_KMS as users would point it elsewhere."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from llmswitch.errors import ConfigurationError, KEKUnavailableError, KeyDecryptionError
from llmswitch.keys.envelope import RecordRef, fingerprint, open_envelope, reseal, seal
from llmswitch.keys.kek import KeyRing, keyring
from tests.support.kms import AWS_TEST_ENV, MotoKms, moto_kms

REF = RecordRef(id="key_000000000000000000b1", provider="openai", owner="alice")
SECRET = "sk-proj-aws-kms-test-value-0123456789"
FP = fingerprint(SECRET)


@pytest.fixture(scope="module")
def kms() -> Iterator[MotoKms]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in AWS_TEST_ENV.items():
            mp.setenv(name, value)
        with moto_kms() as server:
            yield server


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)


def ring_for(kms: MotoKms, uri: str | None = None) -> KeyRing:
    return keyring(uri or kms.uri, {"AWS_ENDPOINT_URL_KMS": kms.endpoint})


def test_round_trip(kms: MotoKms) -> None:
    ring = ring_for(kms)
    env = seal(SECRET, REF, ring)
    assert env.kek_id == kms.uri
    assert open_envelope(env, REF, ring, FP) == SECRET


@pytest.mark.parametrize(
    "other",
    [
        dataclasses.replace(REF, id="key_000000000000000000b2"),
        dataclasses.replace(REF, owner="bob"),
        dataclasses.replace(REF, owner=None),
        dataclasses.replace(REF, provider="anthropic"),
    ],
)
def test_encryption_context_binds_the_record(kms: MotoKms, other: RecordRef) -> None:
    ring = ring_for(kms)
    env = seal(SECRET, REF, ring)
    with pytest.raises(KeyDecryptionError) as info:
        open_envelope(env, other, ring, FP)
    assert info.value.record_id == other.id


def test_flipped_and_truncated_wrapped_key(kms: MotoKms) -> None:
    ring = ring_for(kms)
    env = seal(SECRET, REF, ring)
    raw = bytearray(env.wrapped_key)
    raw[len(raw) // 2] ^= 0x01
    for wrapped in (bytes(raw), env.wrapped_key[:20]):
        with pytest.raises(KeyDecryptionError, match=REF.id):
            open_envelope(dataclasses.replace(env, wrapped_key=wrapped), REF, ring, FP)


def test_another_key_cannot_unwrap(kms: MotoKms) -> None:
    env = seal(SECRET, REF, ring_for(kms))
    other_arn = kms.create_key()
    other = ring_for(kms, "aws-kms://" + other_arn)
    forged = dataclasses.replace(env, kek_id="aws-kms://" + other_arn)
    # AWS answers IncorrectKeyException here (mapped below); moto says AccessDenied,
    # which for AWS means missing IAM permissions: not the record's fault.
    with pytest.raises(KEKUnavailableError, match="AccessDenied"):
        open_envelope(forged, REF, other, FP)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("IncorrectKeyException", KeyDecryptionError),
        ("InvalidCiphertextException", KeyDecryptionError),
        ("AccessDeniedException", KEKUnavailableError),
        ("KMSInternalException", KEKUnavailableError),
        ("DisabledException", KEKUnavailableError),
    ],
)
def test_error_codes_map_to_tamper_or_unavailable(code: str, kind: type) -> None:
    from botocore.exceptions import ClientError

    from llmswitch.keys.kek.aws import AwsKmsKEK

    kek = AwsKmsKEK("arn:aws:kms:us-east-1:123456789012:key/k", client=None)
    error = ClientError({"Error": {"Code": code, "Message": "m"}}, "Decrypt")
    mapped = kek._failed("decrypt", error, REF)
    assert type(mapped) is kind and code in str(mapped)
    if kind is KeyDecryptionError:
        assert mapped.record_id == REF.id  # type: ignore[attr-defined]


def test_moving_to_another_key_rewraps(kms: MotoKms) -> None:
    env = seal(SECRET, REF, ring_for(kms))
    new_arn = kms.create_key()
    ring = ring_for(kms, "aws-kms://" + new_arn)
    assert open_envelope(env, REF, ring, FP) == SECRET  # the old key, through the ring
    moved = reseal(env, REF, ring, ring.require(), FP)
    assert moved.kek_id == "aws-kms://" + new_arn
    assert open_envelope(moved, REF, ring, FP) == SECRET


def test_unreachable_kms_is_retryable(kms: MotoKms) -> None:
    from tests.support.loopback import closed_port

    ring = keyring(kms.uri, {"AWS_ENDPOINT_URL_KMS": f"http://127.0.0.1:{closed_port()}"})
    with pytest.raises(KEKUnavailableError) as info:
        seal(SECRET, REF, ring)
    assert info.value.retryable and kms.arn in str(info.value)


def test_unknown_key_is_unavailable_not_tamper(kms: MotoKms) -> None:
    arn = (
        kms.arn[: -len("0000")] + "0000" if not kms.arn.endswith("0000") else kms.arn[:-4] + "1111"
    )
    with pytest.raises(KEKUnavailableError, match="NotFound"):
        seal(SECRET, REF, ring_for(kms, "aws-kms://" + arn))


@pytest.mark.parametrize(
    "uri", ["aws-kms://", "aws-kms://alias/vault", "aws-kms://arn:aws:kms:us-east-1:12:key/x"]
)
def test_malformed_uri(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="arn:aws:kms"):
        keyring(uri, {})


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigurationError, match=r"llmswitch\[aws\]"):
        keyring("aws-kms://arn:aws:kms:us-east-1:123456789012:key/abc", {})
