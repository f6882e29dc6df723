"""``llmswitch serve``: the gateway under uvicorn, in one process or several.

- One worker: uvicorn's :class:`~uvicorn.Server` in this process.
- ``--workers N``: uvicorn's own multiprocess supervisor (the parent binds the port,
  N spawned children accept on it, a dead child is replaced), with SIGHUP changed from
  "restart every worker" to "every worker reloads its configuration". Chosen over
  SO_REUSEPORT: it works on every OS uvicorn supports and restarts crashed workers.

Signals, in every worker:

- SIGHUP: ``client.areload()``: ``llmswitch.toml`` and the environment are read again
  and swapped in as a whole; calls in flight finish on the configuration they started
  with (see :mod:`llmswitch._reload`). A file that does not validate is logged and the
  previous configuration keeps serving.
- SIGTERM / SIGINT: stop accepting, let in-flight requests and streams finish for up
  to ``[gateway] shutdown_grace_seconds``, close the client (the usage ledger is
  flushed), exit 0. A second SIGINT forces the exit.

Without access keys and without ``LLMSWITCH_ADMIN_KEY`` the gateway is open to anyone
who can reach it, so it only binds to a loopback address then.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Generator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from ..errors import ConfigurationError, LLMError

if TYPE_CHECKING:
    from ..config import Config
    from ._settings import GatewaySettings
    from .app import Gateway

__all__ = [
    "INSTALL_HINT",
    "SERVE_ENV",
    "GatewayUnavailable",
    "ServeOptions",
    "build_gateway",
    "check_bind",
    "is_loopback",
    "serve",
    "worker_app",
]

log = get_logger("llmswitch.gateway")

INSTALL_HINT = "pip install 'llmswitch[gateway]'"
# How the parent hands its options to spawned workers (they start a fresh interpreter).
SERVE_ENV = "LLMSWITCH_SERVE_OPTIONS"


class GatewayUnavailable(LLMError):
    """The ``gateway`` extra (uvicorn) is not installed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """What ``llmswitch serve`` was asked for; ``None``: from ``[gateway]``, else the
    default (127.0.0.1, 4000, one worker)."""

    host: str | None = None
    port: int | None = None
    workers: int | None = None
    config: str | None = None  # llmswitch.toml (None: $LLMSWITCH_CONFIG, ./llmswitch.toml)


# --------------------------------------------------------------------------- checks


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) only ever means this machine."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:  # a name: every address it resolves to must be loopback
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_bind(host: str, *, access_keys: int, admin_key: bool) -> None:
    """Refuse to open a gateway with no access keys and no admin key to the network."""
    if access_keys or admin_key or is_loopback(host):
        return
    raise ConfigurationError(
        f"refusing to bind {host}: no access keys exist and LLMSWITCH_ADMIN_KEY is not "
        "set, so anyone who can reach it could use every provider; issue a key "
        "(llmswitch users key NAME), set LLMSWITCH_ADMIN_KEY, or bind 127.0.0.1",
        field="--host",
    )


def count_access_keys(config: Config, env: Mapping[str, str] | None = None) -> int:
    """Access keys not revoked in the database the gateway uses (0: none, or no
    tenancy tables yet)."""
    from sqlalchemy import text

    from ..storage.sql import open_database

    env = os.environ if env is None else env
    field = "[storage] database_url" if config.database_url else "database_url"
    database = open_database(config.database_url, env, field=field)

    def count(conn: Any) -> int:
        from sqlalchemy import inspect

        if not inspect(conn).has_table("access_keys"):
            return 0
        found = conn.execute(text("SELECT count(*) FROM access_keys WHERE revoked_at IS NULL"))
        return int(found.scalar() or 0)

    try:
        return database.read(count)
    finally:
        database.close()


# --------------------------------------------------------------------------- the app


def _load(options: ServeOptions) -> tuple[Config, GatewaySettings]:
    from ..config import load_config
    from ._settings import GatewaySettings

    config = load_config(options.config)
    section = getattr(config, "gateway", None)
    settings = GatewaySettings.from_config(section)
    changes: dict[str, Any] = {}
    if options.host is not None:
        changes["host"] = options.host
    if options.port is not None:
        changes["port"] = options.port
    if options.workers is not None:
        changes["workers"] = options.workers
    return config, settings.with_(**changes) if changes else settings


