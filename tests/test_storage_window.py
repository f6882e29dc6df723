"""Sliding-window counters (window_acquire / window_adjust): same answers from the
in-memory and the Redis backend."""

from __future__ import annotations

import math

import pytest

from llmswitch.storage.base import window_wait
from tests.test_storage import Backend, backend  # noqa: F401  (fixture)

W = 60.0
T0 = 6_000_000.0  # a fixed-window boundary (multiple of 60)


def test_window_wait_closed_form() -> None:
    assert window_wait(0, 4, 10, W, 1, 5) == 0.0
    assert window_wait(0, 5, 10, W, 1, 5) == pytest.approx(50 + 60 * (1 - 4 / 5))
    # 6 in the previous minute, none now, 30 s in: estimate 3 -> fits 2 more, the
    # third once another 1/6 of the previous minute has slid out.
    assert window_wait(6, 0, 30, W, 2, 5) == 0.0
    assert window_wait(6, 0, 30, W, 3, 5) == pytest.approx(10.0)
    assert window_wait(0, 0, 0, W, 6, 5) == math.inf


def test_acquire_admits_up_to_limit_then_says_how_long(backend: Backend) -> None:  # noqa: F811
    key = backend.key("rpm")
    for _ in range(3):
        wait, uses = backend.store.window_acquire([(key, 1, 3)], W, T0 + 1)
        assert wait == 0.0
    wait, uses = backend.store.window_acquire([(key, 1, 3)], W, T0 + 1)
    assert wait == pytest.approx(59 + 60 * (1 - 2 / 3))
    assert uses == (3.0,)
    # After a full minute the previous window still weighs in, then slides out.
    assert backend.store.window_acquire([(key, 1, 3)], W, T0 + 60)[0] > 0
    assert backend.store.window_acquire([(key, 1, 3)], W, T0 + 80)[0] == 0.0  # 3*2/3+0 = 2
    assert backend.store.window_acquire([(key, 0, 3)], W, T0 + 80)[1][0] == pytest.approx(3.0)


def test_acquire_is_all_or_nothing_across_keys(backend: Backend) -> None:  # noqa: F811
    a, b = backend.key("a"), backend.key("b")
    assert backend.store.window_acquire([(a, 5, 10), (b, 5, 5)], W, T0)[0] == 0.0
    wait, uses = backend.store.window_acquire([(a, 1, 10), (b, 1, 5)], W, T0)
    assert wait > 0
    assert uses == (5.0, 5.0)  # a was not charged although it had room
    assert backend.store.window_acquire([(a, 11, 10)], W, T0)[0] == math.inf


def test_adjust_refunds_into_the_window_it_was_taken_from(backend: Backend) -> None:  # noqa: F811
    key = backend.key("tpm")
    assert backend.store.window_acquire([(key, 900, 1000)], W, T0 + 5)[0] == 0.0
    assert backend.store.window_acquire([(key, 200, 1000)], W, T0 + 6)[0] > 0
    backend.store.window_adjust(key, -700, W, T0 + 5, T0 + 7)
    assert backend.store.window_acquire([(key, 200, 1000)], W, T0 + 8)[0] == 0.0
    # A refund for a reservation made in the previous minute lowers that minute.
    backend.store.window_adjust(key, -400, W, T0 + 5, T0 + 61)
    use = backend.store.window_acquire([(key, 0, 1000)], W, T0 + 61)[1][0]
    assert use == pytest.approx(0.0, abs=0.01)
    # Charging an unknown key or a slid-out window is harmless.
    backend.store.window_adjust(backend.key("never"), 5, W, T0, T0)
    backend.store.window_adjust(key, 5, W, T0, T0 + 600)


async def test_async_forms_share_state(backend: Backend) -> None:  # noqa: F811
    key = backend.key("async")
    assert (await backend.store.awindow_acquire([(key, 2, 2)], W, T0))[0] == 0.0
    assert backend.store.window_acquire([(key, 1, 2)], W, T0)[0] > 0
    await backend.store.awindow_adjust(key, -2, W, T0, T0 + 1)
    assert backend.store.window_acquire([(key, 1, 2)], W, T0 + 1)[0] == 0.0
