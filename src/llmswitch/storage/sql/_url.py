"""Which database a process uses: the URL chain, its checks and its safe display.

Pure string work, no SQLAlchemy: resolving (and rejecting) a URL costs nothing, and
``db.url`` can be printed without a driver installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ...errors import ConfigurationError
from ..base import display_url

__all__ = [
    "DATABASE_URL_ENV",
    "HOME_ENV",
    "ResolvedUrl",
    "default_database_url",
    "default_home",
    "rebase_sqlite_url",
    "resolve_database_url",
]

DATABASE_URL_ENV = "LLMSWITCH_DATABASE_URL"
HOME_ENV = "LLMSWITCH_HOME"
_DEFAULT_HOME = "~/.local/share/llmswitch"
DB_FILE = "llmswitch.db"

_SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite")
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
MEMORY = ":memory:"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedUrl:
    """A checked database URL. ``dialect`` is ``"sqlite"`` or ``"postgresql"``;
    ``sync_url``/``async_url`` are the SQLAlchemy URLs of each driver (``path`` is the
    absolute SQLite file, ``":memory:"``, or ``""`` for PostgreSQL); ``display`` has any
    password masked; ``is_default`` says the URL came from ``LLMSWITCH_HOME``."""

    dialect: str
    sync_url: str
    async_url: str
    path: str
    display: str
    is_default: bool
    password: str | None
    field: str  # where the URL came from, for errors

    def __repr__(self) -> str:  # the real URLs may hold a password
        return f"ResolvedUrl({self.display!r})"


def default_home(env: Mapping[str, str] = os.environ) -> str:
    """``$LLMSWITCH_HOME`` (default ``~/.local/share/llmswitch``), absolute."""
    home = env.get(HOME_ENV) or _DEFAULT_HOME
    return os.path.abspath(os.path.expanduser(home))


def default_database_url(env: Mapping[str, str] = os.environ) -> str:
    """The URL used when none is passed: ``$LLMSWITCH_DATABASE_URL``, else
    ``sqlite:///$LLMSWITCH_HOME/llmswitch.db``."""
    from_env = env.get(DATABASE_URL_ENV, "").strip()
    if from_env:
        return from_env
    return "sqlite:///" + os.path.join(default_home(env), DB_FILE)


def resolve_database_url(
    url: str | None, env: Mapping[str, str] = os.environ, *, field: str = "database_url"
) -> ResolvedUrl:
    """Check ``url`` (``None``: :func:`default_database_url`) and derive both drivers'
    URLs. ``field`` names where an explicit ``url`` came from, for the error."""
    is_default = False
    if url is None:
        if env.get(DATABASE_URL_ENV, "").strip():
            field = DATABASE_URL_ENV
        else:
            is_default = True
            field = HOME_ENV
        url = default_database_url(env)
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise _bad(field, url, "is not a URL")
    if scheme in _SQLITE_SCHEMES:
        return _sqlite(rest, url, field, is_default=is_default)
    if scheme in _POSTGRES_SCHEMES:
        return _postgres(rest, url, field)
    raise _bad(field, url, f"has an unsupported scheme {scheme!r}")


def rebase_sqlite_url(url: str, base: str) -> str:
    """``url`` with a relative SQLite path taken from the directory ``base`` (absolute)
    instead of the working directory: a config file's ``sqlite:///keys.db`` means the
    file next to it. Any other URL (absolute, ``~``, ``:memory:``, PostgreSQL, or one
    :func:`resolve_database_url` refuses) is returned as it is."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in _SQLITE_SCHEMES or not rest.startswith("/"):
        return url
    target, mark, query = rest[1:].partition("?")
    plain = unquote(target)
    if not plain or plain == MEMORY or os.path.isabs(os.path.expanduser(plain)):
        return url
    # base quoted: a "?" or "%" in a directory name must not end or change the path
    return f"{scheme}:///{quote(os.path.join(base, plain))}{mark}{query}"


def _bad(field: str, url: str, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"{field}: database URL {display_url(url)!r} {why} (expected sqlite:////abs/path.db, "
        "sqlite:///:memory: or postgresql://user@host:5432/dbname)",
        field=field,
    )


def _sqlite(rest: str, url: str, field: str, *, is_default: bool) -> ResolvedUrl:
    # SQLAlchemy's form: sqlite:///<path>, so an absolute path gives four slashes.
    if not rest:
        raise _bad(field, url, "names no file (write sqlite:///path, three slashes)")
    if not rest.startswith("/"):
        raise _bad(field, url, "has a host part (write sqlite:///path, three slashes)")
    target, _, query = rest[1:].partition("?")
    if query:
        raise _bad(field, url, "has query parameters, which llmswitch does not pass on")
    target = unquote(target)
    if not target:
        raise _bad(field, url, "names no file")
    if target != MEMORY:
        # A relative path is taken from the working directory (a config file's are made
        # absolute from its directory first, by rebase_sqlite_url), shown resolved.
        target = os.path.abspath(os.path.expanduser(target))
    return ResolvedUrl(
        dialect="sqlite",
        sync_url=f"sqlite+pysqlite:///{target}",
        async_url=f"sqlite+aiosqlite:///{target}",
        path=target,
        display=f"sqlite:///{target}",
        is_default=is_default,
        password=None,
        field=field,
    )


def _postgres(rest: str, url: str, field: str) -> ResolvedUrl:
    try:
        parts = urlsplit("postgresql+psycopg://" + rest)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", ...
        why = "has an invalid port" if "port" in str(exc).lower() else "is not a valid URL"
        raise _bad(field, url, why) from None
    if not parts.path.strip("/"):
        raise _bad(field, url, "names no database (…/dbname)")
    password = parts.password
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "password":
            password = value
    # Both drivers are psycopg 3: the same URL for the sync and the async engine. Joined
    # by hand: urlunsplit drops the "//" of an empty host (libpq's postgresql:///db?host=
    # form), which SQLAlchemy cannot parse.
    query = f"?{parts.query}" if parts.query else ""
    full = f"postgresql+psycopg://{parts.netloc}{parts.path}{query}"
    return ResolvedUrl(
        dialect="postgresql",
        sync_url=full,
        async_url=full,
        path="",
        display=display_url("postgresql" + full.removeprefix("postgresql+psycopg")),
        is_default=False,
        password=unquote(password) if password else None,
        field=field,
    )