def build_gateway(options: ServeOptions) -> Gateway:
    """The app one worker serves: the configuration and tenancy (the cached
    authenticator, the tenants' limits on the client, their budgets read at startup and
    kept fresh)."""
    from .app import create_app

    config, settings = _load(options)
    # Tenancy is always on (serve always has a database): a key issued while it runs
    # is honoured, and a loopback gateway stays open only until the first key exists
    # (serve refuses a non-loopback bind with no key and no admin key).
    if is_loopback(settings.host):
        settings = settings.with_(open_until_keys=True)
    from .tenancy import Tenancy

    tenancy = Tenancy.from_config(config)
    gateway = create_app(
        config=config, settings=settings, tenants=tenancy.authenticator,
        middleware=tenancy.middleware(config),
    )  # fmt: skip

    async def start(gw: Gateway) -> None:
        await tenancy.start(gw.client)
        # What start-up loaded (modules, configuration, the catalog: ~100k objects) lives
        # as long as the worker: frozen out of the cyclic collector, a full collection
        # no longer walks it (tens of milliseconds each, in the middle of requests).
        gc.freeze()

    async def stop(gw: Gateway) -> None:
        await tenancy.aclose()

    gateway.on_startup.append(start)
    gateway.on_shutdown.append(stop)
    return gateway


def worker_app() -> Gateway:
    """The ASGI app of one worker (uvicorn's factory): options from
    ``$LLMSWITCH_SERVE_OPTIONS``; SIGHUP reloads its configuration."""
    options = ServeOptions(**json.loads(os.environ.get(SERVE_ENV) or "{}"))
    _worker_logging()
    gateway = build_gateway(options)
    _reload_on_hup(gateway)
    return gateway


def _reload_on_hup(gateway: Gateway) -> None:
    hup = getattr(signal, "SIGHUP", None)
    if hup is None:  # Windows: no SIGHUP
        return
    loop = asyncio.get_running_loop()  # uvicorn calls the factory inside its loop
    tasks: set[asyncio.Task[None]] = set()

    def start() -> None:
        task = loop.create_task(_reload(gateway))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # signal.signal, as uvicorn does for SIGTERM (uvloop and asyncio both run it).
    signal.signal(hup, lambda signum, frame: loop.call_soon_threadsafe(start))


async def _reload(gateway: Gateway) -> None:
    try:
        await gateway.startup()
        diff = await gateway.client.areload()
        apply_gateway_settings(gateway, gateway.client._core.config)
    except LLMError as exc:  # names file:line:key, never a secret value
        log.warning("SIGHUP: configuration rejected, still serving the previous one: %s", exc)
        return
    except Exception as exc:
        log.warning("SIGHUP: reload failed: %s: %s", type(exc).__name__, exc)
        return
    changed = len(diff.changes)
    print(
        f"llmswitch serve: [{os.getpid()}] configuration reloaded ({changed} change(s))",
        file=sys.stderr,
        flush=True,
    )
    later = sorted(
        {c.key for c in diff.changes if c.key.split(".")[:1] == ["gateway"]}
        - {f"gateway.{k}" for k in LIVE_GATEWAY_KEYS}
    )
    if later:
        log.warning(
            "SIGHUP: %s changed: taken at the next start of llmswitch serve", ", ".join(later)
        )


# [gateway] keys a running worker takes at once (read per request); the others shape the
# server itself (its socket, processes, middleware) and wait for the next start.
LIVE_GATEWAY_KEYS = ("public_metrics", "max_body_bytes", "heartbeat_seconds")


def apply_gateway_settings(gateway: Gateway, config: Config) -> None:
    """Take a reloaded configuration's ``[gateway]`` keys of :data:`LIVE_GATEWAY_KEYS`
    into the running ``gateway``; the bind, the workers, the access log and the admin
    key (from the environment) stay as the worker started."""
    from ._settings import GatewaySettings

    new = GatewaySettings.from_config(getattr(config, "gateway", None))
    gateway.settings = gateway.settings.with_(**{k: getattr(new, k) for k in LIVE_GATEWAY_KEYS})


_access_writer: Any = None  # this process's access-log writer (made once)


