"""What a loaded ``llmswitch.toml`` is: :class:`Config`, made of the settings types of
the layers it configures (providers, model groups, resilience policies)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..middleware.groups import ModelGroup
from ..providers.settings import ProviderConfig
from ..wire import Secret

if TYPE_CHECKING:
    from ..cache import CacheSettings
    from ..catalog import CatalogSettings

    # Only named here: importing the middleware modules costs ~40 ms, which
    # ``import llmswitch`` does not pay (the validator imports them when a file is read).
    from ..middleware.breaker import BreakerPolicy
    from ..middleware.ratelimit import Limit, Quota
    from ..middleware.retry import RetryPolicy
    from ..usage.budgets import AlertSettings, Budget
    from ..usage.ledger import LedgerSettings

__all__ = ["Config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A loaded ``llmswitch.toml``. ``aliases`` map a name to its final ``provider/model``
    (chains are resolved at load time); ``models`` are model groups by name. ``path`` is
    ``None`` when no file was found. ``state`` (the ``[state] url``), ``retry``,
    ``breaker``, ``limits`` and ``quotas`` configure the resilience layers the client
    builds; ``None``/empty leaves a layer out. ``max_wait`` (``[queue]``): seconds a call
    waits for rate-limit capacity (default: the limiter's, 10). ``database_url``
    (``[storage]``), ``kek``, ``require_user_keys``, ``key_cache_ttl``, ``key_refresh``
    (``[keys]``) configure the SQL storage and the key vault; ``watch`` (``[config]``)
    turns on reloading the file when it changes; ``overlay`` is the ``[env.NAME]``
    table merged in."""

    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    models: Mapping[str, ModelGroup] = field(default_factory=dict)
    path: Path | None = None
    state: str | None = None
    state_secret: Secret | None = None  # [state] secret: keys HMAC'd key names
    retry: RetryPolicy | None = None
    breaker: BreakerPolicy | None = None
    limits: tuple[Limit, ...] = ()
    quotas: tuple[Quota, ...] = ()
    max_wait: float | None = None
    # [storage] database_url; not in the repr: the URL may carry a password.
    database_url: str | None = field(default=None, repr=False)
    kek: str | None = None  # [keys] kek: which key-encryption key (a URI, not a secret)
    require_user_keys: bool = False  # [keys]: a call with user= must use that user's key
    key_cache_ttl: float | None = None  # [keys] cache_ttl: seconds (None: the vault's default)
    key_refresh: float | None = None  # [keys] refresh: seconds (None: the vault's default)
    budgets: tuple[Budget, ...] = ()  # [[budgets]]: spend budgets (llmswitch.usage.budgets)
    alerts: AlertSettings | None = None  # [alerts]: the budgets' webhook and its secret
    usage: LedgerSettings | None = None  # [usage]: the usage ledger's settings
    catalog: CatalogSettings | None = None  # [catalog]: model overrides, custom prices
    cache: CacheSettings | None = None  # [cache]: the response cache (llmswitch.cache)
    # [gateway]: checked values, read into llmswitch.gateway.GatewaySettings by serve
    gateway: Mapping[str, Any] | None = None
    watch: bool = False  # [config] watch: reload the file when it changes
    overlay: str | None = None  # the [env.NAME] merged in ($LLMSWITCH_ENV), if any
    # Every value ${VAR} put into the file: masked wherever the configuration is shown
    # (config.diff), since any of them may be a secret.
    masked: tuple[Secret, ...] = field(default=(), repr=False, compare=False)

    @property
    def resilient(self) -> bool:
        """Whether any resilience section (or a key pool) is configured."""
        return bool(
            self.retry or self.breaker or self.limits or self.quotas or self.budgets
            or any(pc.keys for pc in self.providers.values())
            or any(d.rpm or d.tpm for g in self.models.values() for d in g.deployments)
        )  # fmt: skip
