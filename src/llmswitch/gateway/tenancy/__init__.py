"""Gateway tenancy: teams, users and access keys in the SQL database
(:class:`TenantStore`), the cached authenticator the gateway asks per request
(:class:`TenantAuthenticator`), per-tenant rate limits and quotas across replicas
(:class:`TenantLimiter`) and per-tenant budgets fed into the client's budget layer
(:class:`TenantBudgets`). See ``docs/gateway/tenancy.md``."""

from __future__ import annotations

from ._types import (
    KEY_PREFIX,
    UNCHANGED,
    AccessKeyRecord,
    TeamRecord,
    TenantError,
    TenantLimits,
    UserRecord,
)
from .auth import TenantAuthenticator
from .budgets import TenantBudgets, budget_layer_for, budget_layer_of
from .layer import TenantLimitLayer
from .limits import Admission, TenantLimiter
from .store import TenantChange, TenantStore
from .wiring import Tenancy

__all__ = [
    "KEY_PREFIX",
    "UNCHANGED",
    "AccessKeyRecord",
    "Admission",
    "TeamRecord",
    "Tenancy",
    "TenantAuthenticator",
    "TenantBudgets",
    "TenantChange",
    "TenantError",
    "TenantLimitLayer",
    "TenantLimiter",
    "TenantLimits",
    "TenantStore",
    "UserRecord",
    "budget_layer_for",
    "budget_layer_of",
]