def _worker_logging() -> None:
    """Warnings of llmswitch and uvicorn to stderr; access log lines (JSON) to stdout,
    in batches from a thread. Idempotent (one worker: it runs twice in one process)."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")
    from ._access_log import BatchWriter, set_sink

    global _access_writer
    if _access_writer is None:
        _access_writer = BatchWriter(sys.stdout)
        set_sink(_access_writer)
    for name, stream, formatter, level in (
        ("llmswitch", sys.stderr, fmt, logging.DEBUG if _debug() else logging.WARNING),
        ("uvicorn.error", sys.stderr, fmt, logging.WARNING),
    ):
        logger = logging.getLogger(name)
        # The library puts a NullHandler on "llmswitch": look for ours, not for any.
        if not any(getattr(h, "_llmswitch_serve", False) for h in logger.handlers):
            handler = logging.StreamHandler(stream)
            handler.setFormatter(formatter)
            handler._llmswitch_serve = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


def _debug() -> bool:
    return os.environ.get("LLMSWITCH_DEBUG", "").strip().lower() not in (
        "", "0", "false", "no", "off",
    )  # fmt: skip


# --------------------------------------------------------------------------- serving


def _always_record(config: Config) -> None:
    """``serve`` always records usage: with no database named anywhere, name the
    default one in the environment, which the workers inherit and every reload reads
    again (a ``[usage] enabled = false`` in the file still turns recording off)."""
    from ..storage.sql import DATABASE_URL_ENV, default_database_url, open_database

    if not config.database_url and not os.environ.get(DATABASE_URL_ENV, "").strip():
        # Opened once as the default first: that makes $LLMSWITCH_HOME (0700) the way
        # the library does for its default database; named explicitly, it would not.
        open_database(None).close()
        os.environ[DATABASE_URL_ENV] = default_database_url()


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        raise GatewayUnavailable(
            f"llmswitch serve needs the gateway extra: {INSTALL_HINT}"
        ) from None
    return uvicorn


def _engines() -> tuple[str, str]:
    """uvicorn's "auto" choices, named for the startup line."""
    loop = "asyncio"
    if sys.platform != "win32":
        with contextlib.suppress(ImportError):
            import uvloop  # noqa: F401

            loop = "uvloop"
    http = "h11"
    with contextlib.suppress(ImportError):
        import httptools  # noqa: F401

        http = "httptools"
    return loop, http


def serve(options: ServeOptions) -> int:
    """Run the gateway until SIGTERM/SIGINT; returns the exit code (0 after a graceful
    shutdown). Raises :class:`LLMError` (one line for the CLI) on a refused start."""
    uvicorn = _uvicorn()
    config, settings = _load(options)  # the configuration errors, before anything binds
    _always_record(config)
    check_bind(
        settings.host,
        access_keys=count_access_keys(config),
        admin_key=settings.admin_key is not None,
    )
    resolved = ServeOptions(
        host=settings.host, port=settings.port, workers=settings.workers,
        config=str(config.path) if config.path is not None else options.config,
    )  # fmt: skip
    os.environ[SERVE_ENV] = json.dumps(asdict(resolved))  # spawned workers read it
    loop, http = _engines()
    uv_config = uvicorn.Config(
        "llmswitch.gateway.serve:worker_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="auto",
        http="auto",
        lifespan="on",
        log_config=None,
        access_log=False,  # ours is structured and secret-free (gateway/_access_log)
        server_header=False,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
    )
    _worker_logging()
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    where = config.path or "no llmswitch.toml"
    workers = settings.workers
    print(
        f"llmswitch serve: http://{shown}:{settings.port} ({workers} worker"
        f"{'s' if workers != 1 else ''}, {loop}, {http}; config: {where})",
        file=sys.stderr,
        flush=True,
    )
    if workers > 1 and not (config.state or "").startswith("redis"):
        print(
            f"llmswitch serve: warning: {workers} workers on memory:// state: each process "
            "keeps its own limits, quotas, breakers and budget reservations; set [state] url "
            "to a Redis the workers share",
            file=sys.stderr,
            flush=True,
        )
    if workers == 1:
        server = _make_server(uv_config)
        server.run()
        return 0 if server.started else 1  # not started: the app failed to start
    sock = uv_config.bind_socket()
    try:
        _make_supervisor(uv_config, sockets=[sock]).run()
    finally:
        sock.close()
    return 0


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):  # type: ignore[misc]
        """uvicorn's server, minus the re-raise of the shutdown signal at exit (which
        would end the process with -SIGTERM instead of 0 after a graceful stop)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            wanted = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in wanted}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def _supervisor_class() -> Any:
    from uvicorn.supervisors.multiprocess import Multiprocess

    class Supervisor(Multiprocess):  # type: ignore[misc]
        """uvicorn's multiprocess supervisor, with SIGHUP passed to every worker (each
        reloads its configuration in place) instead of replacing the workers. A worker
        still starting gets it once it is ready (before then it has not installed its
        handler; it reads the file as it starts anyway)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._hup_later: set[int] = set()

        def handle_hup(self) -> None:
            log.info("SIGHUP: reloading the configuration in every worker")
            for process in self.processes:
                self._hup(process)

        def _hup(self, process: Any) -> None:
            pid = process.pid
            if pid is None:
                return
            if process.is_ready(timeout=1):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)
                self._hup_later.discard(pid)
            else:
                self._hup_later.add(pid)

        def keep_subprocess_alive(self) -> None:
            super().keep_subprocess_alive()
            if self._hup_later and not self.should_exit.is_set():
                for process in self.processes:
                    if process.pid in self._hup_later:
                        self._hup(process)
                alive = {p.pid for p in self.processes}
                self._hup_later &= alive

    return Supervisor


def _make_server(config: Any) -> Any:
    return _server_class()(config)


def _make_supervisor(config: Any, *, sockets: list[socket.socket]) -> Any:
    return _supervisor_class()(config, sockets)
