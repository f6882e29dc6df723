"""Key-encryption keys (KEKs): what wraps each record's data key.

Chosen by URI, from ``[keys] kek`` (passed in as ``kek``) or ``$LLMSWITCH_KEK``;
``$LLMSWITCH_MASTER_KEY`` alone implies ``local:``:

- ``local:`` — a 32-byte master key, base64, in ``$LLMSWITCH_MASTER_KEY``;
  ``local:/path/to/file`` reads it from a file only its owner can read
  (:mod:`.local`). ``$LLMSWITCH_MASTER_KEY_PREVIOUS`` (comma-separated) lists retired
  master keys that still unwrap until ``llmswitch keys rotate`` re-wrapped everything.
- ``gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K`` — Google Cloud KMS
  (:mod:`.gcp`, ``pip install 'llmswitch[gcp]'``).
- ``aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID`` — AWS KMS (:mod:`.aws`,
  ``pip install 'llmswitch[aws]'``).

A :class:`KeyRing` is the current KEK plus whatever else may have wrapped an older
record: it unwraps a record with the backend its ``kek_id`` names (so moving from
``local:`` to a KMS, or from one KMS key to another, is a ``keys rotate`` away), and
wraps new records with the current KEK only. Without a KEK there is no ring to wrap
with: the vault refuses to store anything (never plaintext at rest).

KMS clients block; the vault calls them from worker threads on its async paths.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Protocol

from ...errors import ConfigurationError, KeyDecryptionError, KeyVaultError
from ..envelope import RecordRef

__all__ = [
    "KEK", "KeyRing", "check_kek", "kek_from_uri", "kek_source", "keyring", "resolve_kek_uri",
]  # fmt: skip

LOCAL = "local:"
GCP = "gcp-kms://"
AWS = "aws-kms://"


class KEK(Protocol):
    """One key-encryption key backend."""

    @property
    def name(self) -> str:
        """What to show: the URI or key fingerprint, never key material."""
        ...

    def wrap(self, dek: bytes, ref: RecordRef) -> tuple[bytes, str]:
        """Wrap ``dek`` for record ``ref``: ``(wrapped bytes, kek_id)``."""
        ...

    def unwrap(self, wrapped: bytes, kek_id: str, ref: RecordRef) -> bytes:
        """The data key, or :class:`~llmswitch.errors.KeyDecryptionError` naming
        ``ref.id`` (:class:`~llmswitch.errors.KEKUnavailableError` when the KMS cannot
        be reached)."""
        ...

    def owns(self, kek_id: str) -> bool:
        """Whether this backend can unwrap records stored with ``kek_id``."""
        ...

    def current_id(self) -> str:
        """The ``kek_id`` a record wrapped now would get (a KMS may be asked)."""
        ...


def resolve_kek_uri(kek: str | None, env: Mapping[str, str]) -> str | None:
    """The KEK URI in force: ``kek`` (from the config file), else ``$LLMSWITCH_KEK``,
    else ``local:`` when ``$LLMSWITCH_MASTER_KEY`` is set, else ``None``."""
    for value in (kek, env.get("LLMSWITCH_KEK")):
        if value is not None and value.strip():
            return value.strip()
    if env.get("LLMSWITCH_MASTER_KEY"):
        return LOCAL
    return None


def kek_source(kek: str | None, env: Mapping[str, str]) -> str | None:
    """Where the KEK in force was set, for messages: ``[keys] kek``, ``LLMSWITCH_KEK``,
    or ``None`` (``local:`` implied by ``$LLMSWITCH_MASTER_KEY``, which its messages name)."""
    if kek is not None and kek.strip():
        return "[keys] kek"
    if env.get("LLMSWITCH_KEK", "").strip():
        return "LLMSWITCH_KEK"
    return None


def kek_from_uri(uri: str, env: Mapping[str, str]) -> KEK:
    """The backend for ``uri`` (see the module docs for the forms)."""
    if uri.startswith(LOCAL):
        from .local import LocalKEK

        return LocalKEK.from_uri(uri, env)
    if uri.startswith(GCP):
        from .gcp import GcpKmsKEK

        return GcpKmsKEK.from_uri(uri, env)
    if uri.startswith(AWS):
        from .aws import AwsKmsKEK

        return AwsKmsKEK.from_uri(uri, env)
    raise ConfigurationError(
        f"unknown KEK {uri!r}: expected local:, local:/path/to/keyfile, "
        "gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K or "
        "aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID",
        field="kek",
    )


def check_kek(kek: str | None, env: Mapping[str, str], *, source: str | None = None) -> None:
    """Raise the :class:`ConfigurationError` (naming where the KEK was set, as
    :func:`keyring`) that opening the KEK in force would, without asking a KMS: a local
    key (variable or file) is read and decoded, a KMS URI's form is checked."""
    uri = resolve_kek_uri(kek, env)
    if uri is None:
        return
    problem: ConfigurationError | None = None
    if uri.startswith(GCP):
        from .gcp import _KEY_RE

        if not _KEY_RE.fullmatch(uri[len(GCP) :].strip().rstrip("/")):
            problem = ConfigurationError(
                f"KEK {uri!r} is not gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K",
                field="kek",
            )
    elif uri.startswith(AWS):
        from .aws import _ARN_RE

        if not _ARN_RE.fullmatch(uri[len(AWS) :].strip()):
            problem = ConfigurationError(
                f"KEK {uri!r} is not aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID", field="kek"
            )
    else:
        try:
            kek_from_uri(uri, env)  # local: reads the key; anything else is refused
        except ConfigurationError as exc:
            problem = exc
    if problem is not None:
        where = source or kek_source(kek, env)
        if where is None:
            raise problem
        raise ConfigurationError(f"{where}: {problem.message}", field=problem.field or "kek")


