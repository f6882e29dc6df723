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
from collections.abc import Generator, Sequence
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
    """Perform ``plan`` with a blocking transport: the driver :func:`arun`, whose
    awaits never suspend here (each send is done before its ``await`` returns),
    stepped once."""
    driving = arun(plan, _Blocking(transport))
    try:
        driving.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    driving.close()
    raise RuntimeError("a blocking plan waited on something else than its transport")


async def arun(plan: Plan[T], transport: Any) -> T:
    """Perform ``plan`` with an async transport (or a wrapped blocking one)."""
    try:
        step = next(plan)
        while True:
            try:
                if isinstance(step, Send):
                    result: Any = await transport.send(step.request, step.timeout)
                else:
                    result = await _fan_out(step, transport)
            except Exception as exc:
                step = plan.throw(exc)
            else:
                step = plan.send(result)
    except StopIteration as done:
        return cast(T, done.value)
    finally:
        plan.close()


class _Blocking:
    """A blocking transport behind an awaitable ``send`` that never suspends."""

    __slots__ = ("transport",)

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    async def send(self, request: HttpRequest, timeout: Timeout) -> Any:
        return self.transport.send(request, timeout)


async def _fan_out(step: Fanout, transport: Any) -> list[Any]:
    if isinstance(transport, _Blocking):
        return [await arun(p, transport) for p in step.plans]
    slots = asyncio.Semaphore(step.limit)

    async def one(plan: Plan[Any]) -> Any:
        async with slots:
            return await arun(plan, transport)

    return list(await asyncio.gather(*(one(p) for p in step.plans)))
