"""``TenantBudgets``: the ``budget_usd_day``/``budget_usd_month`` of teams, users and keys
enforced by the client's own :class:`~llmswitch.usage.budgets_layer.BudgetLayer`.

Each becomes a ``block`` budget on ``team:NAME``, ``user:NAME`` or ``key:ID`` — the
scopes the budget layer matches from :func:`llmswitch.usage.tags`, which the gateway
sets per request — set as the layer's *dynamic* budgets next to the configured
``[[budgets]]`` (:meth:`BudgetLayer.set_dynamic_budgets`). So spend is counted where
every other budget's is (memory or Redis, seeded from the ledger), alerts work the same,
and a blocked call raises :class:`~llmswitch.errors.BudgetExceededError` before anything
is sent. The set is read from the database at start, every ``interval`` seconds (so a
change made by another process is enforced within that time) and at once after a change
made through the same :class:`TenantStore`; a client reload that builds a new budget
layer gets the set again on the next :meth:`TenantBudgets.check`.

The client needs a budget layer: one is built when ``llmswitch.toml`` has
``[[budgets]]``; otherwise make the client with ``middleware=[budget_layer_for(config)]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING, Any

from ..._log import get_logger
from ...errors import StorageError
from .store import TenantChange, TenantStore

if TYPE_CHECKING:
    from ...config import Config
    from ...usage.budgets import Budget
    from ...usage.budgets_layer import BudgetLayer

__all__ = ["TenantBudgets", "budget_layer_for", "budget_layer_of"]

_log = get_logger("llmswitch.gateway.tenancy")


def budget_layer_of(client: Any) -> BudgetLayer | None:
    """The budget layer of ``client`` (an ``AsyncClient``/``Client``), ``None`` if none."""
    from ...client import _budget_layer

    core = getattr(client, "_core", None)
    return _budget_layer(getattr(core, "pipe", None))  # type: ignore[no-any-return]


def budget_layer_for(config: Config) -> BudgetLayer:
    """A budget layer built as the client builds its own from ``config`` (its
    ``[[budgets]]``, ``[state]``, database and alerts), for clients whose
    configuration has no ``[[budgets]]`` but whose tenants have budgets."""
    from ...usage.budgets_layer import BudgetLayer

    database = config.database_url or os.environ.get("LLMSWITCH_DATABASE_URL") or None
    return BudgetLayer(
        config.budgets,
        state=config.state,
        database=database,
        alerts=config.alerts,
        groups=tuple(config.models),
    )


class TenantBudgets:
    """Keep ``client``'s budget layer's dynamic budgets equal to the tenants' (see the
    module docs). :meth:`start` reads them and begins the periodic refresh."""

    def __init__(self, store: TenantStore, client: Any, *, interval: float = 30.0) -> None:
        self.store = store
        self.client = client
        self.interval = float(interval)
        self._budgets: tuple[Budget, ...] = ()
        self._applied_to: BudgetLayer | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._warned = False
        store.subscribe(self._changed)

    @property
    def budgets(self) -> tuple[Budget, ...]:
        """The tenants' budgets as last read."""
        return self._budgets

    async def refresh(self) -> None:
        """Read the budgets from the database and apply them. A database failure keeps
        the last set (logged); nothing is lost by a missed refresh."""
        try:
            self._budgets = tuple(await self.store.budgets())
        except StorageError as exc:
            _log.warning(
                "tenancy.budgets_unavailable url=%s: %s; keeping the last tenant budgets",
                self.store.database.url,
                type(exc).__name__,
                extra={"event": "tenancy.budgets_unavailable"},
            )
            return
        self._apply(budget_layer_of(self.client))

    def check(self) -> None:
        """Cheap, per request: re-apply when the client's budget layer is a new one
        (after a reload)."""
        layer = budget_layer_of(self.client)
        if layer is not self._applied_to:
            self._apply(layer)

    async def start(self) -> None:
        await self.refresh()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _apply(self, layer: BudgetLayer | None) -> None:
        self._applied_to = layer
        if layer is not None:
            layer.set_dynamic_budgets(self._budgets)
        elif self._budgets and not self._warned:
            self._warned = True
            _log.warning(
                "tenancy.no_budget_layer: %d tenant budgets are not enforced: the client has "
                "no budget layer (see llmswitch.gateway.tenancy.budgets.budget_layer_for)",
                len(self._budgets),
                extra={"event": "tenancy.no_budget_layer"},
            )

    def _changed(self, change: TenantChange) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.refresh()
