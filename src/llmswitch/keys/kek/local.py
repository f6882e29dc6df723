"""``local:`` — a 32-byte master key held by this machine.

The key comes from ``$LLMSWITCH_MASTER_KEY`` (base64), or with ``local:/path`` from a
file holding the base64 key, which must not be readable by group or others (checked
on POSIX: ``chmod 600``). Retired keys listed in ``$LLMSWITCH_MASTER_KEY_PREVIOUS``
(comma-separated base64) still unwrap, so changing the master key is: move the old one
to ``..._PREVIOUS``, set the new one, run ``llmswitch keys rotate``, drop the old one.

Wrapping is AES-256-GCM under the master key with a random 96-bit nonce; the associated
data is the record's wrap AAD plus this key's id, so a wrapped data key opens only for
its own record and only under the key that wrapped it. Stored: ``nonce || ciphertext``.

The ``kek_id`` is ``local:`` + the first 16 hex digits of a domain-separated SHA-256 of
the master key: it names the key without revealing it (the key is 256 random bits, so
its hash cannot be searched). Messages name variables and files, never values.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Mapping

from ...errors import ConfigurationError, KeyDecryptionError
from ..envelope import NONCE_BYTES, RecordRef, encode_fields, wrap_aad

__all__ = ["MASTER_KEY_ENV", "PREVIOUS_ENV", "LocalKEK", "decode_master_key"]

MASTER_KEY_ENV = "LLMSWITCH_MASTER_KEY"
PREVIOUS_ENV = "LLMSWITCH_MASTER_KEY_PREVIOUS"
_KEY_BYTES = 32
_MAX_KEY_FILE = 4096  # a base64 key is 44 characters; anything huge is not a key file


def decode_master_key(text: str, where: str) -> bytes:
    """32 bytes from base64 ``text`` (standard or URL-safe alphabet, padded or not, as
    ``secrets.token_urlsafe(32)`` gives it); ``where`` names the variable or file in the
    error, never the value."""
    cleaned = "".join(text.split()).replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)  # "=" padding is optional; its absence is common
    try:
        raw = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"{where} is not valid base64 (expected a base64 32-byte key, e.g. from "
            "`openssl rand -base64 32`)",
            field=where,
        ) from None
    if len(raw) != _KEY_BYTES:
        raise ConfigurationError(
            f"{where} decodes to {len(raw)} bytes; a master key is exactly {_KEY_BYTES} "
            "bytes (`openssl rand -base64 32`)",
            field=where,
        )
    return raw


def _key_id(key: bytes) -> str:
    return "local:" + hashlib.sha256(b"llmswitch.kek.local.id\x00" + key).hexdigest()[:16]


def _read_key_file(path: str) -> bytes:
    where = f"key file {path}"
    try:
        # O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; the
        # fstat below refuses anything that is not a regular file.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read {where}: {exc.strerror or exc}", field="kek"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(f"{where} is not a regular file", field="kek")
        if os.name == "posix" and info.st_mode & 0o077:
            raise ConfigurationError(
                f"{where} is readable by group or others (mode "
                f"{stat.S_IMODE(info.st_mode):o}); run `chmod 600 {path}`",
                field="kek",
            )
        data = os.read(fd, _MAX_KEY_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_KEY_FILE:
        raise ConfigurationError(f"{where} is too large to be a base64 key", field="kek")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{where} is not base64 text", field="kek") from None
    return decode_master_key(text, where)


class LocalKEK:
    """The current master key plus the previous ones (unwrap only)."""

    def __init__(self, key: bytes, previous: tuple[bytes, ...] = ()) -> None:
        if len(key) != _KEY_BYTES:
            raise ConfigurationError("a local master key is exactly 32 bytes", field="kek")
        self._current_id = _key_id(key)
        self._keys: dict[str, bytes] = {_key_id(k): k for k in previous}
        self._keys[self._current_id] = key

    @classmethod
    def from_uri(cls, uri: str, env: Mapping[str, str]) -> LocalKEK:
        path = uri[len("local:") :].strip()
        if path:
            key = _read_key_file(os.path.expanduser(path))
        else:
            text = env.get(MASTER_KEY_ENV, "")
            if not text.strip():
                raise ConfigurationError(
                    f"the local KEK needs {MASTER_KEY_ENV} (a base64 32-byte key) or a key "
                    "file: local:/path/to/keyfile",
                    field=MASTER_KEY_ENV,
                )
            key = decode_master_key(text, MASTER_KEY_ENV)
        previous = tuple(
            decode_master_key(part, f"{PREVIOUS_ENV} (entry {i + 1})")
            for i, part in enumerate(env.get(PREVIOUS_ENV, "").split(","))
            if part.strip()
        )
        return cls(key, previous)

    @classmethod
    def unwrap_only(cls, env: Mapping[str, str]) -> LocalKEK | None:
        """The local keys the environment holds, for opening records wrapped by a
        local key when the current KEK is another one (moving to a KMS): the master key
        and the previous ones, or only the previous ones. ``None`` if there are none."""
        keys = [
            decode_master_key(part, f"{PREVIOUS_ENV} (entry {i + 1})")
            for i, part in enumerate(env.get(PREVIOUS_ENV, "").split(","))
            if part.strip()
        ]
        if env.get(MASTER_KEY_ENV, "").strip():
            keys.insert(0, decode_master_key(env[MASTER_KEY_ENV], MASTER_KEY_ENV))
        return cls(keys[0], tuple(keys[1:])) if keys else None

    def __repr__(self) -> str:
        return f"LocalKEK({self._current_id!r}, {len(self._keys) - 1} previous)"

    @property
    def name(self) -> str:
        return self._current_id

    def current_id(self) -> str:
        return self._current_id

    def owns(self, kek_id: str) -> bool:
        return kek_id in self._keys

    @staticmethod
    def _aad(ref: RecordRef, kek_id: str) -> bytes:
        return encode_fields(b"llmswitch.kek.local.v1", (wrap_aad(ref).hex(), kek_id))

    def wrap(self, dek: bytes, ref: RecordRef) -> tuple[bytes, str]:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kek_id = self._current_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._keys[kek_id]).encrypt(nonce, dek, self._aad(ref, kek_id))
        return nonce + sealed, kek_id

    def unwrap(self, wrapped: bytes, kek_id: str, ref: RecordRef) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = self._keys.get(kek_id)
        if key is None:
            raise KeyDecryptionError(
                f"record {ref.id}: wrapped under local master key {kek_id}, which is "
                f"neither {MASTER_KEY_ENV} nor listed in {PREVIOUS_ENV}",
                record_id=ref.id,
            )
        nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        if len(nonce) != NONCE_BYTES or not sealed:
            raise KeyDecryptionError(
                f"record {ref.id}: the wrapped data key is truncated", record_id=ref.id
            )
        try:
            return AESGCM(key).decrypt(nonce, sealed, self._aad(ref, kek_id))
        except InvalidTag:
            raise KeyDecryptionError(
                f"record {ref.id}: the wrapped data key does not authenticate under "
                f"{kek_id} (altered, truncated, or moved from another record)",
                record_id=ref.id,
            ) from None
