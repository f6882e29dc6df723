"""The only network I/O in llmswitch: async (aiohttp) and sync (urllib3) HTTP, plus
stream framing. Both HTTP stacks load on first use, so ``import llmswitch`` stays cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._async import AsyncTransport
    from ._sync import SyncTransport

__all__ = ["AsyncTransport", "SyncTransport"]


def __getattr__(name: str) -> Any:
    if name == "AsyncTransport":
        from ._async import AsyncTransport

        return AsyncTransport
    if name == "SyncTransport":
        from ._sync import SyncTransport

        return SyncTransport
    raise AttributeError(name)
