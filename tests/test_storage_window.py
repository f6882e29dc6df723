"""Sliding logs (log_acquire / log_adjust): the same exact answers from the in-memory
and the Redis backend."""

from __future__ import annotations

import math

import pytest

from tests.support.state import Backend

W = 60.0
T0 = 6_000_000.0  # a minute boundary: the old fixed windows started here


def test_acquire_admits_up_to_limit_then_says_how_long(backend: Backend) -> None:
    key = backend.key("rpm")
    for i in range(3):
        adm = backend.store.log_acquire([(key, 1, 3)], W, T0 + 1 + i)
        assert adm.wait == 0.0 and adm.at == T0 + 1 + i and adm.ident
    adm = backend.store.log_acquire([(key, 1, 3)], W, T0 + 10)
    # Exactly when the oldest entry ages out, and nothing was logged.
    assert adm.wait == pytest.approx(51.0)
    assert adm.uses == (3.0,) and adm.ident == ""
    assert backend.store.log_acquire([(key, 1, 3)], W, T0 + 60.5).wait > 0
    assert backend.store.log_acquire([(key, 1, 3)], W, T0 + 61).wait == 0.0  # first aged out
    assert backend.store.log_acquire([(key, 0, 3)], W, T0 + 61).uses == (3.0,)


def test_no_window_admits_more_than_the_limit_across_a_boundary(backend: Backend) -> None:
    # The case the old sliding-window counter got wrong: a burst at the end of one
    # minute and another at the start of the next.
    key = backend.key("edge")
    admitted = []
    t = T0 - 5.0
    while t < T0 + 130:
        if backend.store.log_acquire([(key, 1, 20)], W, t).wait == 0.0:
            admitted.append(t)
        t += 0.25
    for i, start in enumerate(admitted):
        assert sum(1 for x in admitted[i:] if x < start + W) <= 20
    assert len(admitted) == 60  # 20 per 60 s, not more, not fewer


def test_acquire_is_all_or_nothing_across_keys(backend: Backend) -> None:
    a, b = backend.key("a"), backend.key("b")
    assert backend.store.log_acquire([(a, 5, 10), (b, 5, 5)], W, T0).wait == 0.0
    adm = backend.store.log_acquire([(a, 1, 10), (b, 1, 5)], W, T0)
    assert adm.wait == pytest.approx(W)
    assert adm.uses == (5.0, 5.0)  # a was not charged although it had room
    assert backend.store.log_acquire([(a, 11, 10)], W, T0).wait == math.inf


def test_weighted_wait_walks_the_oldest_entries(backend: Backend) -> None:
    key = backend.key("tpm")
    for i, amount in enumerate((300, 300, 300)):
        assert backend.store.log_acquire([(key, amount, 1000)], W, T0 + i).wait == 0.0
    # 900 used: 500 more fit once the first two entries (600) have aged out.
    assert backend.store.log_acquire([(key, 500, 1000)], W, T0 + 5).wait == pytest.approx(56.0)


def test_adjust_refunds_the_calls_own_entry(backend: Backend) -> None:
    key = backend.key("tpm")
    adm = backend.store.log_acquire([(key, 900, 1000)], W, T0 + 5)
    assert backend.store.log_acquire([(key, 200, 1000)], W, T0 + 6).wait > 0
    backend.store.log_adjust(key, adm.ident, 900, -700, W)
    assert backend.store.log_acquire([(key, 0, 1000)], W, T0 + 7).uses == (200.0,)
    assert backend.store.log_acquire([(key, 200, 1000)], W, T0 + 8).wait == 0.0
    # A surcharge is charged without a limit check; a refund to zero removes it.
    backend.store.log_adjust(key, adm.ident, 200, 900, W)
    assert backend.store.log_acquire([(key, 0, 1000)], W, T0 + 9).uses == (1300.0,)
    backend.store.log_adjust(key, adm.ident, 1100, -1100, W)
    assert backend.store.log_acquire([(key, 0, 1000)], W, T0 + 9).uses == (200.0,)
    # An aged-out or unknown entry is harmless.
    backend.store.log_adjust(backend.key("never"), "nope", 5, -5, W)
    assert backend.store.log_acquire([(key, 0, 1000)], W, T0 + 600).uses == (0.0,)
    backend.store.log_adjust(key, adm.ident, 1100, -5, W)


async def test_async_forms_share_state(backend: Backend) -> None:
    key = backend.key("async")
    adm = await backend.store.alog_acquire([(key, 2, 2)], W, T0)
    assert adm.wait == 0.0
    assert backend.store.log_acquire([(key, 1, 2)], W, T0).wait > 0
    await backend.store.alog_adjust(key, adm.ident, 2, -2, W)
    assert backend.store.log_acquire([(key, 1, 2)], W, T0 + 1).wait == 0.0


def test_a_full_memory_log_leaves_the_garbage_collector_nothing_to_walk() -> None:
    """A busy limiter's log holds every call of the last minute; the in-memory one keeps
    them where the cyclic collector does not track them, so a full collection's pause
    does not grow with the request rate."""
    import gc

    from llmswitch.storage import MemoryStore

    store = MemoryStore()
    gc.collect()
    before = len(gc.get_objects())
    for i in range(20_000):
        adm = store.log_acquire([("rpm", 1, 10**9), ("tpm", 50, 10**12)], W, T0 + i * 0.001)
        store.log_adjust("tpm", adm.ident, 50, 7, W)
    gc.collect()
    assert len(gc.get_objects()) - before < 1_000  # 40,000 entries live, none tracked
    assert store.log_acquire([("tpm", 0, 10**12)], W, T0 + 20.0).uses == (20_000 * 57.0,)
