"""Who is calling: the :class:`Principal` an access key (or the admin key) resolves to."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..usage._tags import CallTags

__all__ = ["ADMIN", "ANONYMOUS", "Principal"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """The caller of one request. ``key_id``: the access key's public id (``key_...``),
    ``None`` for the admin key and for an open gateway; ``allowed_models``: the model
    names (as the caller writes them: ``provider/model``, an alias or a group) it may use,
    ``None`` for every configured model."""

    key_id: str | None
    user: str | None
    team: str | None
    admin: bool = False
    allowed_models: frozenset[str] | None = None
    # The usage tags of this caller's calls, made once per principal, not per request.
    tags: CallTags | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.user is not None or self.team is not None or self.key_id is not None:
            tags = CallTags(user=self.user, team=self.team, access_key=self.key_id)
            object.__setattr__(self, "tags", tags)

    def allows(self, model: str) -> bool:
        allowed = self.allowed_models
        if allowed is None or self.admin:
            return True
        if model in allowed:
            return True
        # "openai/*" allows every model of that provider.
        provider, sep, _ = model.partition("/")
        return bool(sep) and f"{provider}/*" in allowed


ADMIN = Principal(key_id=None, user=None, team=None, admin=True)
# An open gateway (no access keys, no admin key; loopback only): anyone is this.
ANONYMOUS = Principal(key_id=None, user=None, team=None)
