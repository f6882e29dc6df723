"""Envelope encryption of one provider key (AES-256-GCM, ``cryptography``'s AESGCM).

Every stored secret gets its own fresh 256-bit *data key* (DEK). The secret is
encrypted under the DEK with a 96-bit random nonce; the DEK itself is *wrapped* by the
key-encryption key (KEK: a local master key or a Cloud KMS key, :mod:`.kek`) and only
the wrapped form is stored. One row of ``provider_keys`` holds::

    kek_id       which KEK (and KMS key version) wrapped the DEK    e.g. "local:3f9a…"
    wrapped_key  the DEK wrapped by that KEK                        (KEK-specific bytes)
    nonce        12 random bytes for the secret's encryption
    ciphertext   AESGCM(DEK).encrypt(nonce, secret, data AAD)       (+ 16-byte tag)
    fingerprint  hex SHA-256 of the secret, checked after decryption

What binds a record to its row (so a ciphertext or wrapped key copied into another
row, or a field edited in place, fails instead of decrypting):

- the **data AAD** (authenticated, not encrypted, by AES-GCM over the secret) binds all
  four: the record id, the provider, the owner (the user, or none for a shared key)
  and the KEK id as stored;
- the **wrap AAD** (local KEK: AES-GCM associated data; Google Cloud KMS:
  ``additional_authenticated_data``; AWS KMS: the ``EncryptionContext``) binds the
  record id, provider and owner to the wrapped DEK as well, so a DEK cannot be
  unwrapped on behalf of another record even by someone with KMS access.

Both AADs are a length-prefixed encoding (:func:`encode_fields`: a domain tag, then
each field as a 4-byte big-endian length and its UTF-8 bytes, ``0xFFFFFFFF`` for
"no owner"), so no two different records ever produce the same bytes — naive
concatenation would make ``("ab", "c")`` and ``("a", "bc")`` collide.

Any failure to open a record — a flipped byte in any field, a truncated value, a
wrong or missing KEK, a fingerprint that does not match — raises
:class:`~llmswitch.errors.KeyDecryptionError` naming the record id, never returns
garbage or ``None``. Nothing here logs, and no value type shows a secret in its repr.

:func:`reseal` (key rotation) unwraps the DEK with the old KEK, checks the record
opens, and wraps the same DEK under the current KEK; the secret is re-encrypted under
that DEK with a fresh nonce because the data AAD names the new KEK id.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..errors import KeyDecryptionError, KeyVaultError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DEK_BYTES",
    "NONCE_BYTES",
    "Envelope",
    "RecordRef",
    "Unwrapper",
    "Wrapper",
    "data_aad",
    "encode_fields",
    "fingerprint",
    "open_envelope",
    "reseal",
    "seal",
    "wrap_aad",
]

DEK_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits: GCM's native nonce size
_NO_VALUE = b"\xff\xff\xff\xff"  # "None": no 4-byte length of a real field can be this big
_MAX_FIELD = 0xFFFFFFFE


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordRef:
    """Which record a secret belongs to: what the AADs bind."""

    id: str
    provider: str
    owner: str | None  # the user; None for a shared key


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """The stored, encrypted form of one secret (no plaintext anywhere)."""

    kek_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes

    def __repr__(self) -> str:
        return (
            f"Envelope(kek_id={self.kek_id!r}, wrapped_key=<{len(self.wrapped_key)} bytes>, "
            f"nonce=<{len(self.nonce)} bytes>, ciphertext=<{len(self.ciphertext)} bytes>)"
        )


class Wrapper(Protocol):
    """What :func:`seal` needs: the current KEK (see :class:`.kek.KeyRing`)."""

    def wrap(self, dek: bytes, ref: RecordRef) -> tuple[bytes, str]:
        """``(wrapped DEK, kek_id)``."""
        ...


class Unwrapper(Protocol):
    """What :func:`open_envelope` needs: any KEK that may have wrapped the record."""

    def unwrap(self, wrapped: bytes, kek_id: str, ref: RecordRef) -> bytes: ...


def encode_fields(tag: bytes, fields: Sequence[str | None]) -> bytes:
    """``tag`` then each field length-prefixed (``None`` as its own marker)."""
    out = bytearray(len(tag).to_bytes(4, "big") + tag)
    for field in fields:
        if field is None:
            out += _NO_VALUE
            continue
        raw = field.encode("utf-8")
        if len(raw) > _MAX_FIELD:  # unreachable for the table's column sizes
            raise KeyVaultError("record field too long to encode")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def data_aad(ref: RecordRef, kek_id: str) -> bytes:
    """Associated data of the secret's encryption: id, provider, owner and KEK id."""
    return encode_fields(b"llmswitch.key.data.v1", (ref.id, ref.provider, ref.owner, kek_id))


