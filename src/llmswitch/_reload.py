"""Reloading a client's configuration without a restart, watching the file, and the
audit record of every applied change.

What a reload swaps: everything a client builds from its configuration lives on one
:class:`~llmswitch._core._Core` (the loaded ``Config``, the environment snapshot, the
providers built from both, the call contexts, the middleware pipeline and the default
retry). A reload builds a complete new ``_Core`` from the file and the environment,
beside the old one, and then replaces the client's one reference to it. A call reads
that reference once, when it starts, and keeps the provider, context and pipeline it
got from it, so a call in flight during a reload finishes on the old configuration and
the next call sees only the new one: never half of each. A new file that does not
validate raises its :class:`ConfigurationError` before anything is replaced. The
transport (the connection pools) belongs to the client and is shared by both.

Applied changes are written to the ``audit_log`` table (action ``config.apply``) by one
background thread, so neither a call nor the reload waits on the database, and a
database that is down costs a WARNING, not the reload. A database is used when one is
configured (``[storage] database_url``, ``$LLMSWITCH_DATABASE_URL``) or the default
SQLite file already exists (a plain library user gets no new file on disk).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import queue
import socket
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._core import MODEL_ENV, _Core
from ._log import get_logger
from ._usage_wiring import close_unless_kept
from .config import CONFIG_ENV, DEFAULT_CONFIG_FILE, Config, ProviderConfig
from .errors import ConfigurationError, LLMError

if TYPE_CHECKING:
    from .config import ConfigChange, ConfigDiff
    from .middleware.base import Middleware
    from .providers.runtime import Provider

__all__ = ["AUDIT_ACTION", "WATCH_INTERVAL", "Reloader", "audit_writer"]

logger = get_logger("llmswitch.config")

AUDIT_ACTION = "config.apply"
WATCH_INTERVAL = 1.0  # seconds between two looks at the file
_ENV_MASK = "***"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Arguments:
    """What the client was built with, kept to build the next configuration the same way."""

    config: str | os.PathLike[str] | Config | None
    providers: Iterable[Provider | ProviderConfig]  # as given: the core checks them
    timeout: Any
    env: Mapping[str, str] | None
    max_retries: Any
    middleware: Sequence[Middleware]


def build_core(args: _Arguments, config: Any, transport: Any, old: _Core | None = None) -> _Core:
    """A complete configuration: the core and its pipeline (raises before any swap).
    ``old``: the configuration it replaces, whose key vault it keeps when the vault's
    settings are unchanged."""
    vault = old.vault if old is not None else None
    ledger = old.ledger if old is not None else None  # kept when its settings are the same
    core = _Core(
        config, args.providers, args.timeout, args.env, transport, args.max_retries, vault,
        ledger,
    )  # fmt: skip
    if old is not None:  # providers registered at run time stay (Client.register_provider)
        for pid, entry in old.registered.items():
            core.register(pid, entry)
        core.registered = old.registered
    try:
        core.pipe = core.pipeline(args.middleware)
    except BaseException:
        if core.vault is not None and core.vault is not vault:
            core.vault.close()  # opened for this configuration only
        close_unless_kept(core.ledger, ledger)
        raise
    return core


def _actor(role: str) -> str:
    return f"{role}:pid {os.getpid()}@{socket.gethostname()}"


class Reloader:
    """One client's reloads (one at a time) and its optional file watcher."""

    def __init__(
        self,
        client: Any,
        *,
        config: str | os.PathLike[str] | Config | None,
        providers: Iterable[Provider | ProviderConfig],
        timeout: Any,
        env: Mapping[str, str] | None,
        max_retries: Any,
        middleware: Sequence[Middleware],
        watch: bool | None,
    ) -> None:
        if watch is not None and not isinstance(watch, bool):
            raise ConfigurationError(
                "watch_config must be True, False or None", field="watch_config"
            )
        self.args = _Arguments(
            config=config, providers=providers, timeout=timeout, env=env,
            max_retries=max_retries, middleware=middleware,
        )  # fmt: skip
        self._client = weakref.ref(client)  # the watcher must not keep a client alive
        self._lock = threading.Lock()
        self._watch = watch  # None: as [config] watch says
        self._given = config  # the source: the constructor's, or the last reload(config=...)
        self._watcher: _Watcher | None = None

    # ----------------------------------------------------------------- reload

    def source(self, core: _Core) -> str | os.PathLike[str] | Config | None:
        """Where the next configuration is read from: the file the current one came
        from (``$LLMSWITCH_CONFIG`` / ``./llmswitch.toml`` are looked up again when the
        client found none)."""
        given = self._given
        if core.config.path is not None:
            return core.config.path
        if isinstance(given, Config):
            raise ConfigurationError(
                "this client was given a Config that was not read from a file: "
                "nothing to reload (pass reload(config=...) with a path or a Config)",
                field="config",
            )
        return given

    def reload(
        self,
        config: str | os.PathLike[str] | Config | None = None,
        *,
        actor: str | None = None,
    ) -> ConfigDiff:
        from .config import ConfigDiff

        client = self._client()
        if client is None:  # pragma: no cover - only the watcher of a collected client
            raise ConfigurationError("the client is gone")
        with self._lock:
            old: _Core = client._core
            source = config if config is not None else self.source(old)
            new = build_core(self.args, source, old.transport, old)
            if new.vault is not None and new.vault is not old.vault:
                try:
                    self._check_kek(new)  # before the swap: the old vault keeps serving
                except BaseException:
                    close_unless_kept(new.ledger, old.ledger)
                    raise
            changes = _changes(old, new)
            if config is not None:
                self._given = config  # from now on
            if changes:
                client._core = new  # the one swap: calls starting now see only `new`
                if old.vault is not None and old.vault is not new.vault:
                    # Calls in flight keep reading its last index; only refreshing stops.
                    old.vault.close()
                close_unless_kept(old.ledger, new.ledger)  # its rows committed or journaled
            else:
                if new.vault is not None and new.vault is not old.vault:
                    new.vault.close()  # nothing changed: the old configuration (and vault) stay
                close_unless_kept(new.ledger, old.ledger)
            diff = ConfigDiff(path=new.config.path, overlay=new.config.overlay, changes=changes)
            if changes:
                logger.info(
                    "configuration reloaded from %s: %d change(s): %s",
                    new.config.path or "(no file)", len(changes),
                    ", ".join(c.key for c in changes[:10]) + (" ..." if len(changes) > 10 else ""),
                )  # fmt: skip
                audit_writer().submit(new, diff, actor or _actor("client"))
            self.sync_watch(strict=False)
            return diff

    def _check_kek(self, new: _Core) -> None:
        """A new configuration whose KEK cannot be opened (a missing key file, a master
        key that is not base64, an unknown URI) is refused with that error, as one that
        does not validate: swapping it in would leave every call that needs the vault
        failing. A KMS is not asked (its outage is the vault's to ride out)."""
        from ._vault_wiring import kek_origin
        from .keys.kek import check_kek

        env = os.environ if self.args.env is None else self.args.env
        try:
            check_kek(new.config.kek, env, source=kek_origin(new.config, env))
        except BaseException:
            assert new.vault is not None
            new.vault.close()  # opened for the refused configuration only
            raise

    # ----------------------------------------------------------------- watching

    def sync_watch(self, *, strict: bool = True) -> None:
        """Start or stop the watcher as ``watch_config`` (or, unset, ``[config] watch``)
        asks, watching the file the current configuration came from. ``strict``: an
        explicit ``watch_config=True`` with no file to watch is an error (when the
        client is built; after a reload it is logged)."""
        client = self._client()
        if client is None:
            return
        core: _Core = client._core
        wanted = core.config.watch if self._watch is None else self._watch
        path = core.config.path or _discovered(self._given, self.args.env)
        if wanted and path is None:
            problem = "watch_config=True needs a file to watch: this Config was not read from one"
            if strict:
                raise ConfigurationError(problem, field="watch_config")
            logger.warning("%s; not watching", problem)
        if self._watcher is not None and (not wanted or self._watcher.path != path):
            self._watcher.stop()
            self._watcher = None
        if wanted and self._watcher is None and path is not None:
            self._watcher = _Watcher(self, path)
            self._watcher.start()

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    @property
    def watching(self) -> Path | None:
        return self._watcher.path if self._watcher is not None else None


