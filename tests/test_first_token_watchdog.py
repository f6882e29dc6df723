"""The async first-token deadlines share one timer handle per loop: each deadline still
fires on its own task, never before its time, a cancelled one never, an earlier one
added later is not held up by the handle set for a later one, and cancellations by
anyone else are told apart from the timer's."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from llmswitch.providers.runtime import FirstTokenTimer, _watchdog


async def _wait_for_timer(delay: float, hold: float = 5.0) -> tuple[bool, float, float]:
    """Sleep under a first-token timer of ``delay``: (expired, when it was due, when
    the cancellation arrived), in loop time."""
    loop = asyncio.get_running_loop()
    due = loop.time() + delay
    timer = FirstTokenTimer(delay)
    try:
        await asyncio.sleep(hold)
    except asyncio.CancelledError:
        return timer.expired(), due, loop.time()
    finally:
        timer.cancel()
    return False, due, loop.time()


async def test_each_deadline_fires_on_its_own_task_and_never_early() -> None:
    delays = [0.30, 0.05, 0.20, 0.10, 0.05, 0.40]  # shorter ones added after longer ones
    results = await asyncio.gather(*(_wait_for_timer(d) for d in delays))
    for expired, due, seen in results:
        assert expired
        assert seen >= due  # never before its time
        assert seen < due + 2.0  # and not held up (wide margin: the machine may be busy)
    assert not _watchdog(asyncio.get_running_loop())._pending


async def test_an_earlier_deadline_added_later_fires_first() -> None:
    slow = asyncio.ensure_future(_wait_for_timer(3.0))
    await asyncio.sleep(0)  # the 3 s deadline holds the handle now
    expired, due, seen = await _wait_for_timer(0.05)
    assert expired and due <= seen < due + 2.0
    assert not slow.done()  # its own deadline has not come
    slow.cancel()
    assert (await slow)[0] is False  # our cancel, not its timer


async def test_a_cancelled_timer_never_fires() -> None:
    loop = asyncio.get_running_loop()
    timers = [FirstTokenTimer(0.05) for _ in range(50)]
    for timer in timers:
        timer.cancel()
    await asyncio.sleep(0.2)  # past every deadline: nothing cancels this task
    assert not any(t.expired() for t in timers)
    assert not _watchdog(loop)._pending


async def test_someone_elses_cancel_is_not_the_timers() -> None:
    async def guarded() -> bool:
        timer = FirstTokenTimer(30.0)
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return timer.expired()
        finally:
            timer.cancel()
        return True

    task = asyncio.ensure_future(guarded())
    await asyncio.sleep(0.01)
    task.cancel()
    assert await task is False


async def test_a_timer_cancelled_after_firing_takes_its_cancel_back() -> None:
    async def body() -> int:
        timer = FirstTokenTimer(0.01)
        # As if the first event came in the same moment: the stream goes on.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(5)
        timer.cancel()
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    assert await asyncio.ensure_future(body()) == 0


@pytest.mark.parametrize("rounds", [3])
def test_each_event_loop_gets_its_own_deadlines(rounds: int) -> None:
    for _ in range(rounds):  # a new loop each time, as asyncio.run makes
        expired, due, seen = asyncio.run(_wait_for_timer(0.02))
        assert expired and seen >= due
