"""The admin API's wire models (pydantic, used only at this edge).

Request models are strict (a ``"5"`` is not a number) and forbid unknown fields, so a
typo is a 422 naming the field rather than a silent no-op. Response models describe
exactly what the handlers return; the OpenAPI document is made from both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
)

__all__ = [
    "AccessKey",
    "Budget",
    "ErrorResponse",
    "Experiment",
    "ExperimentCreate",
    "ExperimentStop",
    "IssuedKey",
    "KeyIssue",
    "LabelMove",
    "LabelMoved",
    "Limits",
    "LimitsIn",
    "PromptSummary",
    "PromptVersion",
    "ProviderKey",
    "ProviderKeyCreate",
    "Team",
    "TeamCreate",
    "TeamUpdate",
    "UsageQuery",
    "UsageRow",
    "User",
    "UserCreate",
    "UserUpdate",
    "VersionCreate",
]

# The tenancy store's names: 1-64 of these characters.
TENANT_NAME = r"^[A-Za-z0-9._@-]{1,64}$"
TenantName = Annotated[str, StringConstraints(pattern=TENANT_NAME)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")]
ModelList = Annotated[list[ModelName], Field(max_length=200)]
PromptName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")]
LabelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
ExperimentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]


def _integral(value: Any) -> Any:
    """JSON Schema's ``integer`` includes ``3.0``; strict pydantic does not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Int = Annotated[int, BeforeValidator(_integral)]
Count = Annotated[Int, Field(ge=1, le=10**12)]
Usd = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
_MAX_JSON_DEPTH = 16


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


def _utc(value: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken as UTC); one that cannot be is a
    validation error, not an overflow later."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("the time is out of range") from None


def _json_safe(value: Any, depth: int = 0) -> Any:
    """Free-form JSON the store can write back: 64-bit integers, bounded nesting."""
    if depth > _MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {_MAX_JSON_DEPTH} levels")
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError("an integer out of the 64-bit range")
        return value
    if isinstance(value, list):
        for item in value:
            _json_safe(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _json_safe(item, depth + 1)
    return value


UtcTime = Annotated[datetime, AfterValidator(_utc)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_safe)]


# ---- errors


class ErrorDetail(_Out):
    """One failed field of a 422."""

    loc: list[str | int]
    msg: str


class ErrorInfo(BaseModel):
    """``message`` is safe to show; ``code`` a stable word; ``param`` the field."""

    model_config = ConfigDict(extra="allow")
    message: str
    code: str | None = None
    param: str | None = None
    type: str | None = None
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    """Every error the admin API answers with."""

    model_config = ConfigDict(extra="allow")
    error: ErrorInfo


# ---- limits


class LimitsIn(_In):
    """Per-tenant limits and budgets; an absent or ``null`` field is no limit."""

    requests_per_minute: Count | None = None
    tokens_per_minute: Count | None = None
    requests_per_day: Count | None = None
    tokens_per_day: Count | None = None
    budget_usd_day: Usd | None = None
    budget_usd_month: Usd | None = None


class Limits(_Out):
    """A tenant's limits and budgets (``null``: none at this level)."""

    requests_per_minute: int | None
    tokens_per_minute: int | None
    requests_per_day: int | None
    tokens_per_day: int | None
    budget_usd_day: float | None
    budget_usd_month: float | None


# ---- teams and users


class TeamCreate(_In):
    name: TenantName
    allowed_models: ModelList | None = Field(None, description="null: every configured model")
    limits: LimitsIn | None = None


class TeamUpdate(_In):
    """Only the fields sent change; ``null`` clears one."""

    allowed_models: ModelList | None = None
    limits: LimitsIn | None = None


class Team(_Out):
    name: str
    allowed_models: list[str] | None
    limits: Limits
    created_at: datetime


class UserCreate(_In):
    name: TenantName
    team: TenantName | None = Field(None, description="created when missing")
    allowed_models: ModelList | None = None
    limits: LimitsIn | None = None


class UserUpdate(_In):
    """Only the fields sent change; ``null`` clears one (``disabled`` cannot be null)."""

    team: TenantName | None = None
    allowed_models: ModelList | None = None
    limits: LimitsIn | None = None
    disabled: bool = False


class User(_Out):
    name: str
    team: str | None
    allowed_models: list[str] | None
    limits: Limits
    created_at: datetime
    disabled: bool


# ---- access keys


