"""Calls written once, as plans: a plan is a generator that yields what to send and
gets the answer back at its ``yield``, so building requests, checking statuses,
paging, batching and error filling happen in one place and only the waiting differs
between :func:`run` (blocking transport) and :func:`arun` (async transport).

A transport error is raised inside the plan at its ``yield``, where the plan may
catch it (a health probe reports it; a call fills in provider and model). See
``docs/architecture.md`` (sans-I/O) for how this fits with the adapters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, TypeAlias, TypeVar, cast

from ..wire import HttpRequest, Timeout

__all__ = ["Fanout", "Plan", "Send", "arun", "run"]

T = TypeVar("T")


class Send:
    """Send ``request`` with ``timeout``; the plan gets the ``HttpResponse``."""

    __slots__ = ("request", "timeout")

    def __init__(self, request: HttpRequest, timeout: Timeout) -> None:
        self.request = request
        self.timeout = timeout


class Fanout:
    """Run these sub-plans and hand back their results in order: one after the other
    on the blocking path (the first failure stops the rest), at most ``limit`` at a
    time on the async one (each holds its slot from building to parsing, so a signed
    request is signed just before it goes out)."""

    __slots__ = ("limit", "plans")

    def __init__(self, plans: Sequence[Plan[Any]], limit: int) -> None:
        self.plans = plans
        self.limit = limit


Plan: TypeAlias = Generator[Send | Fanout, Any, T]


def run(plan: Plan[T], transport: Any) -> T:
    """Perform ``plan`` with a blocking transport: the one driver below, whose awaits
    never suspend here (every send returns before its ``await`` does), stepped once."""
    driving = _drive(plan, _Blocking(transport))
    try:
        driving.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    driving.close()
    raise RuntimeError("a blocking plan waited on something else than its transport")


async def arun(plan: Plan[T], transport: Any) -> T:
    """Perform ``plan`` with an async transport."""
    return await _drive(plan, _Async(transport))


async def _drive(plan: Plan[T], io: _Blocking | _Async) -> T:
    try:
        step = next(plan)
        while True:
            try:
                if isinstance(step, Send):
                    result: Any = await io.send(step.request, step.timeout)
                else:
                    result = await io.fan_out(step)
            except Exception as exc:
                step = plan.throw(exc)
            else:
                step = plan.send(result)
    except StopIteration as done:
        return cast(T, done.value)
    finally:
        plan.close()


class _Blocking:
    __slots__ = ("transport",)

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    async def send(self, request: HttpRequest, timeout: Timeout) -> Any:
        return self.transport.send(request, timeout)

    async def fan_out(self, step: Fanout) -> list[Any]:
        return [await _drive(p, self) for p in step.plans]


class _Async:
    __slots__ = ("send",)

    def __init__(self, transport: Any) -> None:
        self.send: Callable[[HttpRequest, Timeout], Awaitable[Any]] = transport.send

    async def fan_out(self, step: Fanout) -> list[Any]:
        slots = asyncio.Semaphore(step.limit)

        async def one(plan: Plan[Any]) -> Any:
            async with slots:
                return await _drive(plan, self)

        return list(await asyncio.gather(*(one(p) for p in step.plans)))
