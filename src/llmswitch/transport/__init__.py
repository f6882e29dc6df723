"""The only network I/O in llmswitch: async (aiohttp) and sync (urllib3) HTTP. Both
HTTP stacks load on first use, so ``import llmswitch`` stays cheap. What they send and
receive (requests, responses, timeouts, stream framing) is :mod:`llmswitch.wire`'s."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..wire import limits

# ``llmswitch.transport.limits`` was the caps' documented home before the wire layer:
# the same module object, so setting a cap there still takes effect.
sys.modules[__name__ + ".limits"] = limits

if TYPE_CHECKING:
    from ._async import AsyncTransport
    from ._sync import SyncTransport

__all__ = ["AsyncTransport", "SyncTransport", "limits"]


def __getattr__(name: str) -> Any:
    if name == "AsyncTransport":
        from ._async import AsyncTransport

        return AsyncTransport
    if name == "SyncTransport":
        from ._sync import SyncTransport

        return SyncTransport
    raise AttributeError(name)