def wrap_aad(ref: RecordRef) -> bytes:
    """Associated data of the DEK's wrapping (KEKs add their own id where they can)."""
    return encode_fields(b"llmswitch.key.wrap.v1", (ref.id, ref.provider, ref.owner))


def fingerprint(secret: str) -> str:
    """Hex SHA-256 of the secret: the only thing ever shown or logged about it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _aesgcm(key: bytes):  # type: ignore[no-untyped-def]
    # Imported here: cryptography costs ~20 ms, and `import llmswitch` must not pay it.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _encrypt(dek: bytes, secret: str, ref: RecordRef, kek_id: str) -> tuple[bytes, bytes]:
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = _aesgcm(dek).encrypt(nonce, secret.encode("utf-8"), data_aad(ref, kek_id))
    return nonce, ciphertext


def seal(secret: str, ref: RecordRef, kek: Wrapper) -> Envelope:
    """Encrypt ``secret`` for the record ``ref`` under a fresh data key."""
    if not secret:
        raise KeyVaultError(f"record {ref.id}: refusing to store an empty secret")
    dek = os.urandom(DEK_BYTES)
    wrapped, kek_id = kek.wrap(dek, ref)
    nonce, ciphertext = _encrypt(dek, secret, ref, kek_id)
    return Envelope(kek_id=kek_id, wrapped_key=wrapped, nonce=nonce, ciphertext=ciphertext)


def _open_dek(
    env: Envelope, ref: RecordRef, keys: Unwrapper, expected_fp: str
) -> tuple[bytes, str]:
    """The record's DEK and secret, verified; any failure names the record."""
    from cryptography.exceptions import InvalidTag

    dek = keys.unwrap(env.wrapped_key, env.kek_id, ref)  # raises KeyDecryptionError itself
    if len(dek) != DEK_BYTES:
        raise KeyDecryptionError(
            f"record {ref.id}: the unwrapped data key has {len(dek)} bytes, not {DEK_BYTES}",
            record_id=ref.id,
        )
    if len(env.nonce) != NONCE_BYTES:
        raise KeyDecryptionError(
            f"record {ref.id}: nonce has {len(env.nonce)} bytes, not {NONCE_BYTES} "
            "(truncated or altered)",
            record_id=ref.id,
        )
    try:
        plain = _aesgcm(dek).decrypt(env.nonce, env.ciphertext, data_aad(ref, env.kek_id))
    except InvalidTag:
        raise KeyDecryptionError(
            f"record {ref.id}: the ciphertext does not authenticate (altered, truncated, "
            "or moved from another record)",
            record_id=ref.id,
        ) from None
    try:
        secret = plain.decode("utf-8")
    except UnicodeDecodeError:  # authenticated, so only a bug could get here
        raise KeyDecryptionError(f"record {ref.id}: not UTF-8", record_id=ref.id) from None
    if fingerprint(secret) != expected_fp:
        raise KeyDecryptionError(
            f"record {ref.id}: the decrypted key does not match the stored fingerprint",
            record_id=ref.id,
        )
    return dek, secret


def open_envelope(env: Envelope, ref: RecordRef, keys: Unwrapper, expected_fp: str) -> str:
    """The secret of record ``ref``, or :class:`KeyDecryptionError` naming it."""
    return _open_dek(env, ref, keys, expected_fp)[1]


def reseal(
    env: Envelope, ref: RecordRef, old: Unwrapper, new: Wrapper, expected_fp: str
) -> Envelope:
    """The same record with its data key re-wrapped under ``new`` (rotation)."""
    dek, secret = _open_dek(env, ref, old, expected_fp)
    wrapped, kek_id = new.wrap(dek, ref)
    nonce, ciphertext = _encrypt(dek, secret, ref, kek_id)
    return Envelope(kek_id=kek_id, wrapped_key=wrapped, nonce=nonce, ciphertext=ciphertext)