def _backend_uri(kek_id: str) -> str | None:
    """The KEK URI that can unwrap records stored with ``kek_id`` (``None``: unknown)."""
    if kek_id.startswith(LOCAL):
        return LOCAL
    if kek_id.startswith(GCP):
        from .gcp import key_of_version

        return key_of_version(kek_id)
    if kek_id.startswith(AWS):
        return kek_id
    return None


class KeyRing:
    """The current KEK (``None``: storing is refused) and the backends that unwrap
    older records, built on demand from their ``kek_id`` and kept."""

    def __init__(self, current: KEK | None, env: Mapping[str, str]) -> None:
        self.current = current
        self._env = env
        self._others: dict[str, KEK] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.current.name if self.current is not None else "(none)"

    def require(self) -> KEK:
        if self.current is None:
            raise KeyVaultError(
                "no key-encryption key is configured, so the vault stores nothing: set "
                "LLMSWITCH_MASTER_KEY (a base64 32-byte key), LLMSWITCH_KEK or [keys] kek"
            )
        return self.current

    def wrap(self, dek: bytes, ref: RecordRef) -> tuple[bytes, str]:
        return self.require().wrap(dek, ref)

    def backend_for(self, kek_id: str, record_id: str) -> KEK:
        current = self.current
        if current is not None and current.owns(kek_id):
            return current
        uri = _backend_uri(kek_id)
        if uri is None:
            raise KeyDecryptionError(
                f"record {record_id}: unknown KEK id {kek_id[:80]!r}", record_id=record_id
            )
        from .local import LocalKEK

        if uri == LOCAL and isinstance(current, LocalKEK):
            backend: KEK = current  # it already holds every local key configured
        else:
            with self._lock:
                found = self._others.get(uri)
                if found is None:
                    try:
                        found = self._others[uri] = self._unwrapper(uri)
                    except ConfigurationError as exc:
                        raise KeyDecryptionError(
                            f"record {record_id}: wrapped by {kek_id[:80]!r}, which cannot "
                            f"be used here: {exc.message}",
                            record_id=record_id,
                        ) from None
            backend = found
        if not backend.owns(kek_id):
            raise KeyDecryptionError(
                f"record {record_id}: wrapped by {kek_id[:80]!r}, which no configured "
                "key-encryption key can unwrap (for a local master key: list it in "
                "LLMSWITCH_MASTER_KEY_PREVIOUS)",
                record_id=record_id,
            )
        return backend

    def _unwrapper(self, uri: str) -> KEK:
        if uri != LOCAL:
            return kek_from_uri(uri, self._env)
        from .local import LocalKEK

        found = LocalKEK.unwrap_only(self._env)
        if found is None:
            raise ConfigurationError(
                "no local master key is configured: set LLMSWITCH_MASTER_KEY or list the "
                "old key in LLMSWITCH_MASTER_KEY_PREVIOUS",
                field="LLMSWITCH_MASTER_KEY_PREVIOUS",
            )
        return found

    def unwrap(self, wrapped: bytes, kek_id: str, ref: RecordRef) -> bytes:
        return self.backend_for(kek_id, ref.id).unwrap(wrapped, kek_id, ref)


def keyring(
    kek: str | None = None, env: Mapping[str, str] | None = None, *, source: str | None = None
) -> KeyRing:
    """The ring for ``kek`` (or the environment's choice; see :func:`resolve_kek_uri`).
    A KEK that cannot be used raises a :class:`ConfigurationError` that starts with
    where it was set: ``source`` (e.g. ``[keys] kek (llmswitch.toml:7)``), else
    :func:`kek_source`'s answer."""
    environ = os.environ if env is None else env
    uri = resolve_kek_uri(kek, environ)
    if uri is None:
        return KeyRing(None, environ)
    try:
        current = kek_from_uri(uri, environ)
    except ConfigurationError as exc:
        where = source or kek_source(kek, environ)
        if where is None:
            raise
        raise ConfigurationError(f"{where}: {exc.message}", field=exc.field or "kek") from None
    return KeyRing(current, environ)