class KeyIssue(_In):
    user: TenantName
    name: Text | None = Field(None, description="a label to recognise the key by")
    expires_at: UtcTime | None = Field(None, description="UTC unless it names its offset")
    allowed_models: ModelList | None = None
    limits: LimitsIn | None = None


class AccessKey(_Out):
    """An access key's record: never the key itself, nor its hash."""

    id: str
    user: str
    name: str | None
    prefix: str
    status: str = Field(description="active, expired or revoked")
    allowed_models: list[str] | None
    limits: Limits
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class IssuedKey(AccessKey):
    """The new key's record and, this once, the key itself."""

    key: str = Field(description="the access key (lsk-...): shown only in this answer")


# ---- provider keys (the vault)


class ProviderKeyCreate(_In):
    provider: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    secret: Annotated[SecretStr, Field(min_length=1, max_length=16384)] = Field(
        description="the provider API key; stored encrypted, never returned"
    )
    user: Text | None = Field(None, description="the user it belongs to (BYOK); null: shared")
    label: Text | None = None


class ProviderKey(_Out):
    """A stored provider key: its fingerprint (SHA-256 of the key), never the key."""

    id: str
    provider: str
    user: str | None
    label: str | None
    fingerprint: str
    status: str
    created_at: datetime
    retire_at: datetime | None


# ---- budgets


class Budget(_Out):
    """A budget's current period, read live."""

    scope: str
    period: str
    period_start: str
    action: str
    limit_usd: float
    spent_usd: float
    reserved_usd: float
    remaining_usd: float


# ---- prompts and experiments


class PromptSummary(_Out):
    name: str
    latest: int
    labels: dict[str, int]
    created_at: datetime
    updated_at: datetime


class PromptVersion(_Out):
    name: str
    version: int
    ref: str
    template: dict[str, Any] = Field(description="system, messages, model, options...")
    content_hash: str
    author: str | None
    message: str | None
    created_at: datetime
    created: bool = Field(description="false: equal to the latest version, nothing written")


class VersionCreate(_In):
    """``template``: a text (the template of one user message) or the content as an
    object (``system``, ``messages``: ``[{role, content}]``, optional ``model``,
    ``options``, ``variables``, ``defaults``)."""

    template: Annotated[str, StringConstraints(min_length=1, max_length=100_000)] | JsonObject
    author: Text | None = None
    message: Annotated[str, StringConstraints(max_length=2000)] | None = None


class LabelMove(_In):
    version: Annotated[Int, Field(ge=1, le=2**31 - 1)]


class LabelMoved(_Out):
    name: str
    label: str
    version: int
    previous: int | None


class VariantIn(_In):
    name: ExperimentId
    version: Annotated[Int, Field(ge=1, le=2**31 - 1)]
    weight: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)] = 1.0
    model: ModelName | None = None


class ExperimentCreate(_In):
    prompt: PromptName
    variants: Annotated[list[VariantIn], Field(min_length=2, max_length=20)]
    id: ExperimentId | None = Field(None, description="default exp-<8 hex>")


class ExperimentStop(_In):
    winner: ExperimentId | None = None


class Variant(_Out):
    name: str
    version: int
    weight: float
    model: str | None = None


class Experiment(_Out):
    id: str
    prompt: str
    status: str
    variants: list[Variant]
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    winner: str | None
    promoted_label: str | None


# ---- usage

_GROUP = "(day|provider|model|user|team|key|prompt)"
When = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Filter = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class UsageQuery(_In):
    """``by``: one or more of day, provider, model, user, team, key, prompt, comma
    separated; ``since``/``until``: a date, an ISO datetime or an age (7d, 12h, 30m)."""

    model_config = ConfigDict(strict=False, extra="forbid", frozen=True)
    by: Annotated[str, StringConstraints(pattern=f"^{_GROUP}(,{_GROUP})*$")] = "day"
    since: When | None = None
    until: When | None = None
    provider: Filter | None = None
    model: Filter | None = None
    user: Filter | None = None
    team: Filter | None = None
    key: Filter | None = None
    prompt: Filter | None = None


class UsageRow(_Out):
    """One group: its grouping field(s), then the sums (``llmswitch usage --format json``)."""

    day: str | None = None
    provider: str | None = None
    model: str | None = None
    user: str | None = None
    team: str | None = None
    key: str | None = None
    prompt: str | None = None
    calls: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: float | None
