"""``gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K`` — Google Cloud KMS.

Uses the official ``google-cloud-kms`` client (``pip install 'llmswitch[gcp]'``) over
its REST transport, with Application Default Credentials (``gcloud auth
application-default login``, a service account, workload identity). The identity needs
``roles/cloudkms.cryptoKeyEncrypterDecrypter`` on the key.

Each data key is wrapped with ``Encrypt``, its ``additional_authenticated_data`` being
the record's wrap AAD, and the CRC32C integrity fields set and checked as Google's
"verifying end-to-end data integrity" guide says: the request carries the CRC32C of
the plaintext and AAD, the response must say it verified both and its ciphertext must
match its CRC32C (and the plaintext of a ``Decrypt`` likewise); a mismatch is data
corrupted in transit and raises :class:`~llmswitch.errors.KEKUnavailableError` (retry).
The ``kek_id`` is ``gcp-kms://`` + the key *version* KMS reports having used, so
``keys rotate`` after a KMS key rotation re-wraps what the old version wrapped (KMS
keeps older versions able to decrypt until they are disabled).

``$LLMSWITCH_GCP_KMS_ENDPOINT`` points the client elsewhere (a regional or private
endpoint, an emulator). An ``http://`` endpoint is only for a local emulator: the
client then sends no credentials at all, so a token never travels unencrypted.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from ...errors import ConfigurationError, KEKUnavailableError, KeyDecryptionError
from ..envelope import RecordRef, wrap_aad

__all__ = ["ENDPOINT_ENV", "GcpKmsKEK", "key_of_version"]

ENDPOINT_ENV = "LLMSWITCH_GCP_KMS_ENDPOINT"
_PREFIX = "gcp-kms://"
_KEY_RE = re.compile(r"projects/[^/\s]+/locations/[^/\s]+/keyRings/[^/\s]+/cryptoKeys/[^/\s]+")
_VERSION_RE = re.compile(rf"({_KEY_RE.pattern})/cryptoKeyVersions/[^/\s]+")
_TIMEOUT = 10.0  # seconds per KMS call: a dead KMS must not hang the CLI or a refresh
_EXTRA = "the Google Cloud KMS backend needs google-cloud-kms: pip install 'llmswitch[gcp]'"


def key_of_version(kek_id: str) -> str | None:
    """``gcp-kms://<key>`` for a ``gcp-kms://<key>/cryptoKeyVersions/N`` kek_id."""
    match = _VERSION_RE.fullmatch(kek_id[len(_PREFIX) :]) if kek_id.startswith(_PREFIX) else None
    return _PREFIX + match.group(1) if match else None


def _crc32c(data: bytes) -> int:
    import google_crc32c  # type: ignore[import-not-found,unused-ignore]

    return int(google_crc32c.value(data))


