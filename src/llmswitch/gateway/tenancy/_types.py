"""The tenancy value types: limits, teams, users, access key records, and the checks
on names, model lists and access key strings they share."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import EllipsisType
from typing import Any, Literal

from ...errors import ConfigurationError

__all__ = [
    "KEY_PREFIX",
    "UNCHANGED",
    "AccessKeyRecord",
    "TeamRecord",
    "TenantError",
    "TenantLimits",
    "UserRecord",
    "check_models",
    "check_name",
    "from_ms",
    "hash_key",
    "looks_like_key",
    "new_key",
    "to_ms",
]

KEY_PREFIX = "lsk-"
# 32 random bytes -> 43 URL-safe base64 characters: 256 bits, so a fast unsalted hash
# of the key is as strong as the key itself.
_KEY_BYTES = 32
_MAX_KEY_CHARS = 200  # what resolve() hashes at most: longer is not one of ours
_NAME_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_KEY_RE = re.compile(r"lsk-[A-Za-z0-9_-]{32,}")
_MAX_MODELS = 1000
_MAX_MODEL_CHARS = 200

# The "leave it as it is" value of the update methods' arguments (``...``).
UNCHANGED: EllipsisType = ...

TenantErrorKind = Literal["invalid", "exists", "not_found"]


class TenantError(ConfigurationError):
    """A tenancy operation refused: ``kind`` is ``"invalid"`` (a bad value; ``field``
    names it), ``"exists"`` (the name or id is taken) or ``"not_found"``."""

    def __init__(
        self, message: str, *, field: str | None = None, kind: TenantErrorKind = "invalid"
    ):
        self.kind = kind
        super().__init__(message, field=field)


def check_name(value: object, field: str) -> str:
    """``value`` as a team or user name: 1-64 characters of ``[A-Za-z0-9._@-]``."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise TenantError(
            f"{field} must be 1-64 characters of letters, digits, '.', '_', '@' or '-'",
            field=field,
        )
    return value


def check_models(value: object, field: str = "allowed_models") -> tuple[str, ...] | None:
    """``value`` as an allowed-models list (``None``: unrestricted), order kept,
    duplicates dropped."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TenantError(f"{field} must be a list of model names or null", field=field)
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item) > _MAX_MODEL_CHARS:
            raise TenantError(
                f"{field} entries must be non-empty model names of at most "
                f"{_MAX_MODEL_CHARS} characters",
                field=field,
            )
        if item not in out:
            out.append(item)
    if len(out) > _MAX_MODELS:
        raise TenantError(f"{field} has more than {_MAX_MODELS} models", field=field)
    return tuple(out)


def _count(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TenantError(f"limits.{name} must be an integer >= 1", field=f"limits.{name}")
    return value


def _usd(value: object, name: str) -> Decimal | None:
    if value is None:
        return None
    bad = TenantError(
        f"limits.{name} must be an amount of USD >= 0 with at most 9 decimals",
        field=f"limits.{name}",
    )
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise bad
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise bad from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("1e-9")):
        raise bad
    return amount


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantLimits:
    """Limits at one level (team, user or key); ``None`` = no limit of that kind here.
    Per-minute limits are sliding windows, per-day ones UTC calendar days; budgets are
    spend caps per UTC day or month, enforced as ``block`` budgets."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None
    budget_usd_day: Decimal | None = None
    budget_usd_month: Decimal | None = None

    def __post_init__(self) -> None:
        for name in (
            "requests_per_minute",
            "tokens_per_minute",
            "requests_per_day",
            "tokens_per_day",
        ):
            _count(getattr(self, name), name)
        for name in ("budget_usd_day", "budget_usd_month"):
            object.__setattr__(self, name, _usd(getattr(self, name), name))

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_json(self) -> dict[str, Any]:
        """The limits set, as JSON-ready values (amounts as decimal strings)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = str(value) if isinstance(value, Decimal) else value
        return out

    @classmethod
    def from_json(cls, data: object) -> TenantLimits:
        """Limits from their JSON object (``None``: no limits); unknown keys are errors."""
        if data is None:
            return cls()
        if isinstance(data, TenantLimits):
            return data
        if not isinstance(data, Mapping):
            raise TenantError("limits must be an object", field="limits")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise TenantError(
                    f"limits has an unknown field {str(key)[:64]!r} (known: "
                    f"{', '.join(sorted(known))})",
                    field=f"limits.{str(key)[:64]}",
                )
        return cls(**{k: v for k, v in data.items() if v is not None})


NO_LIMITS = TenantLimits()


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamRecord:
    """A team: its members share its allowed models, limits and budgets."""

    name: str
    allowed_models: tuple[str, ...] | None
    limits: TenantLimits
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRecord:
    """A user (``team`` may be ``None``); a disabled user's keys do not authenticate."""

    name: str
    team: str | None
    allowed_models: tuple[str, ...] | None
    limits: TenantLimits
    created_at: datetime
    disabled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessKeyRecord:
    """An access key's public record: its id (``key_`` + 12 hex) and display prefix
    (the first 8 characters after ``lsk-``); never the key or its hash."""

    id: str
    user: str
    name: str | None
    prefix: str
    allowed_models: tuple[str, ...] | None
    limits: TenantLimits
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def status(self, now: datetime | None = None) -> str:
        """``"active"``, ``"revoked"`` or ``"expired"``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"


def new_key() -> tuple[str, str, str]:
    """A fresh access key: (key, its hash, its display prefix)."""
    key = KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)
    return key, hash_key(key), key[len(KEY_PREFIX) : len(KEY_PREFIX) + 8]


def new_key_id() -> str:
    return "key_" + secrets.token_hex(6)


def hash_key(key: str) -> str:
    """The stored form of an access key: hex SHA-256 (see the schema's comment)."""
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    """Whether ``token`` has the shape of an access key (cheap: checked before hashing)."""
    return len(token) <= _MAX_KEY_CHARS and _KEY_RE.fullmatch(token) is not None


def to_ms(value: datetime | None, field: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TenantError(f"{field} must be a datetime", field=field)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # naive datetimes are taken as UTC
    return int(value.timestamp() * 1000)


def from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)
