"""``Tenancy``: the store, the cached authenticator, the limiter and the budgets made
from one configuration, as ``serve`` wires them::

    tenancy = Tenancy.from_config(config)     # [storage] / $LLMSWITCH_DATABASE_URL, [state]
    client = AsyncClient(config=config, middleware=tenancy.middleware(config))
    app = create_app(client, tenants=tenancy.authenticator, config=config)
    await tenancy.start(client)                        # reads the tenants' budgets
    ...
    await tenancy.aclose()                             # (the gateway closes the authenticator)

The limiter counts in ``[state] url`` (Redis for replicas), like every other limit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...storage.sql import Database, open_database
from .auth import TenantAuthenticator
from .budgets import TenantBudgets, budget_layer_for
from .layer import TenantLimitLayer
from .limits import TenantLimiter
from .store import TenantStore

if TYPE_CHECKING:
    from ...config import Config
    from ...middleware.base import Middleware

__all__ = ["Tenancy"]


@dataclass(slots=True)
class Tenancy:
    """Everything tenancy gives the gateway (see the module docs)."""

    store: TenantStore
    authenticator: TenantAuthenticator
    limiter: TenantLimiter
    layer: TenantLimitLayer
    budgets: TenantBudgets | None = field(default=None)

    @classmethod
    def from_config(
        cls, config: Config | None = None, *, database: Database | str | None = None,
        state: str | None = None, ttl: float = 30.0, actor: str = "gateway",
    ) -> Tenancy:  # fmt: skip
        """Open the database (``database``, else ``[storage] database_url``, else
        ``$LLMSWITCH_DATABASE_URL``, else the default SQLite file) and the state store
        (``state``, else ``[state] url``, else ``memory://``). Nothing connects yet."""
        if not isinstance(database, Database):
            url = database or (config.database_url if config is not None else None)
            field_name = "[storage] database_url" if url else "database_url"
            database = open_database(url, os.environ, field=field_name)
        store = TenantStore(database, actor=actor)
        authenticator = TenantAuthenticator(store, ttl=ttl)
        limiter = TenantLimiter(authenticator.levels, state or (config.state if config else None))
        return cls(store, authenticator, limiter, TenantLimitLayer(limiter))

    def middleware(self, config: Config | None) -> list[Middleware]:
        """What the gateway's ``AsyncClient`` needs on top of its configuration: the
        tenant limits, and a budget layer when ``config`` has no ``[[budgets]]`` (so
        the tenants' budgets have one to live in)."""
        from ...config import Config

        layers: list[Middleware] = [self.layer]
        if config is None or not config.budgets:
            layers.append(budget_layer_for(config if config is not None else Config()))
        return layers

    async def start(self, client: Any) -> None:
        """Read the tenants' budgets into ``client``'s budget layer and keep them fresh."""
        if self.budgets is None:
            self.budgets = TenantBudgets(self.store, client)
        await self.budgets.start()

    async def aclose(self) -> None:
        if self.budgets is not None:
            await self.budgets.aclose()
        await self.authenticator.aclose()
        await self.limiter.aclose()
        await self.store.database.aclose()
