"""An admin-API gateway over a temporary database, for the admin tests: the admin key,
the vault's master key, a fake provider, and the tenancy store behind the gateway's
authenticator (so keys issued through the API authenticate at once)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from llmswitch import AsyncClient
from llmswitch.config import Config
from llmswitch.gateway import Gateway, GatewaySettings, create_app
from llmswitch.gateway.admin import ROUTES
from llmswitch.gateway.tenancy.auth import TenantAuthenticator
from llmswitch.gateway.tenancy.store import TenantStore
from llmswitch.storage.sql import open_database
from llmswitch.testing import FakeProvider
from llmswitch.wire import Secret

ADMIN_KEY = "adm-" + "Zq9" * 14
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
MASTER = base64.b64encode(bytes([7]) * 32).decode()


@dataclass
class AdminApp:
    app: Gateway
    store: TenantStore
    url: str


def admin_app(
    database_url: str,
    *,
    master_key: bool = True,
    config: Config | None = None,
    provider: FakeProvider | None = None,
) -> AdminApp:
    """The gateway with only the admin routes, over ``database_url``; ``config``: the
    client's (its budgets...), ``provider``: the fake behind ``openai``."""
    env = {"LLMSWITCH_DATABASE_URL": database_url}
    if master_key:
        env["LLMSWITCH_MASTER_KEY"] = MASTER
    fake = provider or FakeProvider("openai").default_reply("hi")
    client = AsyncClient(config=config, providers=[fake], env=env)
    store = TenantStore(open_database(database_url, env), actor="test")
    app = create_app(
        client,
        settings=GatewaySettings(admin_key=Secret(ADMIN_KEY)),
        tenants=TenantAuthenticator(store),
        routes=ROUTES,
    )
    return AdminApp(app, store, database_url)
