"""The semantic cache: what a lookup over 1,000 stored questions costs.

    uv run python bench/cache_semantic.py
    uv run python bench/cache_semantic.py --redis redis://localhost:6379/15 --dims 256

Measures the search alone (the embedding call is the provider's time, tens of ms with
a hosted model, and comes on top of every miss): the nearest of 1,000 unit vectors of
1,536 float32 (text-embedding-3-small's size; ``--dims`` to change) to a query,

1. in memory, with numpy (a matrix product) and in pure Python (dot products);
2. with ``--redis``: one ``HGETALL`` of the partition (6 MB) and the scan here.

Prints microseconds per lookup.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from llmswitch.cache import semantic_index
from llmswitch.cache.semantic_index import MemoryIndex, RedisIndex, normalized

ENTRIES = 1000


def per_call(fn: Callable[[], Any], n: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def vectors(count: int, dims: int) -> list[Any]:
    rng = random.Random(7)
    return [normalized([rng.gauss(0, 1) for _ in range(dims)]) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", help="a Redis URL (a unique key prefix is used)")
    parser.add_argument("--dims", type=int, default=1536, help="vector size (default 1536)")
    args = parser.parse_args()
    stored = vectors(ENTRIES + 1, args.dims)
    query = stored.pop()
    index = MemoryIndex(max_entries=ENTRIES)
    for i, v in enumerate(stored):
        index.add("p", f"k{i}", v, 3600)
    print(f"semantic lookup, {ENTRIES} entries x {args.dims} dims:")
    if semantic_index._np is not None:
        print(f"  memory, numpy:        {per_call(lambda: index.search('p', query), 50):9.0f} µs")
    numpy, semantic_index._np = semantic_index._np, None
    try:
        print(f"  memory, pure Python:  {per_call(lambda: index.search('p', query), 3):9.0f} µs")
    finally:
        semantic_index._np = numpy
    if args.redis:
        from llmswitch.cache.redis_backend import RedisBackend

        backend = RedisBackend(args.redis, prefix=f"bench:semantic:{uuid.uuid4().hex}:")
        shared = RedisIndex(backend, max_entries=ENTRIES)
        try:
            for i, v in enumerate(stored):
                shared.add("p", f"k{i}", v, 600)
            took = per_call(lambda: shared.search("p", query), 20)
            print(f"  Redis (HGETALL+scan): {took:9.0f} µs")
        finally:
            shared.clear()
            backend.close()


if __name__ == "__main__":
    main()