def _discovered(config: Any, env: Mapping[str, str] | None) -> Path | None:
    """The file a client with no file yet would find once it exists."""
    if isinstance(config, Config):
        return None
    if config is not None:
        return Path(config).resolve()
    found = (os.environ if env is None else env).get(CONFIG_ENV)
    return Path(found or DEFAULT_CONFIG_FILE).resolve()


def _changes(old: _Core, new: _Core) -> tuple[ConfigChange, ...]:
    """What differs: the configuration, and the provider variables of the environment
    (shown masked: most of them are keys)."""
    from .config import ConfigChange, diff_configs

    changes = list(diff_configs(old.config, new.config))
    if old.default_model != new.default_model:  # a model name, not a secret: shown
        kind: Literal["added", "removed", "changed"] = "changed"
        if old.default_model is None or new.default_model is None:
            kind = "added" if old.default_model is None else "removed"
        changes.append(
            ConfigChange(
                key=f"${MODEL_ENV}", kind=kind, old=old.default_model, new=new.default_model
            )
        )
    before, after = dict(old.env), dict(new.env)
    for name in sorted((before.keys() | after.keys()) - {MODEL_ENV}):  # shown above
        if name not in after:
            changes.append(ConfigChange(key=f"${name}", kind="removed", old=_ENV_MASK))
        elif name not in before:
            changes.append(ConfigChange(key=f"${name}", kind="added", new=_ENV_MASK))
        elif before[name] != after[name]:
            changes.append(
                ConfigChange(key=f"${name}", kind="changed", old=_ENV_MASK, new=_ENV_MASK)
            )
    return tuple(changes)


