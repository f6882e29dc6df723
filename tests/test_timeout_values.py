"""Timeouts that would break the socket layer later (nan, inf, absurdly large) are a
ConfigurationError naming the field, at construction or at the call (issue 7 items
10 and 11), on both clients."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from llmswitch import AsyncClient, Client, ConfigurationError
from llmswitch.wire import Timeout

HI = [{"role": "user", "content": "hi"}]
BAD: list[tuple[Any, str]] = [
    (math.nan, "timeout"),
    (math.inf, "timeout"),
    (1e300, "timeout"),
    (0, "timeout"),
    ({"total": math.nan}, "timeout.total"),
    ({"connect": math.inf}, "timeout.connect"),
    ({"first_token": -1}, "timeout.first_token"),
]


@pytest.mark.parametrize(("value", "field"), BAD, ids=[repr(v) for v, _ in BAD])
def test_bad_timeouts_fail_at_construction(value: Any, field: str) -> None:
    for cls in (Client, AsyncClient):
        with pytest.raises(ConfigurationError) as info:
            cls(env={}, timeout=value)
        assert info.value.field == field


@pytest.mark.parametrize(("value", "field"), BAD, ids=[repr(v) for v, _ in BAD])
def test_bad_timeouts_fail_at_the_call_before_sending(value: Any, field: str) -> None:
    with Client(env={}) as client, pytest.raises(ConfigurationError) as info:
        client.chat("fake/echo", HI, timeout=value)
    assert info.value.field == field

    async def run() -> None:
        async with AsyncClient(env={}) as aclient:
            await aclient.chat("fake/echo", HI, timeout=value)

    with pytest.raises(ConfigurationError):
        asyncio.run(run())


def test_a_timeout_object_checks_its_fields_too() -> None:
    with pytest.raises(ConfigurationError) as info:
        Timeout(total=math.inf)
    assert info.value.field == "timeout.total"
    assert Timeout(connect=None, first_token=None, total=None).total is None  # no limits