def _describe(exc: BaseException) -> str:
    """The error's class and the service's own words, without the request URL the
    REST transport puts first (``POST http://...: message``)."""
    message = str(getattr(exc, "message", "") or "")
    if message.startswith(("POST ", "GET ")) and ": " in message:
        message = message.split(": ", 1)[1]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _client(env: Mapping[str, str]) -> Any:
    try:
        import google_crc32c  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
        from google.api_core.client_options import ClientOptions
        from google.cloud import kms
    except ImportError:
        raise ConfigurationError(_EXTRA, field="kek") from None
    endpoint = env.get(ENDPOINT_ENV, "").strip()
    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    if endpoint.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        return kms.KeyManagementServiceClient(
            transport="rest",
            client_options=options,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
    try:
        return kms.KeyManagementServiceClient(transport="rest", client_options=options)
    except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and kin
        raise KEKUnavailableError(
            f"Google Cloud KMS: no usable credentials ({type(exc).__name__}); set up "
            "Application Default Credentials (gcloud auth application-default login)",
            kek="gcp-kms",
        ) from None


class GcpKmsKEK:
    """One Cloud KMS symmetric key (all its versions)."""

    def __init__(self, key_name: str, client: Any) -> None:
        self.key_name = key_name
        self._client = client
        self._uri = _PREFIX + key_name
        self._lock = threading.Lock()
        self._current: str | None = None  # the version the last Encrypt reported

    @classmethod
    def from_uri(cls, uri: str, env: Mapping[str, str]) -> GcpKmsKEK:
        name = uri[len(_PREFIX) :].strip().rstrip("/")
        if not _KEY_RE.fullmatch(name):
            raise ConfigurationError(
                f"KEK {uri!r} is not gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K",
                field="kek",
            )
        return cls(name, _client(env))

    def __repr__(self) -> str:
        return f"GcpKmsKEK({self._uri!r})"

    @property
    def name(self) -> str:
        return self._uri

    def owns(self, kek_id: str) -> bool:
        return key_of_version(kek_id) == self._uri

    def _failed(self, action: str, exc: BaseException, ref: RecordRef | None) -> Exception:
        from google.api_core import exceptions as gexc

        if ref is not None and isinstance(exc, gexc.BadRequest):  # InvalidArgument via REST
            # KMS refused this ciphertext/AAD pair (400): altered, truncated, another
            # record's, or its key version disabled; KMS's message says which.
            return KeyDecryptionError(
                f"record {ref.id}: Google Cloud KMS refused to unwrap its data key "
                f"({_describe(exc)})",
                record_id=ref.id,
            )
        return KEKUnavailableError(
            f"Google Cloud KMS {action} with {self._uri} failed: {_describe(exc)}",
            kek=self._uri,
        )

    def wrap(self, dek: bytes, ref: RecordRef) -> tuple[bytes, str]:
        aad = wrap_aad(ref)
        request = {
            "name": self.key_name,
            "plaintext": dek,
            "additional_authenticated_data": aad,
            "plaintext_crc32c": _crc32c(dek),
            "additional_authenticated_data_crc32c": _crc32c(aad),
        }
        try:
            response = self._client.encrypt(request=request, timeout=_TIMEOUT, retry=None)
        except Exception as exc:
            raise self._failed("encrypt", exc, None) from None
        if not (
            response.verified_plaintext_crc32c
            and response.verified_additional_authenticated_data_crc32c
            and _crc32c(response.ciphertext) == int(response.ciphertext_crc32c)
        ):
            raise KEKUnavailableError(
                f"Google Cloud KMS encrypt with {self._uri}: the integrity check (CRC32C) "
                "failed, the data was corrupted in transit; try again",
                kek=self._uri,
            )
        kek_id = _PREFIX + str(response.name)
        if not self.owns(kek_id):  # the service must report a version of *this* key
            raise KEKUnavailableError(
                f"Google Cloud KMS encrypt with {self._uri} reported an unexpected key version",
                kek=self._uri,
            )
        with self._lock:
            self._current = kek_id
        return bytes(response.ciphertext), kek_id

    def unwrap(self, wrapped: bytes, kek_id: str, ref: RecordRef) -> bytes:
        aad = wrap_aad(ref)
        request = {
            "name": self.key_name,
            "ciphertext": wrapped,
            "additional_authenticated_data": aad,
            "ciphertext_crc32c": _crc32c(wrapped),
            "additional_authenticated_data_crc32c": _crc32c(aad),
        }
        try:
            response = self._client.decrypt(request=request, timeout=_TIMEOUT, retry=None)
        except Exception as exc:
            raise self._failed("decrypt", exc, ref) from None
        plaintext = bytes(response.plaintext)
        if _crc32c(plaintext) != int(response.plaintext_crc32c):
            raise KEKUnavailableError(
                f"Google Cloud KMS decrypt with {self._uri}: the integrity check (CRC32C) "
                "failed, the data was corrupted in transit; try again",
                kek=self._uri,
            )
        return plaintext

    def current_id(self) -> str:
        """The primary version, learned by wrapping a throwaway key (needs only the
        encrypt permission the vault has anyway, unlike reading the key's metadata)."""
        probe = RecordRef(id="probe", provider="llmswitch", owner=None)
        return self.wrap(bytes(32), probe)[1]
