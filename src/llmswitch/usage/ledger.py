"""The usage ledger: rows appended in microseconds, committed in batches, never lost.

:meth:`Ledger.append` (the call path) encodes the record, writes it to this process's
journal segment with one unbuffered ``os.write`` and puts it on an in-memory queue;
that is all (a few microseconds, ``bench/ledger.py``). A background thread commits
the queue to ``usage_ledger`` every ``flush_interval`` seconds (and sooner when a batch
fills), with ``INSERT ... ON CONFLICT (request_id, attempt) DO NOTHING`` on SQLite and
PostgreSQL alike, then deletes the journal segment those rows came from.

Durability (see :mod:`._journal`): a record is in the journal before the call returns,
so a SIGKILLed process loses nothing that reached the page cache; the next process
opening the ledger (or ``llmswitch usage``) replays segments no live process holds
(:func:`recover_journal`). A power cut can lose the last rows not yet committed.

Bounded memory: the queue holds at most ``queue_cap`` records. Past that (the database
is slow or down) records go to the journal only ("spill") and the writer reads them
back from disk when the database answers again; calls are never blocked and nothing
is dropped. While the database fails the writer retries with backoff (0.5 s doubling
to 30 s) and keeps writing to one segment, so an outage costs disk, not memory or
file descriptors.
"""

from __future__ import annotations

import atexit
import functools
import keyword
import operator
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import catalog
from .._log import get_logger
from ..messages import Usage
from ..storage.sql import Database, default_home
from . import _journal
from ._journal import Segment
from ._record import UsageRecord

__all__ = [
    "Ledger",
    "LedgerSettings",
    "journal_root",
    "price",
    "recover_journal",
    "write_rows",
]

log = get_logger("llmswitch.usage")

