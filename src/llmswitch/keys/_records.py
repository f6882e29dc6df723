"""The vault's rows: :class:`KeyRecord` and the repository functions over a SQLAlchemy
``Connection`` (each run in one transaction by ``Database.run``/``arun``, so the sync
and async vault share them). Every change writes its ``audit_log`` row in the same
transaction: fingerprints and ids only, never a secret."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, select, update

from ..errors import ConfigurationError, KeyVaultError
from ..storage.sql import now_ms
from ..storage.sql.audit import write_audit
from ..storage.sql.schema import provider_keys
from .envelope import Envelope, RecordRef

__all__ = ["KeyRecord", "new_id"]

_PROVIDER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ID_RE = re.compile(r"key_[0-9a-f]{20}")
ACTIVE = "active"
RETIRING = "retiring"


def new_id() -> str:
    return "key_" + secrets.token_hex(10)


def check_provider(provider: object) -> str:
    if not isinstance(provider, str) or not _PROVIDER_RE.fullmatch(provider):
        raise ConfigurationError(
            "provider must be a provider id like 'openai' (letters, digits, . _ -; at most 64)",
            field="provider",
        )
    return provider


def check_text(value: object, name: str, limit: int = 200) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ConfigurationError(
            f"{name} must be a non-empty string of at most {limit} characters", field=name
        )
    if any(ord(c) < 32 for c in value):
        raise ConfigurationError(f"{name} must not contain control characters", field=name)
    return value


def check_secret(raw: object) -> str:
    """``raw`` if it can be stored as a key; else ConfigurationError(field ``secret``)
    that never repeats it."""
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigurationError("the key is empty", field="secret")
    if raw != raw.strip() or any(ord(c) < 32 for c in raw):
        raise ConfigurationError(
            "the key has surrounding whitespace or control characters (a pasted "
            "newline?); pass it exactly",
            field="secret",
        )
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:  # undecodable stdin bytes arrive as lone surrogates
        raise ConfigurationError(
            "the key is not valid UTF-8 text (binary or wrongly encoded input?)", field="secret"
        ) from None
    return raw


def check_id(key_id: object) -> str:
    if not isinstance(key_id, str) or not _ID_RE.fullmatch(key_id):
        raise KeyVaultError(f"not a key id: {str(key_id)[:60]!r} (ids look like key_ + 20 hex)")
    return key_id


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRecord:
    """One stored key, without its secret. ``status`` is ``"active"``, ``"retiring"``
    (replaced; usable until ``retire_at``) or ``"retired"`` (past ``retire_at``: no
    longer used). Times are unix epoch milliseconds, UTC."""

    id: str
    provider: str
    user: str | None
    label: str | None
    fingerprint: str
    kek_id: str
    status: str
    retire_at: int | None
    created_at: int
    updated_at: int

    @property
    def short_fingerprint(self) -> str:
        """What tables show: ``…`` plus the last 8 hex digits."""
        return "…" + self.fingerprint[-8:]

    @property
    def ref(self) -> RecordRef:
        return RecordRef(id=self.id, provider=self.provider, owner=self.user)

    def usable(self, now_ms: int) -> bool:
        return self.status == ACTIVE or (
            self.status == RETIRING and self.retire_at is not None and now_ms < self.retire_at
        )

    def to_json(self) -> dict[str, Any]:
        """The ``keys list --format json`` object; ``created_at`` as an RFC 3339 UTC
        timestamp with milliseconds (``2026-12-01T17:18:18.128Z``), as JSON tools expect."""
        created = datetime.fromtimestamp(self.created_at / 1000, tz=UTC)
        return {
            "id": self.id,
            "provider": self.provider,
            "user": self.user,
            "label": self.label,
            "fingerprint": self.fingerprint,
            "created_at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredKey:
    """A row with its envelope (still encrypted)."""

    record: KeyRecord
    envelope: Envelope


def _record(row: Any, now: int) -> KeyRecord:
    status = row.status
    if status == RETIRING and row.retire_at is not None and now >= row.retire_at:
        status = "retired"
    return KeyRecord(
        id=row.id,
        provider=row.provider,
        user=row.owner,
        label=row.label,
        fingerprint=row.fingerprint,
        kek_id=row.kek_id,
        status=status,
        retire_at=row.retire_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _stored(row: Any, now: int) -> StoredKey:
    envelope = Envelope(
        kek_id=row.kek_id,
        wrapped_key=bytes(row.wrapped_key),
        nonce=bytes(row.nonce),
        ciphertext=bytes(row.ciphertext),
    )
    return StoredKey(record=_record(row, now), envelope=envelope)


def _owner_is(owner: str | None) -> Any:
    return provider_keys.c.owner.is_(None) if owner is None else provider_keys.c.owner == owner


def insert_key(
    conn: Connection,
    ref: RecordRef,
    label: str | None,
    fp: str,
    envelope: Envelope,
    replace: tuple[str, int] | None,
    actor: str,
) -> KeyRecord:
    """Store a sealed key; with ``replace=(old id, retire_at)`` the old key is marked
    retiring in the same transaction. Refuses a duplicate of a usable key."""
    now = now_ms()
    same = select(provider_keys.c.id, provider_keys.c.status, provider_keys.c.retire_at).where(
        provider_keys.c.provider == ref.provider,
        _owner_is(ref.owner),
        provider_keys.c.fingerprint == fp,
    )
    for row in conn.execute(same):
        if row.status == ACTIVE or (row.retire_at is not None and now < row.retire_at):
            raise KeyVaultError(f"this key is already stored as {row.id}")
    if replace is not None:
        old_id, retire_at = replace
        old = conn.execute(select(provider_keys).where(provider_keys.c.id == old_id)).first()
        if old is None:
            raise KeyVaultError(f"no stored key {old_id} to replace")
        if old.provider != ref.provider or old.owner != ref.owner:
            raise KeyVaultError(
                f"key {old_id} belongs to provider {old.provider!r}"
                + (f" and user {old.owner!r}" if old.owner else " (shared)")
                + "; a replacement must have the same provider and user"
            )
        if old.status != ACTIVE:
            # Replacing a retired (maybe leaked) key would give it a fresh window and put
            # it back in the pool; replacing a retiring one would move its end later.
            state = _record(old, now).status
            raise KeyVaultError(
                f"key {old_id} is {state} (already replaced); only an active key can be "
                "replaced: replace its replacement instead"
            )
        # Conditional on the status read above: of two concurrent replacements of one
        # key (PostgreSQL READ COMMITTED), the second updates nothing and is refused.
        retired = conn.execute(
            update(provider_keys)
            .where(provider_keys.c.id == old_id, provider_keys.c.status == ACTIVE)
            .values(status=RETIRING, retire_at=retire_at, updated_at=now)
        )
        if retired.rowcount != 1:
            raise KeyVaultError(
                f"key {old_id} was replaced meanwhile; only an active key can be replaced"
            )
    values = {
        "id": ref.id,
        "provider": ref.provider,
        "owner": ref.owner,
        "label": label,
        "fingerprint": fp,
        "kek_id": envelope.kek_id,
        "wrapped_key": envelope.wrapped_key,
        "nonce": envelope.nonce,
        "ciphertext": envelope.ciphertext,
        "status": ACTIVE,
        "retire_at": None,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(provider_keys.insert().values(**values))
    facts = {"provider": ref.provider, "user": ref.owner, "label": label, "fingerprint": fp}
    write_audit(conn, actor=actor, action="key.add", subject=ref.id, detail=facts)
    if replace is not None:
        write_audit(
            conn,
            actor=actor,
            action="key.replace",
            subject=replace[0],
            detail={**facts, "replacement": ref.id, "retire_at": replace[1]},
        )
    row = conn.execute(select(provider_keys).where(provider_keys.c.id == ref.id)).one()
    return _record(row, now)


def list_keys(
    conn: Connection, provider: str | None, user: str | None, shared_only: bool = False
) -> list[KeyRecord]:
    query = select(provider_keys).order_by(
        provider_keys.c.provider, provider_keys.c.owner, provider_keys.c.created_at
    )
    if provider is not None:
        query = query.where(provider_keys.c.provider == provider)
    if user is not None or shared_only:
        query = query.where(_owner_is(user))
    now = now_ms()
    return [_record(row, now) for row in conn.execute(query)]


def table_signature(conn: Connection) -> tuple[int, ...]:
    """Changes whenever a row is added, removed or updated (each bumps ``updated_at``;
    the sums catch it even from a machine whose clock is behind)."""
    from sqlalchemy import func

    c = provider_keys.c
    query = select(
        func.count(), func.max(c.updated_at), func.sum(c.created_at), func.sum(c.updated_at)
    ).select_from(provider_keys)
    row = conn.execute(query).one()
    return tuple(int(v or 0) for v in row)


def all_stored(conn: Connection) -> list[StoredKey]:
    now = now_ms()
    return [_stored(row, now) for row in conn.execute(select(provider_keys))]


def get_stored(conn: Connection, key_id: str) -> StoredKey:
    row = conn.execute(select(provider_keys).where(provider_keys.c.id == key_id)).first()
    if row is None:
        raise KeyVaultError(f"no stored key {key_id}")
    return _stored(row, now_ms())


def remove_key(conn: Connection, key_id: str, actor: str) -> KeyRecord:
    row = conn.execute(select(provider_keys).where(provider_keys.c.id == key_id)).first()
    if row is None:
        raise KeyVaultError(f"no stored key {key_id}")
    conn.execute(delete(provider_keys).where(provider_keys.c.id == key_id))
    record = _record(row, now_ms())
    write_audit(
        conn,
        actor=actor,
        action="key.remove",
        subject=key_id,
        detail={
            "provider": record.provider,
            "user": record.user,
            "label": record.label,
            "fingerprint": record.fingerprint,
        },
    )
    return record


def pending_rotation(
    conn: Connection, current_kek_id: str, after: str, limit: int
) -> list[StoredKey]:
    """The next ``limit`` records (by id, after ``after``) not under ``current_kek_id``."""
    query = (
        select(provider_keys)
        .where(provider_keys.c.kek_id != current_kek_id, provider_keys.c.id > after)
        .order_by(provider_keys.c.id)
        .limit(limit)
    )
    now = now_ms()
    return [_stored(row, now) for row in conn.execute(query)]


def count_pending(conn: Connection, current_kek_id: str) -> int:
    from sqlalchemy import func

    query = select(func.count()).where(provider_keys.c.kek_id != current_kek_id)
    return int(conn.execute(query.select_from(provider_keys)).scalar_one())


def swap_envelope(conn: Connection, key_id: str, old: Envelope, new: Envelope, actor: str) -> bool:
    """Compare-and-set: the new envelope only if the row still holds ``old`` (a
    concurrent rotation or a removal wins; the caller just moves on)."""
    result = conn.execute(
        update(provider_keys)
        .where(
            and_(
                provider_keys.c.id == key_id,
                provider_keys.c.kek_id == old.kek_id,
                provider_keys.c.wrapped_key == old.wrapped_key,
            )
        )
        .values(
            kek_id=new.kek_id,
            wrapped_key=new.wrapped_key,
            nonce=new.nonce,
            ciphertext=new.ciphertext,
            updated_at=now_ms(),
        )
    )
    if result.rowcount != 1:
        return False
    write_audit(
        conn,
        actor=actor,
        action="key.rotate",
        subject=key_id,
        detail={"from_kek": old.kek_id, "to_kek": new.kek_id},
    )
    return True
