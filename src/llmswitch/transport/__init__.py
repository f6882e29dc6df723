"""The only network I/O in llmswitch: async (aiohttp) and sync (urllib3) HTTP. Both
HTTP stacks load on first use, so ``import llmswitch`` stays cheap. What they send and
receive (requests, responses, timeouts, stream framing) is :mod:`llmswitch.wire`'s."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..wire import limits, ndjson, sse

# The framing decoders and their caps lived here before the wire layer: the old module
# paths stay the same module objects (setting ``llmswitch.transport.limits.MAX_LINE_BYTES``
# still takes effect), so code written against them keeps working.
for _module in (limits, ndjson, sse):
    sys.modules[f"{__name__}.{_module.__name__.rpartition('.')[2]}"] = _module

if TYPE_CHECKING:
    from ._async import AsyncTransport
    from ._sync import SyncTransport

__all__ = ["AsyncTransport", "SyncTransport", "limits", "ndjson", "sse"]


def __getattr__(name: str) -> Any:
    if name == "AsyncTransport":
        from ._async import AsyncTransport

        return AsyncTransport
    if name == "SyncTransport":
        from ._sync import SyncTransport

        return SyncTransport
    raise AttributeError(name)
