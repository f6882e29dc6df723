"""The ledger's local append-only journal: what makes a usage row survive SIGKILL.

Every record is written to a journal segment (one JSON array per line) with one
unbuffered ``os.write`` *before* the call returns to its caller. Once ``write()``
returns, the bytes are in the operating system's page cache: they survive the death
of the process (SIGKILL, OOM kill, a crash) but not a power cut or a kernel panic,
because nothing calls ``fsync`` on the hot path (that would cost milliseconds per
call). Set ``[usage] fsync = true``... is deliberately *not* offered: a row per call
is not worth a disk flush per call; the database commit is the durable copy.

Layout: ``<root>/<database digest>/<pid>-<n>-<random>.jsonl``, directory 0700, files
0600. The digest keeps journals of different databases apart, so a process only
replays rows into the database they were meant for. A segment is owned by the
process holding an exclusive ``flock`` on it; the kernel drops the lock when that
process dies, however it dies. So a segment that can be locked belongs to nobody
alive and may be replayed (:func:`replay_orphans`), and a live process's journal is
never taken from it, without pid files that go stale or pids that get reused.

Sealed segments (the writer has taken their records) are deleted only after the rows
are committed; until then they stay on disk, locked, and a failing database leaves
them there for the next attempt or the next process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import operator
import os
import time
from collections.abc import Iterator
from typing import Any

from .. import _json
from .._log import get_logger
from ._record import UsageRecord

__all__ = [
    "Segment",
    "database_dir",
    "decode_line",
    "encode",
    "orphan_segments",
    "read_records",
]

log = get_logger("llmswitch.usage")

SUFFIX = ".jsonl"
_counter = itertools.count(1)

# Line format 1: a JSON array, 1 then these fields' values in this order. Frozen here
# (not read from UsageRecord) so a journal written by this version still reads the same
# after UsageRecord gains a field; a new field means a format 2 next to this one.
FORMAT_1 = (
    "request_id", "attempt", "at", "user", "team", "access_key", "provider", "model",
    "deployment", "prompt_name", "prompt_version", "prompt_variant", "input_tokens",
    "output_tokens", "total_tokens", "cached_input_tokens", "cache_write_tokens",
    "reasoning_tokens", "latency_ms", "ttft_ms", "status", "error", "cost_nano",
    "saved_nano", "stream",
)  # fmt: skip
_values = operator.attrgetter(*FORMAT_1)


def database_dir(root: str, database_url: str) -> str:
    """The journal directory of one database under ``root`` (created, mode 0700)."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    path = os.path.join(root, digest)
    os.makedirs(root, mode=0o700, exist_ok=True)  # makedirs gives the mode to the leaf only
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def encode(record: UsageRecord) -> bytes:
    """One journal line (format 1). An array, not an object: a quarter of the cost of
    serialising the dataclass, on the call path."""
    return _json.dumps((1, *_values(record))) + b"\n"


def decode_line(line: bytes) -> UsageRecord | None:
    """The record of one line, ``None`` for a line that is not one (a torn last line
    of a killed process, a foreign file): skipped, never fatal."""
    try:
        data = _json.loads(line)
        if not isinstance(data, list) or len(data) != len(FORMAT_1) + 1 or data[0] != 1:
            return None
        return UsageRecord(**dict(zip(FORMAT_1, data[1:], strict=True)))
    except (ValueError, TypeError):
        return None


class Segment:
    """One journal file this process writes and holds the lock of."""

    __slots__ = ("fd", "path")

    def __init__(self, directory: str) -> None:
        name = f"{os.getpid()}-{next(_counter)}-{os.urandom(4).hex()}"
        self.path = os.path.join(directory, name + SUFFIX)
        # Created under a name recovery does not look at, locked, then renamed into place
        # (the lock stays with the file): a recovering process scanning the directory
        # could otherwise lock a fresh segment between its creation and its owner's lock.
        # O_APPEND: each write lands whole at the end; 0600: rows name users and keys.
        making = os.path.join(directory, name + ".new")
        self.fd = os.open(making, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(making, self.path)

    def write(self, line: bytes) -> None:
        os.write(self.fd, line)

    def release(self, *, delete: bool) -> None:
        """Close (dropping the lock); ``delete``: its rows are committed, remove it."""
        if delete:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = -1


def read_records(path: str, chunk: int) -> Iterator[list[UsageRecord]]:
    """The records of the file at ``path``, ``chunk`` at a time (bounded memory for a
    journal that grew while the database was down)."""
    batch: list[UsageRecord] = []
    bad = 0
    with open(path, "rb") as f:
        for line in f:
            record = decode_line(line)
            if record is None:
                bad += line.strip() != b""
                continue
            batch.append(record)
            if len(batch) >= chunk:
                yield batch
                batch = []
    if bad:
        log.warning("usage journal %s: %d unreadable line(s) skipped", path, bad)
    if batch:
        yield batch


def orphan_segments(directory: str) -> Iterator[tuple[str, int]]:
    """``(path, fd)`` of each segment in ``directory`` no live process holds, locked
    now by us; the caller replays it and then unlinks and closes it."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return
    for name in names:
        if name.endswith(".new"):
            _drop_unborn(os.path.join(directory, name))
            continue
        if not name.endswith(SUFFIX):
            continue
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # another process replayed it meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: a live process's journal
            os.close(fd)
            continue
        if not os.path.exists(path):  # replayed and removed between listdir and lock
            os.close(fd)
            continue
        yield path, fd


def _drop_unborn(path: str) -> None:
    """A segment its process died making (killed between create and rename: empty, as
    nothing is written before the rename). Only one a minute old: a process takes
    microseconds from creating to locking it, and one being made now is left alone."""
    try:
        if time.time() - os.stat(path).st_mtime < 60:
            return
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.close(fd)


def close_quietly(fd: Any) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
