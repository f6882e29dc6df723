"""``aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID`` — AWS KMS.

Uses boto3 (``pip install 'llmswitch[aws]'``) with the usual AWS credential chain
(environment, profile, instance/task role); ``$AWS_ENDPOINT_URL_KMS`` (then
``$AWS_ENDPOINT_URL``) points it at another endpoint (a VPC endpoint, LocalStack,
moto). The identity needs ``kms:Encrypt`` and ``kms:Decrypt`` on the key.

Each data key is wrapped with ``Encrypt``; the ``EncryptionContext`` binds the record
(``llmswitch:record``, ``llmswitch:provider``, and ``llmswitch:owner`` for a user's key;
absent for a shared one: owners are never empty), and ``Decrypt`` names the key and
the same context, so a wrapped key opens only for its own record, only with this key,
and every use shows up in CloudTrail with the record id. AWS rotates the key material
behind a key ARN itself (old material keeps decrypting), so the ``kek_id`` is
``aws-kms://`` + the key ARN; ``keys rotate`` re-wraps records whose ARN differs from
the current KEK (moving to another key or off ``local:``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...errors import ConfigurationError, KEKUnavailableError, KeyDecryptionError
from ..envelope import RecordRef

__all__ = ["AwsKmsKEK", "encryption_context"]

_PREFIX = "aws-kms://"
_ARN_RE = re.compile(r"arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key/[A-Za-z0-9-]+")
_EXTRA = "the AWS KMS backend needs boto3: pip install 'llmswitch[aws]'"
# Refused-ciphertext codes: the record is wrong, not the service.
_BAD_RECORD = frozenset(
    ("InvalidCiphertextException", "IncorrectKeyException", "InvalidKeyUsageException")
)


def encryption_context(ref: RecordRef) -> dict[str, str]:
    context = {"llmswitch:record": ref.id, "llmswitch:provider": ref.provider}
    if ref.owner is not None:
        context["llmswitch:owner"] = ref.owner
    return context


class AwsKmsKEK:
    """One AWS KMS symmetric key."""

    def __init__(self, arn: str, client: Any) -> None:
        self.arn = arn
        self._client = client
        self._uri = _PREFIX + arn

    @classmethod
    def from_uri(cls, uri: str, env: Mapping[str, str]) -> AwsKmsKEK:
        arn = uri[len(_PREFIX) :].strip()
        match = _ARN_RE.fullmatch(arn)
        if match is None:
            raise ConfigurationError(
                f"KEK {uri!r} is not aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID",
                field="kek",
            )
        try:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]
        except ImportError:
            raise ConfigurationError(_EXTRA, field="kek") from None
        endpoint = env.get("AWS_ENDPOINT_URL_KMS") or env.get("AWS_ENDPOINT_URL") or None
        config = Config(
            connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}
        )
        client = boto3.session.Session().client(
            "kms", region_name=match.group(1), endpoint_url=endpoint, config=config
        )
        return cls(arn, client)

    def __repr__(self) -> str:
        return f"AwsKmsKEK({self._uri!r})"

    @property
    def name(self) -> str:
        return self._uri

    def owns(self, kek_id: str) -> bool:
        return kek_id == self._uri

    def current_id(self) -> str:
        return self._uri

    def _failed(self, action: str, exc: BaseException, ref: RecordRef | None) -> Exception:
        code = ""
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
        if ref is not None and code in _BAD_RECORD:
            return KeyDecryptionError(
                f"record {ref.id}: AWS KMS refused to unwrap its data key ({code})",
                record_id=ref.id,
            )
        return KEKUnavailableError(
            f"AWS KMS {action} with {self._uri} failed: {code or type(exc).__name__}",
            kek=self._uri,
        )

    def wrap(self, dek: bytes, ref: RecordRef) -> tuple[bytes, str]:
        try:
            response = self._client.encrypt(
                KeyId=self.arn, Plaintext=dek, EncryptionContext=encryption_context(ref)
            )
        except Exception as exc:  # botocore's ClientError, connection and credential errors
            raise self._failed("encrypt", exc, None) from None
        if response.get("KeyId") != self.arn:
            raise KEKUnavailableError(
                f"AWS KMS encrypt with {self._uri} answered for another key", kek=self._uri
            )
        return bytes(response["CiphertextBlob"]), self._uri

    def unwrap(self, wrapped: bytes, kek_id: str, ref: RecordRef) -> bytes:
        try:
            response = self._client.decrypt(
                CiphertextBlob=wrapped, KeyId=self.arn, EncryptionContext=encryption_context(ref)
            )
        except Exception as exc:
            raise self._failed("decrypt", exc, ref) from None
        return bytes(response["Plaintext"])