DEFAULT_FLUSH_INTERVAL = 0.5  # seconds: rows are queryable well within 1 s
DEFAULT_QUEUE_CAP = 10_000
_BATCH = 500  # rows per INSERT; a full batch wakes the writer early
_BACKOFF = (0.5, 30.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerSettings:
    """``[usage]`` of ``llmswitch.toml``. ``enabled``: ``True`` records even without an
    explicit database (then the default SQLite file), ``False`` never records (the
    database then serves the vault or prompts only), ``None`` (not set) records when a
    database is configured; ``journal``: the journal's root directory
    (default ``$LLMSWITCH_HOME/usage-journal``); ``flush_interval``: seconds between
    commits (at most 1); ``queue_cap``: records kept in memory before spilling."""

    enabled: bool | None = None
    journal: str | None = None
    flush_interval: float = DEFAULT_FLUSH_INTERVAL
    queue_cap: int = DEFAULT_QUEUE_CAP


def journal_root(journal: str | None = None, env: Mapping[str, str] = os.environ) -> str:
    """Where journals live: ``journal`` or ``$LLMSWITCH_HOME/usage-journal``."""
    return journal or os.path.join(default_home(env), "usage-journal")


# ---------------------------------------------------------------------- SQL


def _columns() -> dict[str, int | None]:
    from ..storage.sql.schema import usage_ledger

    return {c.name: getattr(c.type, "length", None) for c in usage_ledger.columns if c.name != "id"}


def price_function() -> Callable[..., int | None]:
    """``catalog.cost_nano`` (exact integer nano-USD), or, in a catalog without it,
    ``cost_of`` in nano-USD."""
    exact = getattr(catalog, "cost_nano", None)
    if exact is not None:
        return exact  # type: ignore[no-any-return]

    def from_float(provider: str, model: str, usage: Usage, *, at: Any = None) -> int | None:
        usd = catalog.cost_of(provider, model, usage)
        return None if usd is None else round(usd * 1e9)

    return from_float


def price(record: UsageRecord) -> int | None:
    """The record's cost: its own ``cost_nano``, else the catalog's price of its usage
    at its start time (``None``: a price or a count is unknown)."""
    if record.cost_nano is not None:
        return record.cost_nano
    if record.input_tokens is None and record.output_tokens is None:
        return None
    usage = Usage(
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        total_tokens=record.total_tokens,
        cached_input_tokens=record.cached_input_tokens,
        cache_write_tokens=record.cache_write_tokens,
        reasoning_tokens=record.reasoning_tokens,
    )
    at = datetime.fromtimestamp(record.at / 1000, UTC)
    try:
        return price_function()(record.provider, record.model, usage, at=at)
    except Exception:  # a pricing bug must not keep the row out: unknown cost
        log.exception("usage row %s: cost not computed", record.request_id)
        return None


def _row(record: UsageRecord) -> tuple[Any, ...]:
    """The record as column values in :func:`_columns` order, priced (:func:`price`),
    strings clipped to their column (a 300-letter user name must not make PostgreSQL
    refuse the batch forever)."""
    return _shape().row(record)


class _Shape:
    """The ledger row's columns, read once: the record-to-row function, where the
    request id and attempt sit in a row, and which columns a row may leave out when it
    has no value for them (see :func:`_runs`)."""

    __slots__ = ("_kept", "_optional_index", "key", "names", "nulls", "row")

    def __init__(self) -> None:
        lengths = _columns()
        self.names = tuple(lengths)
        self.row = _row_function(lengths)
        self.key = (self.names.index("request_id"), self.names.index("attempt"))
        index = [self.names.index(name) for name in _optional_columns()]
        self._optional_index = index
        self.nulls = _nulls_function(index)
        self._kept: dict[tuple[bool, ...], tuple[tuple[str, ...], Callable[..., Any]]] = {}

    def key_of(self, row: tuple[Any, ...]) -> tuple[Any, Any]:
        return row[self.key[0]], row[self.key[1]]

    def kept(self, nulls: tuple[bool, ...]) -> tuple[tuple[str, ...], Callable[..., Any]]:
        """The columns a row written with ``nulls`` (per optional column: is it None)
        names, and the getter of its values."""
        found = self._kept.get(nulls)
        if found is None:
            left_out = {i for i, null in zip(self._optional_index, nulls, strict=True) if null}
            kept = [i for i in range(len(self.names)) if i not in left_out]
            getter: Callable[..., Any] = operator.itemgetter(*kept)
            if len(kept) == 1:  # itemgetter of one index returns the value, not a tuple
                getter = lambda row, i=kept[0]: (row[i],)  # noqa: E731
            found = (tuple(self.names[i] for i in kept), getter)
            if len(self._kept) < 1024:  # bounded: 2**len(optional) combinations exist
                self._kept[nulls] = found
        return found


def _nulls_function(index: list[int]) -> Callable[[tuple[Any, ...]], tuple[bool, ...]]:
    """``row -> (row[i] is None for each optional column i)``, generated (a fifth of
    the cost of ``tuple(map(operator.is_, ...))``; it runs for every row)."""
    source = "def nulls(row):\n    return (" + "".join(f"row[{i}] is None, " for i in index)
    namespace: dict[str, Any] = {}
    exec(source + ")\n", namespace)  # built from column positions only
    nulls: Callable[[tuple[Any, ...]], tuple[bool, ...]] = namespace["nulls"]
    return nulls


def _row_function(lengths: Mapping[str, int | None]) -> Callable[[UsageRecord], tuple[Any, ...]]:
    """``record -> row``, generated once from the columns (as dataclasses generate
    ``__init__``): it runs for every row on the writer thread, and a plain attribute
    read per column, clipped inline, costs a tenth of ``operator.attrgetter``'s generic
    lookups plus a Python loop over the clipped columns."""
    values = []
    for name, length in lengths.items():
        if not name.isidentifier() or keyword.iskeyword(name):  # the schema's own names
            raise ValueError(f"usage_ledger column {name!r} is not an identifier")
        if name == "cost_nano":
            values.append("price(r)")
        elif length is None:
            values.append(f"r.{name}")
        else:
            clipped = f"isinstance(v := r.{name}, str) and len(v) > {length}"
            values.append(f"(v[:{length}] if {clipped} else v)")
    source = "def row(r):\n    return (\n" + "".join(f"        {v},\n" for v in values) + "    )\n"
    namespace: dict[str, Any] = {"price": price}
    exec(source, namespace)  # built from the schema's column names only
    row: Callable[[UsageRecord], tuple[Any, ...]] = namespace["row"]
    return row


def _optional_columns() -> tuple[str, ...]:
    """Columns a row may leave out when it is NULL there: nullable, and NULL by
    default (leaving out ``attempt``, say, would insert its server default 1)."""
    from ..storage.sql.schema import usage_ledger

    return tuple(
        c.name
        for c in usage_ledger.columns
        if c.name != "id" and c.nullable and c.server_default is None and c.default is None
    )


_SQL: dict[tuple[str, str, tuple[str, ...]], str] = {}


@functools.cache
def _shape() -> _Shape:
    return _Shape()


def _runs(rows: list[tuple[Any, ...]]) -> list[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """``rows`` as runs of consecutive rows that are NULL in the same optional columns,
    each row without those columns, and the columns each run names. A NULL costs the
    sqlite3 driver an adaptation and a bind per parameter (about 1,500 instructions on
    CPython 3.11) and a gateway row has a dozen; leaving them to the column default
    costs a tuple and a selection. Runs keep the rows' order (the ids follow it)."""
    shape = _shape()
    row_nulls, kept = shape.nulls, shape.kept
    out: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
    last: tuple[bool, ...] | None = None
    run: list[tuple[Any, ...]] = []
    values: Callable[..., Any] = tuple
    for row in rows:
        nulls = row_nulls(row)
        if nulls != last:
            last = nulls
            names, values = kept(nulls)
            run = []
            out.append((names, run))
        run.append(values(row))
    return out


def _insert(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    """Driver-level ``executemany`` of ``rows``, a run of rows at a time (:func:`_runs`):
    SQLAlchemy's own insert builds a dict and binds every parameter through its type,
    per row, which cost more than the database's own work; the statement is the same
    on SQLite and PostgreSQL (``ON CONFLICT ... DO NOTHING`` keeps a replayed row out)."""
    dialect = conn.dialect
    for names, run in _runs(rows):
        key = (dialect.name, dialect.paramstyle, names)
        sql = _SQL.get(key)
        if sql is None:
            quote = dialect.identifier_preparer.quote
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            sql = (
                f"INSERT INTO usage_ledger ({', '.join(quote(n) for n in names)}) "
                f"VALUES ({', '.join(mark for _ in names)}) "
                "ON CONFLICT (request_id, attempt) DO NOTHING"
            )
            if len(_SQL) < 1024:
                _SQL[key] = sql
        conn.exec_driver_sql(sql, run)


def write_rows(database: Database, records: Sequence[UsageRecord]) -> None:
    """Commit ``records`` (idempotent: a row already there is left as it is). When a
    batch is refused for its *data* (the driver's DataError/IntegrityError), its rows
    are tried one by one and only those refused for their own data are logged and
    skipped, so one bad row cannot block the rest forever. Anything else (the
    database is down, a lock, a missing schema) raises: the caller keeps the journal."""
    rows = [_row(r) for r in records]
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        try:
            database.run(_insert, chunk)
        except Exception as exc:
            if not _bad_data(exc):
                raise
            _one_by_one(database, chunk)


def _bad_data(exc: BaseException) -> bool:
    """Whether the database refused the rows themselves (not: could not be used)."""
    from sqlalchemy.exc import DataError, IntegrityError

    return isinstance(exc.__cause__, DataError | IntegrityError)


def _one_by_one(database: Database, rows: list[tuple[Any, ...]]) -> None:
    for row in rows:
        try:
            database.run(_insert, [row])
        except Exception as exc:
            if not _bad_data(exc):
                raise  # the database itself: retried later with the whole journal
            log.error(
                "usage row %s/%s refused by the database and skipped: %s",
                *_shape().key_of(row), exc,
            )  # fmt: skip


def recover_journal(database: Database, journal: str | None = None) -> int:
    """Replay the journal segments of ``database`` that no live process holds (left by
    a process that was killed, or closed while the database was down) into it; the
    number of records replayed. Re-running it inserts nothing twice."""
    directory = _journal.database_dir(journal_root(journal), database.url)
    replayed = 0
    for path, fd in _journal.orphan_segments(directory):
        try:
            for chunk in _journal.read_records(path, _BATCH):
                write_rows(database, chunk)
                replayed += len(chunk)
            os.unlink(path)
        finally:
            _journal.close_quietly(fd)
    if replayed:
        log.info("usage journal: %d record(s) recovered into %s", replayed, database.url)
    return replayed


# ---------------------------------------------------------------------- the writer


class _Writer:
    """Everything the background thread works on. Kept apart from :class:`Ledger` so
    the thread does not keep the ledger alive: a ledger dropped without ``close()`` is
    flushed and stopped by its finalizer."""

    def __init__(
        self, database: Database, directory: str, journal: str, interval: float, cap: int
    ) -> None:
        self.database = database
        self.directory = directory
        self.journal = journal
        self.interval = interval
        self.cap = cap
        self.lock = threading.Lock()
        self.segment: Segment | None = None  # made on the first append
        self.queue: list[UsageRecord] = []
        self.spilled = False  # the current segment holds records the queue does not
        self.appended = 0  # records appended so far
        self.sealed: tuple[Segment, list[UsageRecord] | None, int] | None = None
        self.committed = 0  # every record up to this count is in the database
        self.done = threading.Condition(threading.Lock())
        self.wake = threading.Event()
        self.stopping = False
        self.closed = False
        self.failing_since: float | None = None
        self.recovered = 0
        self.owns_database = False  # opened for this ledger: closed when it stops

    # ---- the call path

    def append(self, record: UsageRecord) -> None:
        line = _journal.encode(record)
        with self.lock:
            if self.closed:
                _orphan_write(self.directory, line)
                return
            segment = self.segment
            if segment is None:
                segment = self.segment = Segment(self.directory)
            segment.write(line)
            self.appended += 1
            if len(self.queue) < self.cap:
                self.queue.append(record)
                full = len(self.queue) >= _BATCH
            else:
                self.spilled = True
                full = False
        if full:
            self.wake.set()

    # ---- the thread

    def run(self) -> None:
        # Open the database (and create or upgrade its schema: seconds on a fresh one)
        # now, off the call path, so the first call's row commits quickly.
        try:
            self.database.run(_touch)
        except Exception as exc:  # down: the loop retries with the first rows
            log.warning("usage ledger: cannot open %s yet: %s", self.database.url, exc)
        try:
            self.recovered = recover_journal(self.database, self.journal)
        except Exception as exc:  # the database is down: the loop retries it with the rest
            log.warning("usage journal recovery failed, will retry: %s", exc)
            self.recovered = -1
        delay = self.interval
        while True:
            self.wake.wait(delay)
            self.wake.clear()
            stopping = self.stopping
            if self.recovered < 0:
                try:
                    self.recovered = recover_journal(self.database, self.journal)
                except Exception:
                    self.recovered = -1
            delay = self.interval if self.cycle() else self._backoff()
            if stopping:
                self.close()
                if self.owns_database:
                    self.database.close()
                return

    def _backoff(self) -> float:
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
        lo, hi = _BACKOFF
        return min(hi, max(lo, (now - self.failing_since) * 2))

    def cycle(self) -> bool:
        """Commit what is waiting; ``False`` when the database failed."""
        if self.sealed is None:
            with self.lock:
                if self.segment is not None and self.appended > self.committed:
                    batch = None if self.spilled else self.queue
                    self.sealed = (self.segment, batch, self.appended)
                    self.segment = None  # the next append opens a new segment
                    self.queue = []
                    self.spilled = False
        if self.sealed is None:
            return True
        segment, batch, upto = self.sealed
        try:
            if batch is not None:
                write_rows(self.database, batch)
            else:
                for chunk in _journal.read_records(segment.path, _BATCH):
                    write_rows(self.database, chunk)
        except Exception as exc:
            if self.failing_since is None:
                log.warning(
                    "usage ledger: cannot write to %s (%s); rows are kept in the journal "
                    "%s and retried", self.database.url, type(exc).__name__, segment.path,
                )  # fmt: skip
            self.sealed = (segment, None, upto)  # memory freed: the journal has them
            return False
        if self.failing_since is not None:
            log.warning("usage ledger: writing to %s again", self.database.url)
            self.failing_since = None
        segment.release(delete=True)
        self.sealed = None
        with self.done:
            self.committed = upto
            self.done.notify_all()
        return True

    def close(self) -> None:
        """When the thread stops: give up the segments (left on disk when their rows are
        not committed, for the next process to replay)."""
        with self.lock:
            self.closed = True
            segment, self.segment = self.segment, None
        if self.sealed is not None:
            self.sealed[0].release(delete=False)
            self.sealed = None
        if segment is not None:
            segment.release(delete=False)


def _touch(conn: Any) -> None:
    """Nothing: :meth:`Database.run` connects and migrates first."""


def _orphan_write(directory: str, line: bytes) -> None:
    """A record appended after close: into a segment of its own, released at once, which
    the next recovery of this database replays."""
    segment = Segment(directory)
    try:
        segment.write(line)
    finally:
        segment.release(delete=False)


def _stop(writer: _Writer, thread: threading.Thread, timeout: float) -> None:
    """Ask the writer for its last commit and to stop (it then gives up its segments),
    waiting up to ``timeout`` seconds. One stuck on the database keeps its segments
    locked until the process exits; then the next process replays them."""
    writer.stopping = True
    writer.wake.set()
    if timeout > 0 and thread.is_alive() and thread is not threading.current_thread():
        thread.join(timeout)


class Ledger:
    """The usage ledger of one database. ``append`` is the hot path; ``flush`` waits
    for what was appended to be committed (tests, reports); ``close`` commits what it
    can within ``timeout`` and leaves the rest in the journal."""

    def __init__(
        self,
        database: Database,
        *,
        journal: str | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        queue_cap: int = DEFAULT_QUEUE_CAP,
        close_timeout: float = 5.0,
        env: Mapping[str, str] = os.environ,
        owns_database: bool = False,
    ) -> None:
        self.database = database
        # What the client wiring built this ledger from (a reload keeps an equal one).
        self.settings_key: Any = None
        root = journal_root(journal, env)
        self.journal_dir = _journal.database_dir(root, database.url)
        self._writer = writer = _Writer(database, self.journal_dir, root, flush_interval, queue_cap)
        writer.owns_database = owns_database
        self.append = writer.append  # bound once: no extra frame on the call path
        self._close_timeout = close_timeout
        self._thread = thread = threading.Thread(
            target=writer.run, name="llmswitch-ledger", daemon=True
        )
        thread.start()
        # Neither holds the ledger itself: a ledger dropped without close() is collected,
        # and its finalizer flushes and stops the writer.
        self._atexit = functools.partial(_stop, writer, thread, close_timeout)
        atexit.register(self._atexit)
        # Collected: no waiting (this may run inside an event loop's thread).
        self._finalizer = weakref.finalize(self, _stop, writer, thread, 0)

    def __repr__(self) -> str:
        return f"Ledger({self.database.url!r})"

    @property
    def queued(self) -> int:
        """Records in memory waiting for the writer (at most ``queue_cap``)."""
        return len(self._writer.queue)

    @property
    def pending(self) -> int:
        """Records appended and not yet committed (in memory or only in the journal)."""
        return self._writer.appended - self._writer.committed

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything appended so far is committed; ``False`` on timeout
        (the database is down: the rows stay in the journal)."""
        writer = self._writer
        target = writer.appended
        deadline = time.monotonic() + timeout
        with writer.done:
            while writer.committed < target:
                writer.wake.set()
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                writer.done.wait(min(left, 0.05))
        return True

    def close(self, timeout: float | None = None) -> None:
        """Commit what is waiting and stop, waiting up to ``timeout`` seconds (default
        5; 0: do not wait, the writer finishes on its own)."""
        atexit.unregister(self._atexit)
        self._finalizer.detach()
        _stop(self._writer, self._thread, self._close_timeout if timeout is None else timeout)

    def wait_closed(self, timeout: float | None = None) -> bool:
        """After :meth:`close`: wait until the writer has stopped and given up its
        journal segments (so another process can replay them); ``False`` on timeout
        (the writer is still stuck on the database)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def closed(self) -> bool:
        return self._writer.closed
