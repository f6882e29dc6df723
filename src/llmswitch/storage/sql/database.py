"""``Database``: one SQL database, usable from sync and async code alike.

Repository code is written once, as a sync function over a SQLAlchemy Core
``Connection``; ``db.run(fn, *args)`` runs it on the sync engine and
``await db.arun(fn, *args)`` on the async engine through ``AsyncConnection.run_sync``
(``fn`` itself runs on the loop thread, so it should only issue statements). Each
call is one transaction: committed when ``fn`` returns, rolled back when it raises.

Nothing here runs per chat call by itself: the database holds the key vault, the
audit log and configuration history, used when keys or settings are loaded, changed
or audited. The async path never blocks the event loop: driver I/O is awaited, lock
waits happen in the driver, and the first use's imports run in a thread.

SQLAlchemy and the drivers are imported when the first engine is made, so importing
this module (and ``import llmswitch``) stays cheap.
"""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

from ...errors import ConfigurationError, StorageError, redact
from . import _url

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

    from ._migrate import MigrationFailed, MigrationStatus

__all__ = ["Database", "open_database"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Execution option read by the SQLite "begin" hook: how this transaction starts.
_BEGIN = "llmswitch_sqlite_begin"
_BUSY_TIMEOUT_S = 30.0  # how long SQLite waits for another writer before "database is locked"


def open_database(
    url: str | None = None,
    env: Mapping[str, str] = os.environ,
    *,
    field: str = "database_url",
    **options: Any,
) -> Database:
    """The :class:`Database` at ``url``; ``None`` means ``$LLMSWITCH_DATABASE_URL``, else
    ``sqlite:///$LLMSWITCH_HOME/llmswitch.db`` (the directory is created, mode 0700).
    ``field`` names where ``url`` came from in errors (e.g. ``"[storage] database_url"``);
    ``options`` go to :class:`Database`. Nothing connects until first use."""
    resolved = _url.resolve_database_url(url, env, field=field)
    if resolved.is_default:
        _make_home(os.path.dirname(resolved.path), resolved.display)
    return Database(resolved, **options)


def _make_home(path: str, display: str) -> None:
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
        # Keys and audit history live here: others need no access. Only tighten what
        # we own; a shared directory someone else set up stays as it is.
        if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.getuid():
            os.chmod(path, 0o700)
    except OSError as exc:
        raise StorageError(
            f"cannot create the llmswitch home directory {path!r} for {display}: "
            f"{exc.strerror or exc} (set LLMSWITCH_HOME or LLMSWITCH_DATABASE_URL)",
            url=display,
        ) from None


class Database:
    """One database: a sync engine and an async engine, each made on first use.

    ``pool_size``/``max_overflow`` size the PostgreSQL pools (per engine);
    ``connect_timeout`` bounds connecting to PostgreSQL, ``busy_timeout`` how long
    SQLite waits for a concurrent writer. Pending migrations are applied on first
    use (the first :meth:`run`/:meth:`arun`), or explicitly by :meth:`upgrade`.
    """

    def __init__(
        self,
        resolved: _url.ResolvedUrl,
        *,
        pool_size: int = 5,
        max_overflow: int = 5,
        connect_timeout: float = 10.0,
        busy_timeout: float = _BUSY_TIMEOUT_S,
    ) -> None:
        self._resolved = resolved
        self._pool_size = pool_size
        self._max_overflow = max_overflow
        self._connect_timeout = connect_timeout
        self._busy_timeout = busy_timeout
        self._memory = resolved.path == _url.MEMORY
        # One shared-cache database per Database: sync and async engines see the same data.
        self._memory_name = f"file:llmswitch-{uuid.uuid4().hex}?mode=memory&cache=shared&uri=true"
        self._engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._async_memory_lock: asyncio.Lock | None = None
        # Started in the async engine's loop; closed by that loop's shutdown_asyncgens().
        self._async_guard: AsyncGenerator[None, None] | None = None
        self._lock = threading.Lock()
        self._migrated = False
        # SQLite file created and in WAL mode (nothing to prepare for memory/PostgreSQL).
        self._file_ready = self._memory or resolved.dialect != "sqlite"

    # ---- identity

    @property
    def url(self) -> str:
        """The URL with any password masked (safe to print or log)."""
        return self._resolved.display

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._resolved.dialect

    def __repr__(self) -> str:
        return f"Database({self.url!r})"

    # ---- running repository code

    def run(self, fn: Callable[[Connection, *Ts], T], *args: *Ts) -> T:
        """``fn(conn, *args)`` in one transaction on the sync engine (migrating first if
        this is the first use); its result. A database failure is a
        :class:`StorageError`; anything else ``fn`` raises propagates after the
        rollback."""
        self._ensure_migrated()
        return self._transaction(fn, *args)

    def read(self, fn: Callable[[Connection, *Ts], T], *args: *Ts) -> T:
        """Like :meth:`run`, for ``fn`` that only reads: on SQLite it does not take the
        write lock up front, so it runs alongside a writer."""
        self._ensure_migrated()
        return self._transaction(fn, *args, begin="DEFERRED")

    async def arun(self, fn: Callable[[Connection, *Ts], T], *args: *Ts) -> T:
        """:meth:`run` on the async engine: the same ``fn``, via ``run_sync``."""
        await self._awarm()
        await self._aensure_migrated()
        return await self._atransaction(fn, *args)

    async def aread(self, fn: Callable[[Connection, *Ts], T], *args: *Ts) -> T:
        """:meth:`read` on the async engine."""
        await self._awarm()
        await self._aensure_migrated()
        return await self._atransaction(fn, *args, begin="DEFERRED")

    # ---- migrations

    def upgrade(self) -> list[int]:
        """Apply every pending migration; the versions applied (``[]``: up to date)."""
        applied: list[int] = []
        while (version := self._migration_step(applied)) is not None:
            applied.append(version)
        self._migrated = True
        return applied

    async def aupgrade(self) -> list[int]:
        """:meth:`upgrade` on the async engine."""
        await self._awarm()
        applied: list[int] = []
        while (version := await self._amigration_step(applied)) is not None:
            applied.append(version)
        self._migrated = True
        return applied

    def status(self) -> MigrationStatus:
        """Current and latest schema version and what is pending; changes nothing."""
        from . import _migrate

        if not self._exists():  # a status never creates the database file
            return _migrate.empty_status(self.url)
        return self._transaction(_migrate.read_status, self.url, begin="DEFERRED")

    async def astatus(self) -> MigrationStatus:
        await self._awarm()
        from . import _migrate

        if not self._exists():
            return _migrate.empty_status(self.url)
        return await self._atransaction(_migrate.read_status, self.url, begin="DEFERRED")

    # ---- closing

    def close(self) -> None:
        """Release every pooled connection. The Database may be used again afterwards
        (engines are made anew)."""
        engine, async_engine, loop, guard = self._detach()
        if engine is not None:
            engine.dispose()
        if async_engine is not None:
            # Its connections belong to the loop that opened them: closed there when
            # that loop can still run; else they were closed when it shut down.
            if loop is not None and not loop.is_closed() and not loop.is_running():
                loop.run_until_complete(guard.aclose() if guard else async_engine.dispose())
            else:
                async_engine.sync_engine.dispose(close=False)

    async def aclose(self) -> None:
        engine, async_engine, loop, guard = self._detach()
        if engine is not None:
            engine.dispose()
        if async_engine is not None:
            if loop is asyncio.get_running_loop() and guard is not None:
                await guard.aclose()  # disposes the engine
            else:
                async_engine.sync_engine.dispose(close=False)

    def _detach(self) -> tuple[Any, Any, Any, Any]:
        """Take the engines (and the async one's loop and guard) off this Database, so
        the next use makes new ones; closing them is the caller's."""
        with self._lock:
            engine, self._engine = self._engine, None
            async_engine, self._async_engine = self._async_engine, None
            loop, self._async_loop = self._async_loop, None
            guard, self._async_guard = self._async_guard, None
        return engine, async_engine, loop, guard

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- internals: transactions

    def _transaction(
        self,
        fn: Callable[[Connection, *Ts], T],
        *args: *Ts,
        begin: str = "IMMEDIATE",
    ) -> T:
        from sqlalchemy.exc import DBAPIError

        if not self._file_ready:
            self._prepare_file()
        engine = self._sync_engine()
        try:
            if self._memory:
                with self._lock, engine.begin() as conn:
                    return fn(conn, *args)
            with engine.execution_options(**{_BEGIN: begin}).begin() as conn:
                return fn(conn, *args)
        except DBAPIError as exc:
            raise self._error(exc) from exc

    async def _atransaction(
        self,
        fn: Callable[[Connection, *Ts], T],
        *args: *Ts,
        begin: str = "IMMEDIATE",
    ) -> T:
        from sqlalchemy.exc import DBAPIError

        if not self._file_ready:
            await asyncio.to_thread(self._prepare_file)  # file I/O, off the event loop
        engine, memory_lock = await self._aengine()
        try:
            if memory_lock is not None:
                async with memory_lock, engine.begin() as conn:
                    return await conn.run_sync(fn, *args)
            async with engine.execution_options(**{_BEGIN: begin}).begin() as conn:
                return await conn.run_sync(fn, *args)
        except DBAPIError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: Exception) -> StorageError:
        from sqlalchemy.exc import DBAPIError

        orig = exc.orig if isinstance(exc, DBAPIError) else None
        detail = " ".join(str(orig if orig is not None else exc).split())[:500]
        secrets = [self._resolved.password] if self._resolved.password else []
        return StorageError(
            f"database {self.url}: {redact(detail, secrets)}",
            url=self.url,
            retryable=_transient(exc, detail, self.dialect),
        )

    # ---- internals: migrations on first use

    def _ensure_migrated(self) -> None:
        if not self._migrated:
            self.upgrade()

    async def _aensure_migrated(self) -> None:
        if not self._migrated:
            await self.aupgrade()

    async def _awarm(self) -> None:
        if self.dialect not in _warm:
            # The first use imports SQLAlchemy and the drivers (a few hundred ms):
            # in a thread, not on the event loop.
            await asyncio.to_thread(_import_for, self.dialect)

    def _migration_step(self, done: list[int]) -> int | None:
        from . import _migrate

        try:
            return self._transaction(_migrate.apply_next, self.url)
        except _migrate.MigrationFailed as exc:
            raise self._migration_failed(exc, done) from exc.cause

    async def _amigration_step(self, done: list[int]) -> int | None:
        from . import _migrate

        try:
            return await self._atransaction(_migrate.apply_next, self.url)
        except _migrate.MigrationFailed as exc:
            raise self._migration_failed(exc, done) from exc.cause

    def _migration_failed(self, exc: MigrationFailed, done: list[int]) -> StorageError:
        from sqlalchemy.exc import DBAPIError

        from . import _migrate

        cause = exc.cause
        orig = cause.orig if isinstance(cause, DBAPIError) else cause
        detail = " ".join(str(orig).split())[:500]
        secrets = [self._resolved.password] if self._resolved.password else []
        kept = f" (applied before it: {', '.join(map(str, done))})" if done else ""
        return StorageError(
            f"database {self.url}: schema migration {exc.version} "
            f"({_migrate.description(exc.version)}) failed and was rolled back: "
            f"{type(orig).__name__}: {redact(detail, secrets)}{kept}",
            url=self.url,
            version=exc.version,
        )

    # ---- internals: engines

    def _sync_engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._make_engine(asynchronous=False)
            return self._engine

    async def _aengine(self) -> tuple[AsyncEngine, asyncio.Lock | None]:
        """The async engine of the running loop, and for a memory database the lock
        that keeps its one connection to one transaction at a time."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._async_engine is not None and self._async_loop is not loop:
                # Pooled async connections belong to the loop that opened them (whose
                # shutdown closed them already, see _closed_at_loop_shutdown).
                self._async_engine.sync_engine.dispose(close=False)
                self._async_engine = None
            guard = None
            if self._async_engine is None:
                self._async_engine = self._make_engine(asynchronous=True)
                self._async_loop = loop
                self._async_memory_lock = asyncio.Lock() if self._memory else None
                guard = self._async_guard = _closed_at_loop_shutdown(self._async_engine)
            engine, memory_lock = self._async_engine, self._async_memory_lock
        if guard is not None:
            await anext(guard)  # registers it with this loop's async-generator hooks
        return engine, memory_lock

    def _make_engine(self, *, asynchronous: bool) -> Any:
        # One import of a dialect at a time: SQLAlchemy's dialect loading, run at once in
        # two threads (the vault's and the warm-up's), can fail with
        # KeyError 'sqlalchemy.dialects.postgresql' half-way through the first import.
        with _IMPORT_LOCK:
            if self.dialect not in _warm:
                _import_for(self.dialect)
            if self.dialect == "postgresql":
                return self._postgres_engine(asynchronous)
            return self._sqlite_engine(asynchronous)

    def _postgres_engine(self, asynchronous: bool) -> Any:
        import importlib.util

        if importlib.util.find_spec("psycopg") is None:
            raise ConfigurationError(
                f"database {self.url} needs the PostgreSQL driver: "
                "pip install 'llmswitch[postgres]'",
                field=self._resolved.field,
            )
        options: dict[str, Any] = {
            "pool_size": self._pool_size,
            "max_overflow": self._max_overflow,
            "pool_pre_ping": True,  # a server restart is noticed before a call fails
            "pool_recycle": 1800,
            "pool_timeout": 30,
            "connect_args": {"connect_timeout": max(1, round(self._connect_timeout))},
        }
        if asynchronous:
            from sqlalchemy.ext.asyncio import create_async_engine

            return create_async_engine(self._resolved.async_url, **options)
        from sqlalchemy import create_engine

        return create_engine(self._resolved.sync_url, **options)

    def _exists(self) -> bool:
        return self._memory or self.dialect != "sqlite" or os.path.exists(self._resolved.path)

    def _prepare_file(self) -> None:
        """Create the SQLite file private (0600) from the start, since it holds wrapped
        keys and the audit log (SQLite gives its -wal and -shm files the same mode),
        and switch it to WAL. Once per Database; the async path runs it in a thread.

        An existing file is never opened here, only through SQLite: closing any
        descriptor of a file drops every POSIX lock this process holds on it, so an
        ``open``/``close`` beside another Database's live connections (the gateway has
        several on one file) would let another process's SQLite take this one for
        gone, checkpoint and delete the WAL under it, or write at the same time: a
        corrupt database (https://www.sqlite.org/howtocorrupt.html, section 2.2)."""
        path = self._resolved.path
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            raise StorageError(
                f"database {self.url}: the directory {folder!r} does not exist", url=self.url
            )
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
        except FileExistsError:  # checked without opening it (see above)
            problem = (
                "is a directory" if os.path.isdir(path)
                else None if os.access(path, os.R_OK | os.W_OK)
                else "Permission denied (it must be readable and writable)"
            )  # fmt: skip
            if problem is not None:
                raise StorageError(
                    f"database {self.url}: cannot open {path!r}: {problem}", url=self.url
                ) from None
        except OSError as exc:
            raise StorageError(
                f"database {self.url}: cannot open {path!r}: {exc.strerror or exc}", url=self.url
            ) from None
        import sqlite3

        try:
            _ensure_wal(path, self._busy_timeout)
        except sqlite3.Error as exc:
            raise StorageError(f"database {self.url}: {exc}", url=self.url) from None
        self._file_ready = True

    def _sqlite_engine(self, asynchronous: bool) -> Any:
        from sqlalchemy import event
        from sqlalchemy.pool import NullPool, StaticPool

        _direct_sqlite_binds()
        options: dict[str, Any] = {"connect_args": {"timeout": self._busy_timeout}}
        if self._memory:
            options["poolclass"] = StaticPool
            options["connect_args"]["check_same_thread"] = False
            sync_url = f"sqlite+pysqlite:///{self._memory_name}"
            async_url = f"sqlite+aiosqlite:///{self._memory_name}"
        else:
            sync_url, async_url = self._resolved.sync_url, self._resolved.async_url
            if asynchronous:
                # An aiosqlite connection is a thread of its own; a pooled one would
                # outlive the event loop that owns it. Opening a file is cheap.
                options["poolclass"] = NullPool
        engine: Engine | AsyncEngine
        if asynchronous:
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(async_url, **options)
            target = engine.sync_engine
        else:
            from sqlalchemy import create_engine

            engine = target = create_engine(sync_url, **options)
        busy_ms = int(self._busy_timeout * 1000)
        wal = not self._memory

        @event.listens_for(target, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # The driver's own transaction handling would run DDL outside a
            # transaction; we issue BEGIN ourselves (below), so migrations are atomic.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:  # the file was switched to WAL by _prepare_file
                cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough under WAL
            cursor.close()

        @event.listens_for(target, "begin")
        def _on_begin(conn: Any) -> None:
            mode = "DEFERRED" if self._memory else conn.get_execution_options().get(_BEGIN)
            conn.exec_driver_sql(f"BEGIN {mode or 'IMMEDIATE'}")

        return engine


def _direct_sqlite_binds() -> None:
    """Let sqlite3 bind ``None``, ``bool`` and ``bytes`` without its adaptation
    protocol. It adapts every parameter that is not exactly int, float, str or
    bytearray, and on CPython 3.11 that first looks ``__adapt__`` up on its protocol
    type, which formats and discards an AttributeError each time: about 3,000
    instructions a parameter (a usage-ledger row's ``stream`` flag, the vault's
    ciphertexts, every NULL a statement binds; the ledger leaves its NULL columns out
    of the INSERT altogether). A registered adapter is found before that lookup.
    Each binds exactly as sqlite3 binds the value unadapted (NULL, 0/1, the bytes),
    so what any sqlite3 connection in the process stores is unchanged (only
    ``sqlite3.adapt(None)`` now answers instead of raising); an adapter the
    application registered itself is left as it is."""
    import sqlite3

    registered = sqlite3.adapters
    for kind, adapter in _DIRECT_BINDS:
        if (kind, sqlite3.PrepareProtocol) not in registered:
            sqlite3.register_adapter(kind, adapter)


# C callables, so an adapted value costs a call and no Python frame: {}.get(None) is
# None; int(True) is 1, as sqlite3 binds a bool; bytes(b) is b itself.
_DIRECT_BINDS: tuple[tuple[type, Any], ...] = ((type(None), {}.get), (bool, int), (bytes, bytes))


_warm: set[str] = set()  # dialects whose modules this process has imported


_IMPORT_LOCK = threading.RLock()


def _import_for(dialect: str) -> None:
    with _IMPORT_LOCK:
        _import_dialect(dialect)


def _import_dialect(dialect: str) -> None:
    import sqlalchemy.ext.asyncio

    from . import _migrate, audit  # noqa: F401 - the runner and the tables

    if dialect == "postgresql":
        import importlib.util

        if importlib.util.find_spec("psycopg") is not None:
            import psycopg  # noqa: F401
            import sqlalchemy.dialects.postgresql.psycopg
    else:
        import aiosqlite  # noqa: F401
        import sqlalchemy.dialects.sqlite.aiosqlite  # noqa: F401
    _warm.add(dialect)


async def _closed_at_loop_shutdown(engine: AsyncEngine) -> AsyncGenerator[None, None]:
    """Disposes ``engine`` when its event loop shuts down, if nobody called aclose():
    ``asyncio.run`` (and pytest-asyncio) close every live async generator of the loop
    before closing it, while it can still run the connections' own close."""
    try:
        yield
    finally:
        await engine.dispose()


# SQLite raises OperationalError for a missing table too; these are the transient ones.
_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")


def _transient(exc: Exception, detail: str, dialect: str) -> bool:
    """Whether trying the same call later may work: unreachable, locked, a dropped
    connection — not a bad statement or a constraint."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    # psycopg's OperationalError is about the connection (bad SQL is ProgrammingError).
    return dialect == "postgresql" or any(word in detail.lower() for word in _SQLITE_TRANSIENT)


def _ensure_wal(path: str, wait: float) -> None:
    """Put the database file at ``path`` in WAL mode (persistent: once per file).

    Switching needs an exclusive lock that SQLite takes without its busy handler, so
    processes opening a new file at the same moment can get "database is locked"
    here; retried by hand for as long as the busy timeout."""
    import sqlite3

    conn = sqlite3.connect(path, timeout=wait, isolation_level=None)
    try:
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        deadline = time.monotonic() + wait
        pause = 0.005
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
    finally:
        conn.close()
