"""Provider keys: pools of several keys per provider (:mod:`.pool`: pick one per
attempt, cool down the rate-limited, disable the rejected) and the encrypted key vault
(:mod:`.vault`, :mod:`.envelope`, :mod:`.kek`) with per-user keys (:mod:`.byok`).

The vault's names load on first use: ``import llmswitch`` must not pay for
``cryptography`` and SQLAlchemy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .pool import KeyPool, KeyRotation, KeyState, fingerprint

if TYPE_CHECKING:
    from .byok import UserKeys
    from .vault import KeyRecord, KeyVault, RotationProgress, RotationReport

__all__ = [
    "KeyPool",
    "KeyRecord",
    "KeyRotation",
    "KeyState",
    "KeyVault",
    "RotationProgress",
    "RotationReport",
    "UserKeys",
    "fingerprint",
]

_LAZY = {
    "KeyVault": "vault",
    "KeyRecord": "vault",
    "RotationProgress": "vault",
    "RotationReport": "vault",
    "UserKeys": "byok",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
