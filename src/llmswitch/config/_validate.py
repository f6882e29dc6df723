"""The validator of ``llmswitch.toml``: every key checked, every value turned into the
settings type of the layer it configures (:class:`~llmswitch.providers.settings.
ProviderConfig`, the router's :class:`~llmswitch.middleware.groups.ModelGroup`, the
resilience policies). Every problem is a ``file:line: key: message``
:class:`ConfigurationError`; secret values never appear in one.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar, cast

from ..errors import ConfigurationError
from ..middleware.breaker import BreakerPolicy
from ..middleware.groups import GroupError, ModelGroup, derive_group
from ..middleware.ratelimit import Limit, Quota
from ..middleware.retry import RetryPolicy
from ..providers import registry
from ..providers.settings import PROVIDER_ID, ProviderConfig, is_http_url
from ..wire import Secret, Timeout, to_timeout
from . import _spec
from ._loading import OVERLAY_ENV, interpolate
from ._toml_lines import MAX_DEPTH, check_depth, key_lines
from ._types import Config
from ._values import kek_problem, key_file_problem, rebase_key_file, rebase_path, walk_bounds

__all__ = ["Validator"]

T = TypeVar("T")

# Which kinds a kind-specific key makes sense for.
_KEY_KINDS: Mapping[str, tuple[str, ...]] = {
    "api_version": ("azure",),
    "organization": ("openai", "openai-compatible"),
    "project": ("vertex",),
    "location": ("vertex",),
    "credentials_file": ("vertex",),
    "fim": ("openai-compatible",),
}
_STRING_KEYS = (
    "kind", "base_url", "api_key", "api_version", "organization",
    "project", "location", "credentials_file", "fim",
)  # fmt: skip
# The key lists come from the one description of the file (_spec), which the JSON
# Schema is generated from too.
_PROVIDER_KEYS = tuple(_spec.PROVIDER.keys)
_KIND = _spec.PROVIDER.keys["kind"]
assert isinstance(_KIND, _spec.Value)
_KINDS = _KIND.enum
_KEY_STRATEGIES = _spec.KEY_STRATEGIES
_TIMEOUT_KEYS = tuple(_spec.TIMEOUT_TABLE.keys)
_RESILIENCE_KEYS = ("state", "retry", "breaker", "limits", "quotas", "queue")
_TOP_LEVEL_KEYS = tuple(_spec.ROOT.keys)
_OVERLAY_KEYS = tuple(_spec.SETTINGS.keys)
_POLICIES: Mapping[str, Any] = {
    "retry": RetryPolicy, "breaker": BreakerPolicy, "limits": Limit, "quotas": Quota,
}  # fmt: skip
_STATE_SCHEMES = ("memory://", "redis://", "rediss://", "unix://")
_HEADER_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token


def _policy_keys(name: str) -> tuple[str, ...]:
    node = _spec.SETTINGS.keys[name]
    table = node.item if isinstance(node, _spec.ArrayOf) else node
    assert isinstance(table, _spec.Table)
    return tuple(table.keys)


class Validator:
    """One file: its text, where each key is, and the environment ``${VAR}`` reads."""

    def __init__(
        self,
        name: str,
        data: bytes,
        env: Mapping[str, str],
        *,
        overlay: str | None = None,
        collect: bool = False,
    ) -> None:
        self.name = name
        self.env = env
        # The [env.NAME] overlay to merge in: the argument, else $LLMSWITCH_ENV.
        self.selected = overlay if overlay is not None else env.get(OVERLAY_ENV) or None
        self._selected_by = "" if overlay is not None else f" (from ${OVERLAY_ENV})"
        # collect: gather every independent problem (config check) instead of the first.
        self.collect = collect
        self.problems: list[ConfigurationError] = []
        self._overlay: tuple[str, ...] = ()  # ("env", NAME) once an overlay is merged in
        # [storage], [keys], [config] as read (also when other sections have problems)
        self.platform_values: dict[str, Any] = {}
        try:
            self.text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ConfigurationError(f"{name}:{line}: the file is not valid UTF-8") from None
        self._lines: dict[tuple[str, ...], int] | None = None
        # interpolated value -> the text it came from ("${VAR}"), so errors never echo it
        self._interpolated: dict[str, str] = {}
        # where relative paths in [storage] and [keys] are taken from (set by load)
        self.directory = os.getcwd()
        # tables (as error keys) with a value already reported as out of bounds
        self._reported: list[str] = []

    # --------------------------------------------------------------- errors

    def line_of(self, path: tuple[str, ...]) -> int:
        if self._lines is None:
            self._lines = key_lines(self.text)
        for n in range(len(path), 0, -1):
            # A key the overlay sets is written in the overlay: its line wins.
            line = self._lines.get((*self._overlay, *path[:n])) if self._overlay else None
            if line is None:
                line = self._lines.get(path[:n])
            if line is not None:
                return line
        return 1

    def error(self, path: tuple[str, ...], problem: str) -> ConfigurationError:
        # array elements show as "deployments[1]", not "deployments.[1]"
        key = ".".join(_show_key(p) for p in path).replace(".[", "[")
        for value, raw in sorted(self._interpolated.items(), key=lambda i: -len(i[0])):
            # A value from the environment may be a secret in the wrong place.
            problem = problem.replace(repr(value), f"the value of {raw}")
            if len(value) >= 8:
                problem = problem.replace(value, "***")
        return ConfigurationError(f"{self.name}:{self.line_of(path)}: {key}: {problem}", field=key)

    # --------------------------------------------------------------- parse

    def report(self, problem: ConfigurationError) -> None:
        """Raise ``problem``, or keep it and carry on when collecting."""
        if not self.collect:
            raise problem
        if not self._already_reported(problem):
            self.problems.append(problem)

    def unit(self, fn: Callable[..., T], *args: Any, default: Any) -> T:
        """``fn(*args)``: one part of the file that can fail on its own. When collecting,
        its error is kept and ``default`` stands in, so the rest is still checked."""
        if not self.collect:
            return fn(*args)
        try:
            return fn(*args)
        except ConfigurationError as exc:
            if not self._already_reported(exc):
                self.problems.append(exc)
            return cast(T, default)

    def check(self, file: Path, *, files: bool = False) -> list[ConfigurationError]:
        """Every problem found (empty: the file loads), in file order. ``files``: also
        whether the files the settings name exist here (``config check``: the key file
        of ``kek = "local:PATH"``)."""
        self.collect = True
        try:
            self.load(file)
        except ConfigurationError as exc:
            if not any(exc is p for p in self.problems):  # one that stops the reading (syntax)
                self.problems.append(exc)
        kek = self.platform_values.get("kek")
        if files and isinstance(kek, str):
            missing = key_file_problem(kek)
            if missing is not None:
                self.problems.append(self.error(("keys", "kek"), missing))
        return sorted(self.problems, key=self._line_of_problem)

    def _line_of_problem(self, exc: ConfigurationError) -> int:
        m = re.match(re.escape(self.name) + r":(\d+):", str(exc))
        return int(m.group(1)) if m else 0

    def parse(self) -> dict[str, Any]:
        try:
            doc = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(self.syntax_error(str(exc))) from None
        except RecursionError:  # tomllib recurses per level of inline table or array
            raise ConfigurationError(
                f"{self.name}: invalid TOML: tables or arrays nested too deeply "
                f"(at most {MAX_DEPTH} levels)"
            ) from None
        deep = check_depth(doc)
        if deep is not None:
            raise self.error(deep, f"nested deeper than {MAX_DEPTH} levels")
        return doc

    def bounded(self, doc: dict[str, Any]) -> None:
        """Every number the description of the file (``_spec``) bounds, checked against
        its bounds: finite and at most its maximum, here for the whole file (overlays
        too), its lower bound where the section is read. When collecting, each bad
        value is reported and dropped, and the rest of its table is not reported on
        (within one table, the first problem), so all of them show in one run."""
        found: list[tuple[tuple[str, ...], dict[str, Any], str]] = []
        walk_bounds(_spec.ROOT, doc, (), None, found)
        found.sort(key=lambda f: self.line_of(f[0]))
        for path, parent, problem in found:
            error = self.error(path, problem)
            if not self.collect:
                raise error
            self.problems.append(error)
            del parent[path[-1]]
            self._reported.append(self.error(path[:-1], "").field or "")

    def _already_reported(self, problem: ConfigurationError) -> bool:
        where = problem.field or ""
        return any(where == t or where.startswith((f"{t}.", f"{t}[")) for t in self._reported if t)

    def load(self, file: Path) -> Config:
        # Relative paths in [storage] and [keys] are taken from here.
        self.directory = str(file.resolve().parent)
        doc = self.parse()
        self.bounded(doc)
        for key in list(doc):
            if key not in _TOP_LEVEL_KEYS:
                del doc[key]
                self.report(
                    self.error(
                        (key,), f"unknown setting (expected one of {', '.join(_TOP_LEVEL_KEYS)})"
                    )
                )
        doc = self.overlaid(doc)
        providers_raw = self.unit(self.table, doc, ("providers",), default={})
        providers: dict[str, ProviderConfig] = {}
        for pid in providers_raw:
            found = self.unit(self._provider_at, providers_raw, pid, default=None)
            if found is not None:
                providers[pid] = found
        before = len(self.problems)
        aliases = self.unit(self._aliases_at, doc, default={})
        models: dict[str, ModelGroup] = {}
        # Groups read providers and aliases: after a problem there, they would only
        # repeat it in other words.
        if len(self.problems) == before and len(providers) == len(providers_raw):
            models_raw = self.unit(self.table, doc, ("models",), default={})
            for name in models_raw:
                group = self.unit(
                    self._group_at, models_raw, name, aliases, providers, default=None
                )
                if group is not None:
                    models[name] = group
        extra: dict[str, Any] = {}
        if any(key in doc for key in _RESILIENCE_KEYS):
            extra = self.resilience(doc)
        if "budgets" in doc or "alerts" in doc:
            from ._budgets import read_budgets

            extra.update(read_budgets(self, doc))
        if "usage" in doc:
            from ._usage import read_usage

            extra.update(read_usage(self, doc))
        if "catalog" in doc:
            from ._catalog import read_catalog

            extra.update(read_catalog(self, doc))
        if "cache" in doc:
            from ._cache import read_cache

            extra.update(read_cache(self, doc))
        if "gateway" in doc:
            raw = self.unit(self.plain, _spec.GATEWAY, doc, ("gateway",), default=None)
            if raw:
                extra["gateway"] = MappingProxyType(dict(raw))
        self.platform_values = self.platform(doc)
        extra.update(self.platform_values)
        if self.problems:
            raise self.problems[0]
        return Config(
            providers=providers, aliases=aliases, models=models, path=file.resolve(),
            overlay=self._overlay[1] if self._overlay else None,
            masked=tuple(Secret(v) for v in self._interpolated), **extra,
        )  # fmt: skip

    def _provider_at(self, raw: Mapping[str, Any], pid: str) -> ProviderConfig:
        return self.provider(pid, self.table(raw, ("providers", pid)))

    def _aliases_at(self, doc: Mapping[str, Any]) -> dict[str, str]:
        return self.aliases(self.table(doc, ("aliases",)))

    def _group_at(
        self,
        raw: Mapping[str, Any],
        name: str,
        aliases: Mapping[str, str],
        providers: dict[str, ProviderConfig],
    ) -> ModelGroup:
        return self.group(name, self.table(raw, ("models", name)), aliases, providers)

    # --------------------------------------------------------------- overlays

    def overlaid(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` without ``[env]``, the selected ``[env.NAME]`` merged over it: tables
        merge key by key, arrays and scalars replace."""
        envs = doc.pop("env", {})
        if not isinstance(envs, dict):
            raise self.error(
                ("env",), f"expected a table of [env.NAME] tables, got {type_name(envs)}"
            )
        for name, overlay in envs.items():
            if not isinstance(overlay, dict):
                raise self.error(("env", name), f"expected a table, got {type_name(overlay)}")
            for key in overlay:
                if key not in _OVERLAY_KEYS:
                    self.report(
                        self.error(
                            ("env", name, key),
                            f"unknown setting (expected one of {', '.join(_OVERLAY_KEYS)})",
                        )
                    )
        if self.selected is None:
            return doc
        if self.selected not in envs:
            defined = ", ".join(envs) if envs else "none"
            raise self.error(
                ("env",),
                f"overlay {self.selected!r}{self._selected_by} is not defined in this file "
                f"(defined: {defined})",
            )
        self._overlay = ("env", self.selected)
        return _merge(doc, envs[self.selected])

    # --------------------------------------------------------------- storage, keys, config

    def platform(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        storage = self.unit(self.plain, _spec.STORAGE, doc, ("storage",), default={})
        url = storage.get("database_url")
        if url:  # "${LLMSWITCH_DATABASE_URL:-}" -> the default
            # The storage layer's own check of the URL (it masks any password).
            from ..storage.sql._url import rebase_sqlite_url, resolve_database_url

            where = ("storage", "database_url")
            try:
                resolve_database_url(url, {}, field="database_url")
            except ConfigurationError as exc:
                self.report(self.error(where, str(exc).removeprefix("database_url: ")))
            else:
                # sqlite:///keys.db is the file next to this one, wherever the process runs
                out["database_url"] = rebase_sqlite_url(url, self.directory)
        keys = self.unit(self.plain, _spec.KEYS, doc, ("keys",), default={})
        kek = keys.get("kek")
        if kek:
            problem = kek_problem(kek)
            if problem is not None:
                self.report(self.error(("keys", "kek"), problem))
            else:
                out["kek"] = rebase_key_file(kek, self.directory)
        for key, name in (("require_user_keys", "require_user_keys"),
                          ("cache_ttl", "key_cache_ttl"), ("refresh", "key_refresh")):  # fmt: skip
            if key in keys:
                out[name] = keys[key]
        settings = self.unit(self.plain, _spec.CONFIG, doc, ("config",), default={})
        if "watch" in settings:
            out["watch"] = settings["watch"]
        return out

    def plain(
        self, spec: _spec.Table, parent: Mapping[str, Any], where: tuple[str, ...]
    ) -> dict[str, Any]:
        """A table of scalars, checked against its description in ``_spec``."""
        raw = self.table(parent, where)
        self.known(raw, where, tuple(spec.keys))
        out: dict[str, Any] = {}
        for key, value in raw.items():
            node = spec.keys[key]
            assert isinstance(node, _spec.Value)
            out[key] = self.scalar(node, value, (*where, key))
        return out

    def scalar(self, spec: _spec.Value, value: Any, path: tuple[str, ...]) -> Any:
        if spec.type == "string":
            text = self.string(value, path)
            if spec.enum and text not in spec.enum:
                raise self.error(path, f"must be one of {', '.join(spec.enum)}")
            return text
        if spec.type == "boolean":
            if not isinstance(value, bool):
                raise self.error(path, f"expected true or false, got {type_name(value)}")
            return value
        number = (
            isinstance(value, int) if spec.type == "integer" else isinstance(value, int | float)
        )
        if isinstance(value, bool) or not number:
            wanted = "an integer" if spec.type == "integer" else "a number"
            raise self.error(path, f"expected {wanted}, got {type_name(value)}")
        if spec.exclusive_minimum is not None and not value > spec.exclusive_minimum:
            raise self.error(path, f"must be > {spec.exclusive_minimum:g}")
        if spec.minimum is not None and not value >= spec.minimum:
            raise self.error(path, f"must be >= {spec.minimum:g}")
        return float(value) if spec.type == "number" else value

    # --------------------------------------------------------------- resilience

    def resilience(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "state" in doc:
            out.update(self.unit(self._state, doc, default={}))
        if "queue" in doc:
            out.update(self.unit(self._queue, doc, default={}))
        for name in ("retry", "breaker"):
            if name in doc:
                policy = self.unit(
                    self.built, _POLICIES[name], doc, (name,), _policy_keys(name), default=None
                )
                if policy is not None:
                    out[name] = policy
        for name in ("limits", "quotas"):
            items = doc.get(name)
            if items is None:
                continue
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                self.report(self.error((name,), f"expected an array of tables [[{name}]]"))
                continue
            built = [
                self.unit(
                    self.built,
                    _POLICIES[name],
                    {f"[{i}]": item},
                    (name, f"[{i}]"),
                    _policy_keys(name),
                    default=None,
                )
                for i, item in enumerate(items)
            ]
            out[name] = tuple(b for b in built if b is not None)
        return out

    def _state(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        state = self.table(doc, ("state",))
        self.known(state, ("state",), tuple(_spec.STATE.keys))
        url = self.string(state.get("url", "memory://"), ("state", "url"))
        if not url.startswith(_STATE_SCHEMES):
            # Not echoed: a Redis URL may carry a password.
            raise self.error(
                ("state", "url"), "must be memory:// or redis://host:port/db (or rediss://)"
            )
        out["state"] = url
        if "secret" in state:
            secret = self.string(state["secret"], ("state", "secret"))
            if secret:  # "${LLMSWITCH_STATE_SECRET:-}" -> the store's own secret
                out["state_secret"] = Secret(secret)
        return out

    def _queue(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        queue = self.table(doc, ("queue",))
        self.known(queue, ("queue",), tuple(_spec.QUEUE.keys))
        wait = queue.get("max_wait", 10)
        if isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 0:
            raise self.error(("queue", "max_wait"), "must be a number of seconds >= 0")
        return {"max_wait": float(wait)}

    def known(self, raw: Mapping[str, Any], where: tuple[str, ...], keys: tuple[str, ...]) -> None:
        for key in raw:
            if key not in keys:
                raise self.error(
                    (*where, key), f"unknown setting (expected one of {', '.join(keys)})"
                )

    def built(
        self, cls: Any, parent: Mapping[str, Any], where: tuple[str, ...], keys: tuple[str, ...]
    ) -> Any:
        """``cls(**table)``, its own validation errors re-raised with file:line:key."""
        raw = self.table(parent, where)
        self.known(raw, where, keys)
        if cls is Limit and "scope" not in raw:
            raise self.error(
                where, "a limit needs scope = 'provider', 'deployment', 'user' or 'key'"
            )
        try:
            return cls(**raw)
        except ConfigurationError as exc:
            key = exc.field if exc.field in raw else None
            raise self.error((*where, key) if key else where, str(exc)) from None

    def syntax_error(self, message: str) -> str:
        # tomllib (3.11) only puts the position in the message: "... (at line 3, column 7)".
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if m:
            where = f"{m.group(1)}:{m.group(2)}"
        elif (m := re.search(r"\s*\(at end of document\)$", message)) is not None:
            where = str(self.text.count("\n") + 1)
        else:
            return f"{self.name}: invalid TOML: {message}"
        return f"{self.name}:{where}: invalid TOML: {message[: m.start()]}"

    def table(self, parent: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
        value = parent.get(path[-1], {})
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, got {type_name(value)}")
        return value

    def string(self, value: Any, path: tuple[str, ...]) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"expected a string, got {type_name(value)}")
        return self.interpolate(value, path)

    def interpolate(self, value: str, path: tuple[str, ...]) -> str:
        try:
            return interpolate(value, self.env, self._interpolated)
        except ValueError as exc:
            raise self.error(path, str(exc)) from None

    def provider(self, pid: str, raw: Mapping[str, Any]) -> ProviderConfig:
        where = ("providers", pid)
        if not PROVIDER_ID.fullmatch(pid):
            raise self.error(where, "provider id must be letters, digits, '_', '-' or '.' (no '/')")
        for key in raw:
            if key not in _PROVIDER_KEYS:
                raise self.error(
                    (*where, key),
                    f"unknown provider setting (expected one of {', '.join(_PROVIDER_KEYS)})",
                )
        values = {k: self.string(raw[k], (*where, k)) for k in _STRING_KEYS if k in raw}

        kind = values.get("kind")
        kinds = _KINDS
        if kind is not None and kind not in kinds:
            raise self.error(
                (*where, "kind"), f"unknown kind {kind!r} (expected one of {', '.join(kinds)})"
            )
        effective = kind or registry.builtin_kind(pid)
        if effective is None:
            raise self.error(
                where,
                f"'{pid}' is not a built-in provider ({', '.join(registry.builtin_ids())}): "
                f"set kind (one of {', '.join(kinds)})",
            )
        fim = _spec.PROVIDER.keys["fim"]
        if "fim" in values and isinstance(fim, _spec.Value) and values["fim"] not in fim.enum:
            raise self.error((*where, "fim"), f"must be one of {', '.join(fim.enum)}")
        for key, kinds in _KEY_KINDS.items():
            if key in values and effective not in kinds:
                raise self.error(
                    (*where, key), f"only applies to kind {' or '.join(map(repr, kinds))}"
                )
        if effective == "vertex" and ("api_key" in raw or "keys" in raw):
            raise self.error(
                (*where, "api_key" if "api_key" in raw else "keys"),
                "kind 'vertex' authenticates with Google credentials (credentials_file or "
                "GOOGLE_APPLICATION_CREDENTIALS), not API keys",
            )

        base_url = values.get("base_url") or None
        if base_url is not None:
            if not is_http_url(base_url):
                # Not echoed: a URL may carry credentials (https://user:pass@host).
                raise self.error((*where, "base_url"), "must be an http:// or https:// URL")
        elif effective == "openai-compatible":
            raise self.error(where, "kind 'openai-compatible' needs base_url")

        api_key = values.get("api_key")
        keys: tuple[Secret, ...] = ()
        if "keys" in raw:
            if "api_key" in raw:
                raise self.error((*where, "keys"), "set api_key or keys (a key pool), not both")
            items = raw["keys"]
            if not isinstance(items, list) or not items:
                raise self.error((*where, "keys"), "expected a non-empty array of strings")
            # "${KEY:-}" -> no key, as for api_key
            found = [self.string(k, (*where, "keys")) for k in items]
            found = [k for k in found if k]
            keys = tuple(Secret(k) for k in found)
            api_key = found[0] if keys else None  # the pool's first key builds the provider
        strategy = "round-robin"
        if "key_strategy" in raw:
            strategy = self.string(raw["key_strategy"], (*where, "key_strategy"))
            if "keys" not in raw:
                raise self.error((*where, "key_strategy"), "only applies with keys = [...]")
            if strategy not in _KEY_STRATEGIES:
                raise self.error(
                    (*where, "key_strategy"),
                    f"unknown strategy {strategy!r} (expected one of {', '.join(_KEY_STRATEGIES)})",
                )
        policy = "fail_open"
        if "on_state_error" in raw:
            policy = self.string(raw["on_state_error"], (*where, "on_state_error"))
            if "keys" not in raw:
                raise self.error((*where, "on_state_error"), "only applies with keys = [...]")
            if policy not in ("fail_open", "fail_closed"):
                raise self.error((*where, "on_state_error"), "must be 'fail_open' or 'fail_closed'")
        return ProviderConfig(
            id=pid,
            kind=kind,
            base_url=base_url,
            api_key=Secret(api_key) if api_key else None,  # "${KEY:-}" -> no key
            api_version=values.get("api_version") or None,
            organization=values.get("organization") or None,
            project=values.get("project") or None,
            location=values.get("location") or None,
            # Relative to the file, like [keys] kek = local:PATH.
            credentials_file=rebase_path(values.get("credentials_file"), self.directory),
            fim=values.get("fim") or None,
            headers=self.headers(raw.get("headers", {}), (*where, "headers")),
            timeout=self.timeout(raw["timeout"], (*where, "timeout")) if "timeout" in raw else None,
            keys=keys,
            key_strategy=strategy,
            on_state_error=policy,
            source=self.source(where),
        )

    def headers(self, raw: Any, path: tuple[str, ...]) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise self.error(path, f"expected a table of strings, got {type_name(raw)}")
        out: dict[str, str] = {}
        for name, value in raw.items():
            if not _HEADER_RE.fullmatch(name):
                raise self.error((*path, name), "not a valid HTTP header name")
            out[name] = self.string(value, (*path, name))
            if "\n" in out[name] or "\r" in out[name]:
                raise self.error((*path, name), "header value must be a single line")
        return out

    def timeout(self, raw: Any, path: tuple[str, ...]) -> Timeout:
        if isinstance(raw, dict):
            for key, value in raw.items():
                if key not in _TIMEOUT_KEYS:
                    raise self.error(
                        (*path, key),
                        f"unknown timeout setting (expected one of {', '.join(_TIMEOUT_KEYS)})",
                    )
                if not _positive_number(value):
                    raise self.error((*path, key), "must be a number of seconds > 0")
        elif not _positive_number(raw):
            raise self.error(path, "must be seconds > 0 or a table of connect/first_token/total")
        try:
            return to_timeout(raw)
        except ConfigurationError as exc:  # its own bounds: placed, as every other problem
            raise self.error(path, str(exc)) from None

    def aliases(self, raw: Mapping[str, Any]) -> dict[str, str]:
        targets: dict[str, str] = {}
        for name, value in raw.items():
            where = ("aliases", name)
            if "/" in name or not name.strip():
                raise self.error(where, "an alias name must not be empty or contain '/'")
            target = self.string(value, where)
            if "/" in target:
                provider, _, model = target.partition("/")
                if not PROVIDER_ID.fullmatch(provider) or not model:
                    raise self.error(
                        where, f"target {target!r} is not of the form 'provider/model'"
                    )
            elif target not in raw:
                raise self.error(
                    where,
                    f"target {target!r} is neither 'provider/model' nor another alias",
                )
            targets[name] = target
        resolved: dict[str, str] = {}
        for name in targets:
            chain = [name]
            target = targets[name]
            while "/" not in target:
                if target in chain:
                    cycle = " -> ".join([*chain[chain.index(target) :], target])
                    raise self.error(("aliases", name), f"alias cycle: {cycle}")
                chain.append(target)
                target = targets[target]
            resolved[name] = target
        return resolved

    def group(
        self,
        name: str,
        raw: Mapping[str, Any],
        aliases: Mapping[str, str],
        providers: dict[str, ProviderConfig],
    ) -> ModelGroup:
        try:
            return derive_group(name, raw, self, aliases, providers)
        except GroupError as exc:
            raise self.error(exc.path, exc.problem) from None

    # --------------------------------------------------------------- what groups read

    def type_name(self, value: Any) -> str:
        return type_name(value)

    def source(self, path: tuple[str, ...]) -> str:
        return f"{self.name}:{self.line_of(path)}"


def _merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base``: tables merge recursively, anything else replaces."""
    out = dict(base)
    for key, value in overlay.items():
        below = out.get(key)
        out[key] = (
            _merge(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
        )
    return out


def _positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def type_name(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
             dict: "a table", list: "an array"}  # fmt: skip
    return names.get(type(value), "a date/time")


def _show_key(part: str) -> str:
    return part if re.fullmatch(r"[A-Za-z0-9_\-]+|\[\d+\]", part) else f'"{part}"'
