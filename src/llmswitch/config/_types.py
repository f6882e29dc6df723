"""What a loaded ``llmswitch.toml`` is: :class:`Config`, made of the settings types of
the layers it configures (providers, model groups, resilience policies)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..middleware.groups import ModelGroup
from ..providers.settings import ProviderConfig
from ..wire import Secret

if TYPE_CHECKING:
    # Only named here: importing the middleware modules costs ~40 ms, which
    # ``import llmswitch`` does not pay (the validator imports them when a file is read).
    from ..middleware.breaker import BreakerPolicy
    from ..middleware.ratelimit import Limit, Quota
    from ..middleware.retry import RetryPolicy

__all__ = ["Config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A loaded ``llmswitch.toml``. ``aliases`` map a name to its final ``provider/model``
    (chains are resolved at load time); ``models`` are model groups by name. ``path`` is
    ``None`` when no file was found. ``state`` (the ``[state] url``), ``retry``,
    ``breaker``, ``limits`` and ``quotas`` configure the resilience layers the client
    builds; ``None``/empty leaves a layer out. ``max_wait`` (``[queue]``): seconds a call
    waits for rate-limit capacity (default: the limiter's, 10)."""

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

    @property
    def resilient(self) -> bool:
        """Whether any resilience section (or a key pool) is configured."""
        return bool(
            self.retry or self.breaker or self.limits or self.quotas
            or any(pc.keys for pc in self.providers.values())
            or any(d.rpm or d.tpm for g in self.models.values() for d in g.deployments)
        )  # fmt: skip
