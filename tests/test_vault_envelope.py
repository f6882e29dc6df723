"""Envelope encryption: each record opens only as itself, whatever is altered."""

from __future__ import annotations

import dataclasses

import pytest

from llmswitch.errors import KeyDecryptionError
from llmswitch.keys.envelope import (
    DEK_BYTES,
    NONCE_BYTES,
    Envelope,
    RecordRef,
    data_aad,
    encode_fields,
    fingerprint,
    open_envelope,
    reseal,
    seal,
    wrap_aad,
)
from llmswitch.keys.kek import KeyRing
from llmswitch.keys.kek.local import LocalKEK

SECRET = "sk-proj-envelope-test-0123456789abcdef"
REF = RecordRef(id="key_0000000000000000000a", provider="openai", owner="alice")
RING = KeyRing(LocalKEK(bytes([9]) * 32), {})
FP = fingerprint(SECRET)


def flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at % len(out)] ^= 0x01
    return bytes(out)


def test_round_trip_and_shape() -> None:
    env = seal(SECRET, REF, RING)
    assert len(env.nonce) == NONCE_BYTES
    assert len(env.ciphertext) == len(SECRET) + 16  # GCM tag
    assert SECRET.encode() not in env.ciphertext + env.wrapped_key
    assert open_envelope(env, REF, RING, FP) == SECRET
    assert SECRET not in repr(env)


def test_a_fresh_data_key_and_nonce_per_secret() -> None:
    a, b = seal(SECRET, REF, RING), seal(SECRET, REF, RING)
    assert a.wrapped_key != b.wrapped_key and a.nonce != b.nonce and a.ciphertext != b.ciphertext


@pytest.mark.parametrize("field", ["wrapped_key", "nonce", "ciphertext"])
def test_every_flipped_byte_of_every_field_fails_naming_the_record(field: str) -> None:
    env = seal(SECRET, REF, RING)
    value = getattr(env, field)
    for at in range(len(value)):
        bad = dataclasses.replace(env, **{field: flip(value, at)})
        with pytest.raises(KeyDecryptionError) as info:
            open_envelope(bad, REF, RING, FP)
        assert info.value.record_id == REF.id and REF.id in str(info.value)
        assert SECRET not in str(info.value)


@pytest.mark.parametrize("field", ["wrapped_key", "nonce", "ciphertext"])
@pytest.mark.parametrize("keep", [0, 1, 11, -1])
def test_truncated_fields_fail(field: str, keep: int) -> None:
    env = seal(SECRET, REF, RING)
    bad = dataclasses.replace(env, **{field: getattr(env, field)[:keep]})
    with pytest.raises(KeyDecryptionError, match=REF.id):
        open_envelope(bad, REF, RING, FP)


def test_altered_kek_id_fails() -> None:
    env = seal(SECRET, REF, RING)
    other = LocalKEK(bytes([10]) * 32)
    ring = KeyRing(LocalKEK(bytes([9]) * 32, (bytes([10]) * 32,)), {})
    # Even naming a KEK the ring holds: the data AAD binds the kek_id as stored.
    bad = dataclasses.replace(env, kek_id=other.current_id())
    with pytest.raises(KeyDecryptionError, match=REF.id):
        open_envelope(bad, REF, ring, FP)


@pytest.mark.parametrize(
    "other",
    [
        RecordRef(id="key_0000000000000000000b", provider="openai", owner="alice"),
        RecordRef(id=REF.id, provider="anthropic", owner="alice"),
        RecordRef(id=REF.id, provider="openai", owner="bob"),
        RecordRef(id=REF.id, provider="openai", owner=None),
    ],
)
def test_an_envelope_opens_only_as_its_own_record(other: RecordRef) -> None:
    env = seal(SECRET, REF, RING)
    with pytest.raises(KeyDecryptionError) as info:
        open_envelope(env, other, RING, FP)
    assert info.value.record_id == other.id


def test_ciphertext_moved_onto_another_records_wrapped_key_fails() -> None:
    mine = seal(SECRET, REF, RING)
    other_ref = RecordRef(id="key_0000000000000000000c", provider="openai", owner="alice")
    theirs = seal("sk-other-secret-value", other_ref, RING)
    spliced = dataclasses.replace(theirs, ciphertext=mine.ciphertext, nonce=mine.nonce)
    with pytest.raises(KeyDecryptionError, match=other_ref.id):
        open_envelope(spliced, other_ref, RING, FP)


def test_wrong_kek_fails() -> None:
    env = seal(SECRET, REF, RING)
    stranger = KeyRing(LocalKEK(bytes([11]) * 32), {})
    with pytest.raises(KeyDecryptionError, match=REF.id):
        open_envelope(env, REF, stranger, FP)


def test_fingerprint_mismatch_fails() -> None:
    env = seal(SECRET, REF, RING)
    with pytest.raises(KeyDecryptionError, match="fingerprint"):
        open_envelope(env, REF, RING, fingerprint("sk-something-else"))


def test_aad_encoding_is_unambiguous() -> None:
    assert encode_fields(b"t", ("ab", "c")) != encode_fields(b"t", ("a", "bc"))
    assert encode_fields(b"t", (None,)) != encode_fields(b"t", ("",))
    assert encode_fields(b"t1", ("x",)) != encode_fields(b"t", ("1x",))
    a = RecordRef(id="key_1", provider="p", owner=None)
    b = RecordRef(id="key_1", provider="p", owner="")
    assert wrap_aad(a) != wrap_aad(b) and data_aad(a, "k") != data_aad(b, "k")


def test_reseal_rewraps_the_same_data_key_under_the_new_kek() -> None:
    old = KeyRing(LocalKEK(bytes([1]) * 32), {})
    new_kek = LocalKEK(bytes([2]) * 32, (bytes([1]) * 32,))
    new = KeyRing(new_kek, {})
    env = seal(SECRET, REF, old)
    moved = reseal(env, REF, old, new_kek, FP)
    assert moved.kek_id == new_kek.current_id() != env.kek_id
    assert open_envelope(moved, REF, KeyRing(LocalKEK(bytes([2]) * 32), {}), FP) == SECRET
    # The data key itself did not change: unwrapping both gives the same bytes.
    dek_old = old.unwrap(env.wrapped_key, env.kek_id, REF)
    dek_new = new.unwrap(moved.wrapped_key, moved.kek_id, REF)
    assert dek_old == dek_new and len(dek_new) == DEK_BYTES


def test_reseal_of_a_tampered_record_fails_before_wrapping() -> None:
    env = seal(SECRET, REF, RING)
    bad = Envelope(
        kek_id=env.kek_id, wrapped_key=env.wrapped_key, nonce=env.nonce,
        ciphertext=flip(env.ciphertext, 3),
    )  # fmt: skip
    with pytest.raises(KeyDecryptionError, match=REF.id):
        reseal(bad, REF, RING, LocalKEK(bytes([2]) * 32), FP)
