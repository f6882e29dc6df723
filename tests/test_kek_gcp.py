"""Google Cloud KMS KEK: the real google-cloud-kms client against a loopback fake of
the KMS REST encrypt/decrypt API (tests/support/kms.py)."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator

import pytest

from llmswitch.errors import ConfigurationError, KEKUnavailableError, KeyDecryptionError
from llmswitch.keys.envelope import RecordRef, fingerprint, open_envelope, reseal, seal, wrap_aad
from llmswitch.keys.kek import KeyRing, keyring
from llmswitch.keys.kek.gcp import key_of_version
from tests.support.kms import GCP_KEY, FakeGcpKms, fake_gcp_kms

REF = RecordRef(id="key_000000000000000000a1", provider="anthropic", owner=None)
SECRET = "sk-ant-gcp-kms-test-value-0123456789"
FP = fingerprint(SECRET)


@pytest.fixture
def kms() -> Iterator[FakeGcpKms]:
    with fake_gcp_kms() as server:
        yield server


def ring_for(kms: FakeGcpKms) -> KeyRing:
    return keyring(kms.uri(), {"LLMSWITCH_GCP_KMS_ENDPOINT": kms.endpoint})


def test_round_trip_with_aad_and_crc32c(kms: FakeGcpKms) -> None:
    ring = ring_for(kms)
    env = seal(SECRET, REF, ring)
    assert env.kek_id == f"gcp-kms://{GCP_KEY}/cryptoKeyVersions/1"
    assert open_envelope(env, REF, ring, FP) == SECRET
    (m1, enc), (m2, dec) = kms.requests
    assert (m1, m2) == ("encrypt", "decrypt")
    # The record is bound as additional authenticated data, with integrity checksums.
    assert base64.b64decode(enc["additionalAuthenticatedData"]) == wrap_aad(REF)
    assert {"plaintextCrc32c", "additionalAuthenticatedDataCrc32c"} <= enc.keys()
    assert {"ciphertextCrc32c", "additionalAuthenticatedDataCrc32c"} <= dec.keys()
    # The secret itself never goes to KMS: only the data key does.
    assert SECRET.encode() not in base64.b64decode(enc["plaintext"])


def test_wrapped_key_for_another_record_is_refused_by_kms(kms: FakeGcpKms) -> None:
    ring = ring_for(kms)
    env = seal(SECRET, REF, ring)
    other = dataclasses.replace(REF, id="key_000000000000000000a2")
    with pytest.raises(KeyDecryptionError) as info:
        open_envelope(env, other, ring, FP)
    assert info.value.record_id == other.id and "refused" in str(info.value)


def test_flipped_wrapped_key_fails_naming_the_record(kms: FakeGcpKms) -> None:
    ring = ring_for(kms)
    env = seal(SECRET, REF, ring)
    for at in (0, 5, len(env.wrapped_key) - 1):
        raw = bytearray(env.wrapped_key)
        raw[at] ^= 0x80
        with pytest.raises(KeyDecryptionError, match=REF.id):
            open_envelope(dataclasses.replace(env, wrapped_key=bytes(raw)), REF, ring, FP)
    with pytest.raises(KeyDecryptionError, match=REF.id):
        open_envelope(dataclasses.replace(env, wrapped_key=env.wrapped_key[:9]), REF, ring, FP)


def test_corrupted_checksums_are_detected(kms: FakeGcpKms) -> None:
    ring = ring_for(kms)
    env = seal(SECRET, REF, ring)
    kms.corrupt_crc = True
    with pytest.raises(KEKUnavailableError, match="CRC32C"):
        seal(SECRET, REF, ring)
    with pytest.raises(KEKUnavailableError, match="CRC32C"):
        open_envelope(env, REF, ring, FP)


def test_unavailable_kms_is_a_retryable_kek_error(kms: FakeGcpKms) -> None:
    ring = ring_for(kms)
    env = seal(SECRET, REF, ring)
    kms.status = 503
    with pytest.raises(KEKUnavailableError) as info:
        open_envelope(env, REF, ring, FP)
    assert info.value.retryable and GCP_KEY in str(info.value)


def test_unreachable_kms(kms: FakeGcpKms) -> None:
    ring = ring_for(kms)
    env = seal(SECRET, REF, ring)
    kms.close()
    with pytest.raises(KEKUnavailableError):
        open_envelope(env, REF, ring, FP)


def test_key_rotation_in_kms_changes_the_kek_id_and_old_versions_decrypt(
    kms: FakeGcpKms,
) -> None:
    ring = ring_for(kms)
    env = seal(SECRET, REF, ring)
    assert kms.rotate() == 2
    kek = ring.require()
    assert kek.current_id().endswith("/cryptoKeyVersions/2")
    assert open_envelope(env, REF, ring, FP) == SECRET  # version 1 still decrypts
    moved = reseal(env, REF, ring, kek, FP)
    assert moved.kek_id.endswith("/cryptoKeyVersions/2")
    assert open_envelope(moved, REF, ring, FP) == SECRET


def test_records_of_another_gcp_key_open_through_the_ring() -> None:
    other_key = GCP_KEY.replace("vault", "old")
    with fake_gcp_kms(GCP_KEY, other_key) as kms:
        env = {"LLMSWITCH_GCP_KMS_ENDPOINT": kms.endpoint}
        old_env = seal(SECRET, REF, keyring(kms.uri(other_key), env))
        ring = keyring(kms.uri(GCP_KEY), env)
        assert open_envelope(old_env, REF, ring, FP) == SECRET
        moved = reseal(old_env, REF, ring, ring.require(), FP)
        assert key_of_version(moved.kek_id) == kms.uri(GCP_KEY)


@pytest.mark.parametrize(
    "uri",
    ["gcp-kms://projects/p", "gcp-kms://projects/p/locations/l/keyRings/r", "gcp-kms://"],
)
def test_malformed_uri(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="cryptoKeys"):
        keyring(uri, {"LLMSWITCH_GCP_KMS_ENDPOINT": "http://127.0.0.1:9"})


def test_key_of_version() -> None:
    assert key_of_version(f"gcp-kms://{GCP_KEY}/cryptoKeyVersions/3") == f"gcp-kms://{GCP_KEY}"
    assert key_of_version(f"gcp-kms://{GCP_KEY}") is None
    assert key_of_version("local:abc") is None


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import google.cloud

    monkeypatch.delattr(google.cloud, "kms", raising=False)
    monkeypatch.setitem(sys.modules, "google.cloud.kms", None)
    with pytest.raises(ConfigurationError, match=r"llmswitch\[gcp\]"):
        keyring(f"gcp-kms://{GCP_KEY}", {})


def test_no_credentials_says_how_to_set_them_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", f"{tmp_path}/absent.json")
    with pytest.raises(KEKUnavailableError, match="Application Default Credentials"):
        keyring(f"gcp-kms://{GCP_KEY}", {})


def test_an_answer_for_another_key_is_refused() -> None:
    class Lying(FakeGcpKms):
        def _encrypt(self, name, key, request, aad):  # type: ignore[no-untyped-def]
            status, reply = super()._encrypt(name, key, request, aad)
            reply["name"] = reply["name"].replace("/cryptoKeys/vault/", "/cryptoKeys/other/")
            return status, reply

    kms = Lying()
    try:
        ring = ring_for(kms)
        with pytest.raises(KEKUnavailableError, match="unexpected key version"):
            seal(SECRET, REF, ring)
    finally:
        kms.close()


def test_a_malformed_answer_is_an_error_not_a_crash(kms: FakeGcpKms) -> None:
    class Garbage(FakeGcpKms):
        def handle(self, path, body):  # type: ignore[no-untyped-def]
            return 200, {"ciphertext": "!!! not base64 !!!"}

    bad = Garbage()
    try:
        with pytest.raises(KEKUnavailableError):
            seal(SECRET, REF, ring_for(bad))
    finally:
        bad.close()