class _Watcher:
    """A daemon thread that looks at the file every :data:`WATCH_INTERVAL` seconds
    (its size and mtime, then its hash when those move) and reloads when the content
    changed. Polling, not inotify: it works the same on every OS, on network file
    systems and through the symlink swaps of Kubernetes config maps, for one stat a
    second."""

    def __init__(self, owner: Reloader, path: Path) -> None:
        self.path = path
        self._owner = weakref.ref(owner)
        self._interval = WATCH_INTERVAL
        self._stop = threading.Event()
        self._seen = _fingerprint(path)  # what the current configuration was read from
        self._digest = _digest(path)
        self._thread = threading.Thread(
            target=self._run, name=f"llmswitch-watch:{path.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            owner = self._owner()
            if owner is None:
                return
            seen = _fingerprint(self.path)
            if seen == self._seen:
                continue
            self._seen = seen
            digest = _digest(self.path)
            if digest is None or digest == self._digest:
                continue  # gone (mid-replace) or touched without a change
            self._digest = digest
            try:
                owner.reload(actor=_actor("watcher"))
            except LLMError as exc:
                # Its message names file:line:key and never a secret value.
                logger.warning(
                    "configuration change in %s rejected, still serving the previous one: %s",
                    self.path,
                    exc,
                )
            except Exception as exc:  # never let the watcher die on a surprise
                logger.warning(
                    "configuration reload from %s failed: %s: %s",
                    self.path,
                    type(exc).__name__,
                    exc,
                )
            del owner


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None


# --------------------------------------------------------------------------- audit


class _AuditWriter:
    """One daemon thread writing audit rows from a bounded queue, so no reload and no
    call waits on the database."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, str, str | None, dict[str, Any]]] = queue.Queue(
            maxsize=1000
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, core: _Core, diff: ConfigDiff, actor: str) -> None:
        url = _database_url(core.config, core.env)
        if url is None:
            logger.debug("configuration change not audited: no database configured")
            return
        subject = str(diff.path) if diff.path is not None else None
        detail = diff.as_dict()
        detail.pop("path")  # the subject
        try:
            self._queue.put_nowait((url, actor[:200], subject, detail))
        except queue.Full:
            logger.warning(
                "configuration audit queue full: a change to %s is not recorded", subject
            )
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="llmswitch-config-audit", daemon=True
                )
                self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted row is written (or failed); ``False`` on timeout."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            url, actor, subject, detail = self._queue.get()
            try:
                self._write(url, actor, subject, detail)
            except Exception as exc:
                logger.warning(
                    "configuration change to %s not recorded in the audit log: %s: %s",
                    subject, type(exc).__name__, exc,
                )  # fmt: skip
            finally:
                self._queue.task_done()

    def _write(self, url: str, actor: str, subject: str | None, detail: dict[str, Any]) -> None:
        from .storage.sql import open_database
        from .storage.sql.audit import write_audit

        def write(conn: Any) -> None:
            where = subject[-500:] if subject is not None else None  # the column's size
            write_audit(conn, actor=actor, action=AUDIT_ACTION, subject=where, detail=detail)

        # Opened per record: reloads are rare, and no engine outlives its use.
        db = open_database(url, field="[storage] database_url")
        try:
            db.run(write)
        finally:
            db.close()


def _database_url(config: Config, env: Mapping[str, str]) -> str | None:
    """The audit database: ``[storage] database_url``, else ``$LLMSWITCH_DATABASE_URL``
    (from the client's environment), else the default SQLite file if it exists;
    ``None``: no database to use."""
    if config.database_url:
        return config.database_url
    from .storage.sql import DATABASE_URL_ENV, default_database_url

    if env.get(DATABASE_URL_ENV, "").strip():
        return env[DATABASE_URL_ENV].strip()
    url = default_database_url(env)
    return url if os.path.exists(url.removeprefix("sqlite:///")) else None


_writer: _AuditWriter | None = None
_writer_lock = threading.Lock()


def audit_writer() -> _AuditWriter:
    """The process's audit writer (made on first use)."""
    global _writer
    if _writer is None:
        with _writer_lock:
            if _writer is None:
                _writer = _AuditWriter()
                atexit.register(_writer.flush, 2.0)  # a change made just before exit
    return _writer
