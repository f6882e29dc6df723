"""Several API keys per provider: pick one per attempt, cool down the rate-limited,
disable the rejected (see :mod:`.pool`)."""

from __future__ import annotations

from .pool import KeyPool, KeyRotation, KeyState, fingerprint

__all__ = ["KeyPool", "KeyRotation", "KeyState", "fingerprint"]
