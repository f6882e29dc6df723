"""The in-process cache in front of the prompt tables.

Two kinds of entries, with different lifetimes:

- a version (``name``, ``version``) -> the stored version and its compiled templates:
  versions are immutable, so an entry is good forever (the map is bounded, and
  cleared whole when full: prompt versions in use are few);
- a pointer (``name``, ``label``) -> a version number, where ``latest`` is a pointer
  too (it moves by itself): good for ``ttl`` seconds, so a label moved by another
  process is seen here within ``ttl``. A move made through this process's store is
  seen at once (:meth:`PromptCache.point`).

``clock`` is monotonic seconds (a fake clock in tests). Thread-safe: each entry is
one dict item, replaced whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["PromptCache"]

MAX_VERSIONS = 4096
MAX_POINTERS = 4096


class PromptCache:
    __slots__ = ("_clock", "_lock", "_pointers", "_versions", "ttl")

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self._clock = clock
        self._versions: dict[tuple[str, int], Any] = {}
        self._pointers: dict[tuple[str, str], tuple[float, int | None]] = {}
        self._lock = threading.Lock()

    def version(self, name: str, version: int) -> Any:
        """The cached entry of ``name`` version ``version``, or ``None``."""
        return self._versions.get((name, version))

    def keep(self, name: str, version: int, entry: Any) -> Any:
        with self._lock:
            if len(self._versions) >= MAX_VERSIONS:
                self._versions.clear()
            return self._versions.setdefault((name, version), entry)

    def pointer(self, name: str, label: str) -> tuple[float, int | None] | None:
        """``(expires, version)`` of what ``label`` pointed to when last read (``version
        None``: no such label, cached too), or ``None`` if never read. Expired when
        ``expires <= now()``; an expired answer is still the best guess while the
        database cannot be reached."""
        return self._pointers.get((name, label))

    def now(self) -> float:
        return self._clock()

    def point(self, name: str, label: str, version: int | None) -> None:
        """Remember where ``label`` points, from now for ``ttl`` seconds."""
        with self._lock:
            if len(self._pointers) >= MAX_POINTERS:
                self._pointers.clear()
            self._pointers[(name, label)] = (self._clock() + self.ttl, version)

    def forget(self, name: str) -> None:
        """Drop ``name``'s pointers (after this process changed it)."""
        with self._lock:
            for key in [k for k in self._pointers if k[0] == name]:
                del self._pointers[key]
