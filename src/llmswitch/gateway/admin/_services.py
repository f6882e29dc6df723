"""What the admin operations work on, found from the gateway once and kept per app:
the tenancy store (the authenticator's own, so a revocation is seen at once by the
cache that answers the gateway's calls), the prompt and experiment stores and the key
vault, all over the database the gateway's client uses."""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import TYPE_CHECKING, Any

from ..tenancy.store import TenantStore

if TYPE_CHECKING:
    from ...client import AsyncClient
    from ...config import Config
    from ...keys.vault import KeyVault
    from ...prompts import PromptStore
    from ...prompts.experiments import ExperimentStore
    from ...storage.sql import Database
    from .._http import GatewayView

__all__ = ["ACTOR", "AdminServices", "services_for"]

ACTOR = "gateway:admin"  # who the audit log names for changes made here


class AdminServices:
    """The stores behind the admin API of one gateway (see the module docs)."""

    def __init__(self, gateway: GatewayView) -> None:
        self.gateway = gateway
        self.client: AsyncClient = gateway.client
        store = getattr(gateway.tenants, "store", None)
        if isinstance(store, TenantStore):
            self.tenants = store
            self.database: Database = store.database
        else:  # no authenticator (an open gateway): the client's database
            self.database = self.prompts.database
            self.tenants = TenantStore(self.database, actor=ACTOR)
        self._vault: KeyVault | None = None
        self._lock = asyncio.Lock()

    @property
    def prompts(self) -> PromptStore:
        """The client's prompt store (remade by the client when a reload moves the
        database, so it is asked each time)."""
        return self.client.prompts

    @property
    def config(self) -> Config:
        given = self.gateway.config
        # The client's own (private) one when the app was given a client, not a config.
        return given if given is not None else self.client._core.config  # type: ignore[no-any-return]

    @property
    def experiments(self) -> ExperimentStore:
        return self.prompts.experiments  # type: ignore[no-any-return]

    async def vault(self) -> KeyVault:
        """The key vault over the gateway's database, with the configuration's KEK
        (``[keys] kek``, ``$LLMSWITCH_KEK``, ``$LLMSWITCH_MASTER_KEY``); opened on first
        use, in a thread (it may build a KMS client). Not refreshed in the background:
        the admin API only writes and lists."""
        async with self._lock:
            if self._vault is None:
                from ...keys.vault import KeyVault

                env = getattr(self.client._core, "_source", None) or os.environ
                self._vault = await asyncio.to_thread(
                    KeyVault.from_config,
                    self.config,
                    env=env,
                    database=self.prompts.database,
                    refresh=0,
                    actor=ACTOR,
                )
            return self._vault


_SERVICES: weakref.WeakKeyDictionary[Any, AdminServices] = weakref.WeakKeyDictionary()


def services_for(gateway: GatewayView) -> AdminServices:
    """The gateway's :class:`AdminServices`, made on its first admin request (the
    client exists only once the gateway has started)."""
    found = _SERVICES.get(gateway)
    if found is None or found.client is not gateway.client:  # a restarted gateway
        found = _SERVICES[gateway] = AdminServices(gateway)
    return found
