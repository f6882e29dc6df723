"""State stores: the same behaviour from the in-memory and the Redis backend."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmswitch.errors import ConfigurationError
from llmswitch.storage import MemoryStore, open_store
from tests.support.state import Backend

T0 = 1_763_769_600.0  # window tests pass time explicitly, identical for both backends


def test_values_roundtrip_and_absent(backend: Backend) -> None:
    s, k = backend.store, backend.key("v")
    assert s.get(k) is None
    assert s.set(k, '{"a": 1}') is True
    assert s.get(k) == '{"a": 1}'
    s.set(k, "second")
    assert s.get(k) == "second"


def test_value_ttl_expires(backend: Backend) -> None:
    s, k = backend.store, backend.key("ttl")
    s.set(k, "x", ttl=0.1)
    assert s.get(k) == "x"
    backend.wait(0.2)
    assert s.get(k) is None


def test_set_only_if_absent_writes_once(backend: Backend) -> None:
    s, k = backend.store, backend.key("nx")
    assert s.set(k, "first", only_if_absent=True) is True
    assert s.set(k, "second", only_if_absent=True) is False
    assert s.get(k) == "first"
    s.set(k, "short", ttl=0.1)
    backend.wait(0.2)
    assert s.set(k, "after expiry", only_if_absent=True) is True
    assert s.get(k) == "after expiry"


def test_delete_removes_every_kind(backend: Backend) -> None:
    s = backend.store
    v, c, w = backend.key("v"), backend.key("c"), backend.key("w")
    s.set(v, "x")
    s.incr_window(c, 5, 60)
    s.record_outcome(w, False, T0, 60, 10)
    s.delete(v, c, w, backend.key("missing"))
    assert s.get(v) is None
    assert s.incr_window(c, 1, 60) == 1
    assert s.outcomes(w, T0, 60, 10) == (0, 0)


def test_incr_window_counts_then_resets(backend: Backend) -> None:
    s, k = backend.store, backend.key("ctr")
    assert s.incr_window(k, 1, 0.15) == 1
    assert s.incr_window(k, 3, 0.15) == 4
    assert s.incr_window(k, -1, 0.15) == 3  # give back (e.g. reconcile an estimate)
    backend.wait(0.25)
    assert s.incr_window(k, 2, 0.15) == 2


def test_record_outcome_counts_successes_and_failures(backend: Backend) -> None:
    s, k = backend.store, backend.key("w")
    assert s.record_outcome(k, True, T0, 60, 10) == (1, 0)
    assert s.record_outcome(k, False, T0 + 1, 60, 10) == (1, 1)
    assert s.record_outcome(k, False, T0 + 2, 60, 10) == (1, 2)
    assert s.outcomes(k, T0 + 3, 60, 10) == (1, 2)
    assert s.outcomes(k, T0 + 3, 60, 10) == (1, 2)  # reading records nothing


def test_record_outcome_window_rolls_bucket_by_bucket(backend: Backend) -> None:
    s, k = backend.store, backend.key("roll")
    # 60 s window in 6 buckets of 10 s; T0 is bucket-aligned.
    s.record_outcome(k, False, T0, 60, 6)
    s.record_outcome(k, False, T0 + 25, 60, 6)
    s.record_outcome(k, True, T0 + 55, 60, 6)
    assert s.outcomes(k, T0 + 59, 60, 6) == (1, 2)
    assert s.outcomes(k, T0 + 60, 60, 6) == (1, 1)  # T0's bucket left the window
    assert s.record_outcome(k, True, T0 + 85, 60, 6) == (2, 0)  # T0+25's too
    assert s.outcomes(k, T0 + 200, 60, 6) == (0, 0)


def test_keys_are_independent(backend: Backend) -> None:
    s = backend.store
    s.record_outcome(backend.key("a"), False, T0, 60, 10)
    assert s.outcomes(backend.key("b"), T0, 60, 10) == (0, 0)
    s.incr_window(backend.key("ca"), 7, 60)
    assert s.incr_window(backend.key("cb"), 1, 60) == 1


async def test_async_methods_share_state_with_sync(backend: Backend) -> None:
    s = backend.store
    v, c, w = backend.key("v"), backend.key("c"), backend.key("w")
    try:
        s.set(v, "from sync")
        assert await s.aget(v) == "from sync"
        assert await s.aset(v, "from async") is True
        assert await s.aset(v, "nx", only_if_absent=True) is False
        assert s.get(v) == "from async"
        s.incr_window(c, 2, 60)
        assert await s.aincr_window(c, 3, 60) == 5
        assert await s.arecord_outcome(w, False, T0, 60, 10) == (0, 1)
        s.record_outcome(w, True, T0, 60, 10)
        assert await s.aoutcomes(w, T0, 60, 10) == (1, 1)
        await s.adelete(v, c, w)
        assert await s.aget(v) is None
        assert await s.aoutcomes(w, T0, 60, 10) == (0, 0)
    finally:
        await s.aclose()


def test_memory_store_is_thread_safe() -> None:
    import threading

    store = MemoryStore()

    def work() -> None:
        for _ in range(2000):
            store.incr_window("n", 1, 60)
            store.record_outcome("w", True, T0, 60, 10)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.incr_window("n", 0, 60) == 16000
    assert store.outcomes("w", T0, 60, 10) == (16000, 0)


# --------------------------------------------------------------------------- open_store


def test_open_store_defaults_to_memory() -> None:
    assert isinstance(open_store(), MemoryStore)
    assert isinstance(open_store("memory://"), MemoryStore)


def test_open_store_rejects_unknown_scheme_without_leaking_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store("memcached://user:hunter22secret@cache:11211")
    assert "memcached" in str(info.value)
    assert "hunter22secret" not in str(info.value)
    assert info.value.field == "state"


def test_redis_store_repr_hides_password() -> None:
    store = open_store("redis://:hunter22secret@localhost:6379/15")  # connects lazily
    try:
        assert "hunter22secret" not in repr(store)
        assert "localhost:6379/15" in repr(store)
    finally:
        store.close()


def test_memory_store_never_imports_redis() -> None:
    code = (
        "import sys; from llmswitch.storage import open_store; "
        "from llmswitch.middleware import CircuitBreaker; "
        "CircuitBreaker(); open_store('memory://'); print('redis' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
