"""One row of the usage ledger: one billed attempt of a call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._frozen import fast_init

__all__ = ["STATUSES", "UsageRecord", "UsageStatus"]

UsageStatus = Literal["ok", "error", "cancelled", "broken", "cached"]
STATUSES: tuple[UsageStatus, ...] = ("ok", "error", "cancelled", "broken", "cached")


@fast_init  # built on every call: the cheaper __init__ of the core value types
@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRecord:
    """The columns of ``usage_ledger`` (minus ``id``). ``request_id`` is one per client
    call; ``attempt`` counts that call's billed attempts from 1 (router fallbacks and
    retries that reached the provider), so ``(request_id, attempt)`` is unique and a
    journal replay cannot insert a row twice. ``at`` is epoch milliseconds when the
    attempt started. Token counts are ``None`` when the provider did not say;
    ``cost_nano`` (integer nano-USD) is ``None`` when a price is unknown, never 0 for
    unknown. ``error`` is the error's class name. A record appended with
    ``cost_nano=None`` and token counts is priced by the ledger's writer, off the call
    path (``catalog.cost_nano`` at ``at``)."""

    request_id: str
    attempt: int = 1
    at: int
    user: str | None = None
    team: str | None = None
    access_key: str | None = None
    provider: str
    model: str
    deployment: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    prompt_variant: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    latency_ms: int | None = None
    ttft_ms: int | None = None
    status: UsageStatus = "ok"
    error: str | None = None
    cost_nano: int | None = None
    saved_nano: int | None = None
    stream: bool = False
