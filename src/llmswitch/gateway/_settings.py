"""``[gateway]`` of ``llmswitch.toml`` and ``LLMSWITCH_ADMIN_KEY``: :class:`GatewaySettings`.

[gateway]
host = "127.0.0.1"
port = 4000
workers = 1
public_metrics = false        # /metrics without the admin key
max_body_bytes = 33554432     # 32 MiB: a request with a few base64 images
heartbeat_seconds = 15        # SSE comment after this long without an event
shutdown_grace_seconds = 30   # how long in-flight streams may finish on SIGTERM
access_log = true
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from ..wire import Secret

__all__ = ["ADMIN_KEY_ENV", "GatewaySettings"]

ADMIN_KEY_ENV = "LLMSWITCH_ADMIN_KEY"


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = 4000
    workers: int = 1
    public_metrics: bool = False
    max_body_bytes: int = 32 * 1024 * 1024
    heartbeat_seconds: float = 15.0
    shutdown_grace_seconds: float = 30.0
    access_log: bool = True
    admin_key: Secret | None = None
    # Set by ``serve`` when it binds loopback: until the first access key exists, callers
    # need none (there is nobody else to keep out). Not a [gateway] key.
    open_until_keys: bool = False

    @classmethod
    def from_config(
        cls, section: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> GatewaySettings:
        """The settings of a checked ``[gateway]`` section (``Config.gateway``) with the
        admin key from the environment."""
        env = os.environ if env is None else env
        known = {f.name for f in fields(cls)} - {"admin_key", "open_until_keys"}
        values = {k: v for k, v in (section or {}).items() if k in known}
        for key in ("heartbeat_seconds", "shutdown_grace_seconds"):
            if key in values:
                values[key] = float(values[key])
        admin = env.get(ADMIN_KEY_ENV) or None
        return cls(**values, admin_key=Secret(admin) if admin else None)

    def with_(self, **changes: Any) -> GatewaySettings:
        return replace(self, **changes)
