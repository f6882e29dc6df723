"""Tool-use ids that carry a provider's tool-call signature through the client.

Gemini 3 signs its function calls (``ToolCall.signature``) and refuses a history whose
calls come back without their signature; an Anthropic client returns only the
``tool_use`` block's ``id``, ``name`` and ``input``. So a signed call's id is the
provider's id, :data:`SEPARATOR`, then the signature in unpadded URL-safe base64 (still
within Anthropic's id alphabet ``[A-Za-z0-9_-]``); :func:`split_id` takes it apart when
the client sends the call and its result back."""

from __future__ import annotations

import base64
import binascii

__all__ = ["SEPARATOR", "join_id", "split_id"]

SEPARATOR = "__sig_"


def join_id(call_id: str, signature: str | None) -> str:
    """The id the client sees for a call with this id and signature."""
    if not signature:
        return call_id
    packed = base64.urlsafe_b64encode(signature.encode("utf-8")).rstrip(b"=").decode("ascii")
    return f"{call_id}{SEPARATOR}{packed}"


def split_id(client_id: str) -> tuple[str, str | None]:
    """``(provider id, signature or None)`` of an id :func:`join_id` made; any other id
    (including one with a separator that does not decode) comes back as given."""
    call_id, sep, packed = client_id.partition(SEPARATOR)
    if not sep or not call_id or not packed:
        return client_id, None
    try:
        raw = base64.b64decode(packed + "=" * (-len(packed) % 4), altchars=b"-_", validate=True)
        return call_id, raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return client_id, None
