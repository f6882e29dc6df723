"""Who is calling the gateway (placeholder of the lead's core module, exactly as
/work/brief/core.md specifies it; the core's own file replaces this one at merge)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling (from the access key)."""

    key_id: str | None
    user: str | None
    team: str | None
    admin: bool = False
    allowed_models: frozenset[str] | None = None  # None: every configured model

    def allows(self, model: str) -> bool:
        return self.admin or self.allowed_models is None or model in self.allowed_models
